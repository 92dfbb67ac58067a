# Checks that a test binary's --list is what tests/CMakeLists.txt read from
# its source: a test the reader missed would otherwise never run.
#   cmake -DEXE=<test binary> -DWANT=<expected list file> -P check_test_list.cmake
execute_process(COMMAND ${EXE} --list RESULT_VARIABLE rc OUTPUT_VARIABLE got)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --list failed (${rc})")
endif()
file(READ ${WANT} want)
string(REPLACE "\r\n" "\n" got "${got}")
if(NOT got STREQUAL want)
  message(FATAL_ERROR "${EXE} --list differs from what tests/CMakeLists.txt "
    "read from the source:\n--- read:\n${want}--- listed:\n${got}")
endif()
