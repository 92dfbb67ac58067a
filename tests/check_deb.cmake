# Builds the Debian package of the build tree (cpack -G DEB), checks its
# control fields and its files, unpacks it into a scratch root with dpkg -x
# (the machine's own dpkg database is never touched), then builds and runs
# the consumer against that root with find_package(mproc) and with
# pkg-config (tests/check_consumer.cmake).
#
#   cmake -DBUILD=<build dir> -DCPACK=<cpack> -DVERSION=<x.y.z> -DSHARED=<bool>
#         -DSOURCE=<tests/consumer> -DWORK=<scratch dir> -DGENERATOR=<gen>
#         -P check_deb.cmake
file(REMOVE_RECURSE ${WORK})
find_program(DPKG_DEB dpkg-deb)
if(NOT DPKG_DEB)
  message(FATAL_ERROR "dpkg-deb was not found: install the Debian package "
                      "dpkg-dev (or run tools/install-deps.sh).")
endif()

execute_process(COMMAND ${CPACK} -G DEB --config ${BUILD}/CPackConfig.cmake
                        -B ${WORK}/pkg
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack -G DEB failed (${rc}):\n${out}")
endif()
file(GLOB debs ${WORK}/pkg/*.deb)
list(LENGTH debs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "cpack made ${n} .deb files, not one: ${debs}\n${out}")
endif()
message("package: ${debs}")

# field(<name> <var>): one control field of the package.
function(field name var)
  execute_process(COMMAND ${DPKG_DEB} -f ${debs} ${name}
    OUTPUT_VARIABLE value OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dpkg-deb -f ${name} failed on ${debs}")
  endif()
  set(${var} "${value}" PARENT_SCOPE)
endfunction()
field(Package package)
field(Version version)
field(Depends depends)
field(Maintainer maintainer)
field(Description description)
message("Package: ${package}\nVersion: ${version}\nDepends: ${depends}")
if(NOT package STREQUAL "libmproc-dev")
  message(FATAL_ERROR "the package is named '${package}', not libmproc-dev")
endif()
if(NOT version MATCHES "^${VERSION}(-[0-9]+)?$")
  message(FATAL_ERROR "the package's version '${version}' is not the "
                      "project's ${VERSION}")
endif()
if(maintainer STREQUAL "" OR description STREQUAL "")
  message(FATAL_ERROR "the package has no Maintainer or no Description")
endif()
# What a program built against it needs: the dependencies' -dev packages,
# and for a shared library their runtime libraries too.
set(wanted libapr1-dev libmsgpack-dev libsodium-dev zlib1g-dev pkg-config)
if(SHARED)
  list(APPEND wanted libapr1 libmsgpackc2 libsodium23 zlib1g)
endif()
foreach(dep IN LISTS wanted)
  if(NOT depends MATCHES "(^|, )${dep}( |,|$)")
    message(FATAL_ERROR "the package does not depend on ${dep}: ${depends}")
  endif()
endforeach()

execute_process(COMMAND ${DPKG_DEB} -c ${debs} OUTPUT_VARIABLE listing)
if(SHARED)
  set(library "libmproc\\.so")
else()
  set(library "libmproc\\.a")
endif()
foreach(file "/usr/include/mproc\\.h" "/usr/include/mproc/version\\.h"
             "/usr/lib/([^/]+/)?${library}"
             "/usr/lib/([^/]+/)?cmake/mproc/mprocConfig\\.cmake"
             "/usr/lib/([^/]+/)?cmake/mproc/mprocConfigVersion\\.cmake"
             "/usr/lib/([^/]+/)?cmake/mproc/mprocTargets\\.cmake"
             "/usr/lib/([^/]+/)?pkgconfig/mproc\\.pc")
  if(NOT listing MATCHES "\\.${file}")
    message(FATAL_ERROR "the package holds no ${file}:\n${listing}")
  endif()
endforeach()
# Nothing built only for the tests is shipped.
if(listing MATCHES "mproc_testing|/bin/test_")
  message(FATAL_ERROR "the package holds test files:\n${listing}")
endif()

execute_process(COMMAND ${DPKG_DEB} -x ${debs} ${WORK}/root RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dpkg-deb -x ${debs} failed")
endif()
set(PREFIX ${WORK}/root/usr)
# A shared library unpacked under a scratch root is not where the loader
# looks (it would be, installed into /usr).
file(GLOB libdirs ${PREFIX}/lib ${PREFIX}/lib/*-linux-gnu)
string(REPLACE ";" ":" libdirs "${libdirs}")
set(ENV{LD_LIBRARY_PATH} "${libdirs}")
set(WORK ${WORK}/consumer)
include(${CMAKE_CURRENT_LIST_DIR}/check_consumer.cmake)
