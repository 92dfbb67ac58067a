# Builds the Windows zip of the build tree (cpack -G ZIP) and checks that it
# holds the library, its headers, the CMake package and the pkg-config file,
# under one top directory named after the version.
#
#   cmake -DBUILD=<build dir> -DCPACK=<cpack> -DVERSION=<x.y.z> -DSHARED=<bool>
#         -DWORK=<scratch dir> -P check_zip.cmake
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CPACK} -G ZIP --config ${BUILD}/CPackConfig.cmake
                        -B ${WORK}/pkg
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack -G ZIP failed (${rc}):\n${out}")
endif()
set(zip ${WORK}/pkg/mproc-${VERSION}-win64.zip)
if(NOT EXISTS ${zip})
  message(FATAL_ERROR "cpack made no ${zip}:\n${out}")
endif()
message("package: ${zip}")
file(ARCHIVE_EXTRACT INPUT ${zip} DESTINATION ${WORK}/root)
set(top ${WORK}/root/mproc-${VERSION}-win64)
if(SHARED)
  set(library bin/libmproc.dll lib/libmproc.dll.a)
else()
  set(library lib/libmproc.a)
endif()
foreach(file include/mproc.h include/mproc/version.h ${library}
             lib/cmake/mproc/mprocConfig.cmake
             lib/cmake/mproc/mprocConfigVersion.cmake
             lib/cmake/mproc/mprocTargets.cmake lib/pkgconfig/mproc.pc)
  if(NOT EXISTS ${top}/${file})
    file(GLOB_RECURSE held RELATIVE ${WORK}/root ${WORK}/root/*)
    string(REPLACE ";" "\n" held "${held}")
    message(FATAL_ERROR "the zip holds no ${file}; it holds:\n${held}")
  endif()
endforeach()
file(STRINGS ${top}/lib/pkgconfig/mproc.pc pc_version REGEX "^Version:")
if(NOT pc_version STREQUAL "Version: ${VERSION}")
  message(FATAL_ERROR "the zip's mproc.pc says '${pc_version}', not ${VERSION}")
endif()
