# Runs an example and checks its output against examples/expected/:
#   NAME.out      stdout, exactly
#   NAME.err      stderr, exactly
#   NAME.out.any  stdout, the same lines in any order (scheduler-dependent)
#   NAME.lines    stdout has each of these lines, among others, anywhere
#   NAME.regex    every line is a regular expression that some line of
#                 stdout must match, in this order (write "," for ";")
# Usage: cmake -DEXE=... -DEXPECT=<dir>/NAME [-DEMULATOR=wine] [-DARGS=a;b]
#              [-DEXIT_CODE=0] [-DSERVER=<exe>] -P RunExample.cmake
# With SERVER, that program runs first and its stdout feeds EXE's stdin
# (two programs that meet by what the first prints); both must exit with
# EXIT_CODE, and stdout is EXE's.

if(NOT DEFINED EXIT_CODE)
  set(EXIT_CODE 0)
endif()
if(SERVER)
  execute_process(COMMAND ${EMULATOR} ${SERVER}
    COMMAND ${EMULATOR} ${EXE} ${ARGS}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULTS_VARIABLE rcs
    TIMEOUT 120)
  list(REMOVE_DUPLICATES rcs)
  set(rc "${rcs}")
else()
  execute_process(COMMAND ${EMULATOR} ${EXE} ${ARGS}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
    TIMEOUT 120)
endif()
string(REPLACE "\r\n" "\n" out "${out}")
string(REPLACE "\r\n" "\n" err "${err}")
# CMake lists split on ";": compare lines with it turned into ",".
string(REPLACE ";" "," out_lines "${out}")
string(REPLACE "\n" ";" out_lines "${out_lines}")
set(failed FALSE)

function(report what want got)
  message("---- ${what}: expected ----\n${want}---- got ----\n${got}----")
  set(failed TRUE PARENT_SCOPE)
endfunction()

if(NOT rc STREQUAL "${EXIT_CODE}")
  message("exit code: expected ${EXIT_CODE}, got ${rc}")
  set(failed TRUE)
endif()
if(EXISTS ${EXPECT}.out)
  file(READ ${EXPECT}.out want)
  if(NOT out STREQUAL want)
    report("stdout" "${want}" "${out}")
  endif()
endif()
if(EXISTS ${EXPECT}.err)
  file(READ ${EXPECT}.err want)
  if(NOT err STREQUAL want)
    report("stderr" "${want}" "${err}")
  endif()
endif()
if(EXISTS ${EXPECT}.out.any)
  file(STRINGS ${EXPECT}.out.any want_lines)
  set(got_lines ${out_lines})
  list(FILTER got_lines EXCLUDE REGEX "^$")
  list(SORT want_lines)
  list(SORT got_lines)
  if(NOT want_lines STREQUAL got_lines)
    report("stdout (any order)" "${want_lines}\n" "${got_lines}\n")
  endif()
endif()
if(EXISTS ${EXPECT}.lines)
  file(STRINGS ${EXPECT}.lines want_lines)
  foreach(line IN LISTS want_lines)
    list(FIND out_lines "${line}" at)
    if(at EQUAL -1)
      report("stdout line" "${line}\n" "${out}")
    endif()
  endforeach()
endif()
if(EXISTS ${EXPECT}.regex)
  file(STRINGS ${EXPECT}.regex patterns)
  set(rest ${out_lines})
  foreach(p IN LISTS patterns)
    set(found FALSE)
    while(rest)
      list(POP_FRONT rest line)
      if(line MATCHES "${p}")
        set(found TRUE)
        break()
      endif()
    endwhile()
    if(NOT found)
      report("stdout line matching" "${p}\n" "${out}")
      break()
    endif()
  endforeach()
endif()
if(failed)
  message(FATAL_ERROR "example output differs (stderr was:\n${err})")
endif()
message("${out}${err}")
