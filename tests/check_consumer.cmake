# Installs the built library into a scratch prefix, then builds and runs a
# consumer against it twice: with find_package(mproc) and with pkg-config.
# With PREFIX set (tests/check_deb.cmake), the library is already installed
# there and only the consumer is built.
if(NOT PREFIX)
  file(REMOVE_RECURSE ${WORK})
  set(prefix ${WORK}/prefix)
else()
  set(prefix ${PREFIX})
endif()
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
  message("${out}")
endfunction()

if(NOT PREFIX)
  run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix})
endif()
run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/cmake -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK}/cmake)
run(${WORK}/cmake/consumer)

find_program(PKG_CONFIG pkg-config REQUIRED)
find_program(CC NAMES cc gcc REQUIRED)
file(GLOB pcdir ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs mproc
  OUTPUT_VARIABLE flags RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know the installed mproc")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${CC} -std=c99 -o ${WORK}/consumer_pc ${SOURCE}/main.c ${flags})
run(${WORK}/consumer_pc)
