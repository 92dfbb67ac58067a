# One version source: project(VERSION) in CMakeLists.txt. The files that
# cannot read it (the vcpkg manifests, the Conan recipe) and the changelog's
# latest release must say the same.
#
#   cmake -DVERSION=<PROJECT_VERSION> -DROOT=<source dir> -P check_versions.cmake
set(bad "")

foreach(manifest vcpkg.json ports/mproc/vcpkg.json)
  if(NOT EXISTS ${ROOT}/${manifest})
    string(APPEND bad "${manifest} is missing\n")
    continue()
  endif()
  file(READ ${ROOT}/${manifest} json)
  string(JSON v ERROR_VARIABLE err GET "${json}" version)
  if(err)
    string(JSON v ERROR_VARIABLE err GET "${json}" version-semver)
  endif()
  if(err)
    string(APPEND bad "${manifest} has no \"version\": ${err}\n")
  elseif(NOT v STREQUAL VERSION)
    string(APPEND bad "${manifest} says ${v}\n")
  endif()
endforeach()

# conanfile.py: the class attribute `version = "x.y.z"`.
file(STRINGS ${ROOT}/conanfile.py lines REGEX "^    version = ")
list(LENGTH lines n)
if(NOT n EQUAL 1)
  string(APPEND bad "conanfile.py has ${n} 'version = ' lines, not one\n")
elseif(NOT lines MATCHES "^    version = \"([^\"]*)\"")
  string(APPEND bad "conanfile.py's version is not a quoted string: ${lines}\n")
elseif(NOT CMAKE_MATCH_1 STREQUAL VERSION)
  string(APPEND bad "conanfile.py says ${CMAKE_MATCH_1}\n")
endif()

# CHANGELOG.md: the first "## [x.y.z]" heading after "## [Unreleased]".
file(STRINGS ${ROOT}/CHANGELOG.md headings REGEX "^## \\[")
set(latest "")
foreach(h IN LISTS headings)
  if(h MATCHES "^## \\[Unreleased\\]")
    continue()
  endif()
  if(h MATCHES "^## \\[([0-9]+\\.[0-9]+\\.[0-9]+)\\] - [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$")
    set(latest ${CMAKE_MATCH_1})
  else()
    string(APPEND bad "CHANGELOG.md has a heading not in the form "
                      "'## [x.y.z] - YYYY-MM-DD': ${h}\n")
  endif()
  break()
endforeach()
if(latest STREQUAL "")
  string(APPEND bad "CHANGELOG.md has no released entry\n")
elseif(NOT latest STREQUAL VERSION)
  string(APPEND bad "CHANGELOG.md's latest entry is ${latest}\n")
endif()

if(bad)
  message(FATAL_ERROR "the versions disagree with project(VERSION ${VERSION}):\n${bad}")
endif()
message("vcpkg.json, ports/mproc/vcpkg.json, conanfile.py and CHANGELOG.md say ${VERSION}")
