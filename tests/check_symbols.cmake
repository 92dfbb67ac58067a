cmake_minimum_required(VERSION 3.24)
# Every symbol the library defines for the outside carries the mproc_
# prefix, so it can never clash with a program's or another library's; and
# the shipped library holds none of the hooks that only test builds
# (MPROC_TESTING) compile in.
set(test_hooks mproc__queue_debug_ring mproc__conn_os mproc__forkserver_pid
               mproc__forkserver_path mproc__unix_tracker_pid)
execute_process(COMMAND ${NM} -g --defined-only ${LIB}
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIB}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(bad "")
set(hooks "")
set(count 0)
foreach(l IN LISTS lines)
  # "<address> <type> <name>"; object headers and blank lines are skipped.
  if(l MATCHES "^[0-9a-fA-F]+ [A-Z] (.+)$")
    set(name "${CMAKE_MATCH_1}")
    math(EXPR count "${count} + 1")
    # Sanitizer builds add instrumentation symbols of their own, and
    # mingw-w64 adds .refptr.<name> indirections for our own globals.
    if(NOT name MATCHES "^(\\.refptr\\.)?_?mproc_" AND
       NOT name MATCHES "^__(odr_asan|asan|ubsan)")
      list(APPEND bad "${name}")
    endif()
    if(name MATCHES "^(\\.refptr\\.)?_?(mproc_.*)$")
      if(CMAKE_MATCH_2 IN_LIST test_hooks)
        list(APPEND hooks "${name}")
      endif()
    endif()
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "no symbols found in ${LIB}")
endif()
if(bad)
  string(REPLACE ";" "\n" bad "${bad}")
  message(FATAL_ERROR "symbols without the mproc_ prefix:\n${bad}")
endif()
if(hooks)
  string(REPLACE ";" "\n" hooks "${hooks}")
  message(FATAL_ERROR "test-only hooks in the shipped library:\n${hooks}")
endif()
message("${count} exported symbols, all prefixed mproc_")
