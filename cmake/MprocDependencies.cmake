# Finds mproc's dependencies. A missing one stops the configuration with a
# sentence that names the package to install.
#
# Native builds find them through pkg-config (Debian's -dev packages). The
# Windows cross build finds the same pkg-config names in the prefix that
# tools/build-win-deps.sh fills (the toolchain file points PKG_CONFIG_LIBDIR
# there).

# MSVC with vcpkg: the packages are found by header and library name instead
# of pkg-config, under the same target names (see appveyor.yml).
set(MPROC_DEPS_BY_NAME ${MSVC})

find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND AND NOT MPROC_DEPS_BY_NAME)
  message(FATAL_ERROR "pkg-config was not found: install the Debian package "
                      "pkg-config (or run tools/install-deps.sh).")
endif()

# mproc_find_by_name(<prefix> <header> <library names...>)
function(mproc_find_by_name prefix header)
  find_path(${prefix}_INCLUDE_DIR ${header} PATH_SUFFIXES apr-1 apr-1.0)
  find_library(${prefix}_LIBRARY NAMES ${ARGN})
  if(NOT ${prefix}_INCLUDE_DIR OR NOT ${prefix}_LIBRARY)
    message(FATAL_ERROR "${header} or its library (${ARGN}) was not found: "
                        "install it with vcpkg (see appveyor.yml).")
  endif()
  add_library(PkgConfig::${prefix} INTERFACE IMPORTED GLOBAL)
  target_include_directories(PkgConfig::${prefix} INTERFACE ${${prefix}_INCLUDE_DIR})
  target_link_libraries(PkgConfig::${prefix} INTERFACE ${${prefix}_LIBRARY})
  set(${prefix}_FOUND TRUE PARENT_SCOPE)
endfunction()

if(CMAKE_CROSSCOMPILING AND WIN32)
  set(_mproc_hint "run tools/build-win-deps.sh and pass -DMPROC_WIN_DEPS=<its output>")
  set(ZLIB_USE_STATIC_LIBS ON)
endif()

# mproc_require(<prefix> <pkg-config module> <Debian package>)
function(mproc_require prefix module debian)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${prefix}_FOUND)
    if(_mproc_hint)
      message(FATAL_ERROR "${module} was not found for Windows: ${_mproc_hint}.")
    else()
      message(FATAL_ERROR "${module} was not found: install the Debian package "
                          "${debian} (or run tools/install-deps.sh).")
    endif()
  endif()
endfunction()

if(MPROC_DEPS_BY_NAME)
  mproc_find_by_name(MPROC_APR apr.h libapr-1 apr-1)
  target_link_libraries(PkgConfig::MPROC_APR INTERFACE ws2_32 rpcrt4 advapi32 shell32)
  mproc_find_by_name(MPROC_MSGPACK msgpack.h msgpack-c msgpackc)
  mproc_find_by_name(MPROC_SODIUM sodium.h libsodium sodium)
  if(MPROC_BUILD_TESTS)
    mproc_find_by_name(MPROC_CUNIT CUnit/CUnit.h cunit)
  endif()
  find_package(ZLIB REQUIRED)
  return()
endif()

mproc_require(MPROC_APR apr-1 libapr1-dev)
if(MPROC_APR_VERSION VERSION_LESS 1.7)
  message(FATAL_ERROR "APR ${MPROC_APR_VERSION} is too old: mproc needs APR 1.7 "
                      "(Debian package libapr1-dev from Debian 12 or later).")
endif()
mproc_require(MPROC_MSGPACK msgpack libmsgpack-dev)
mproc_require(MPROC_SODIUM libsodium libsodium-dev)
find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  if(_mproc_hint)
    message(FATAL_ERROR "zlib was not found for Windows: install the Debian "
                        "package libz-mingw-w64-dev.")
  endif()
  message(FATAL_ERROR "zlib was not found: install the Debian package zlib1g-dev.")
endif()
if(MPROC_BUILD_TESTS)
  mproc_require(MPROC_CUNIT cunit libcunit1-dev)
endif()
