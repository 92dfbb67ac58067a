# mproc_warnings(<target>): the project's warning flags.
function(mproc_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /wd4100 /wd4996)
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
      -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter)
  endif()
endfunction()
