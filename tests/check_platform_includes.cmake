# The backends see the core only through mproc_os.h and mproc_services.h:
# never through src/mproc_private.h, which holds the core's protocols and
# objects. And every backend file includes its os_internal.h first, since
# that header holds the guard against the other OS (and, on Windows, sets
# _WIN32_WINNT before any C library header picks one).
file(GLOB files ${PLATFORM}/unix/*.c ${PLATFORM}/unix/*.h
                ${PLATFORM}/win32/*.c ${PLATFORM}/win32/*.h ${PLATFORM}/*.h)
if(NOT files)
  message(FATAL_ERROR "no sources found in ${PLATFORM}")
endif()
set(bad "")
foreach(f IN LISTS files)
  file(STRINGS ${f} includes REGEX "^[ \t]*#[ \t]*include")
  foreach(l IN LISTS includes)
    if(l MATCHES "mproc_private\\.h")
      list(APPEND bad "${f}: ${l}")
    endif()
  endforeach()
  if(f MATCHES "\\.c$")
    list(GET includes 0 first)
    if(NOT first MATCHES "\"os_internal\\.h\"")
      list(APPEND bad "${f}: first include is not os_internal.h: ${first}")
    endif()
  endif()
endforeach()
if(bad)
  string(REPLACE ";" "\n" bad "${bad}")
  message(FATAL_ERROR "platform/ reaches into the core:\n${bad}")
endif()
list(LENGTH files n)
message("${n} files in platform/ use only the contract and the services")
