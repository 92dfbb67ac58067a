# Packages of the installed tree (cmake/MprocInstall.cmake): a Debian package
# from the native build and a zip from the Windows (mingw-w64) build.
#
#   (cd build/native && cpack -G DEB)     libmproc-dev_<version>_<arch>.deb
#   (cd build/win64 && cpack -G ZIP)      mproc-<version>-win64.zip
#
# The version is project(VERSION), the one source (tests/check_versions.cmake
# checks that the recipes and the changelog agree with it).

set(CPACK_PACKAGE_NAME mproc)
set(CPACK_PACKAGE_VENDOR "mproc")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Python's multiprocessing for C, on Windows and Unix alike")
set(CPACK_PACKAGE_DESCRIPTION
  "mproc starts functions in child processes (spawn, fork, forkserver) and \
gives them Python's multiprocessing objects: queues, pipes, locks, \
semaphores, events, conditions and barriers, shared across processes. This \
package holds the library, its headers, a CMake package (find_package(mproc)) \
and a pkg-config file (mproc.pc).")
set(CPACK_PACKAGE_CONTACT "mproc maintainers <mproc@example.org>")
set(CPACK_RESOURCE_FILE_README ${PROJECT_SOURCE_DIR}/README.md)

if(WIN32)
  set(CPACK_GENERATOR ZIP)
  set(CPACK_SYSTEM_NAME win64)
  set(CPACK_PACKAGE_FILE_NAME "mproc-${PROJECT_VERSION}-win64")
  set(CPACK_INCLUDE_TOPLEVEL_DIRECTORY ON)
else()
  set(CPACK_GENERATOR DEB)
  # One package for development: the library with its headers, CMake package
  # and pkg-config file, as Debian's lib*-dev packages are.
  set(CPACK_DEBIAN_PACKAGE_NAME libmproc-dev)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CPACK_PACKAGE_CONTACT})
  set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
  set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
  set(CPACK_DEBIAN_PACKAGE_VERSION ${PROJECT_VERSION})
  set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
  # Both installed descriptions (mprocConfig.cmake and mproc.pc) name the
  # dependencies' pkg-config modules, so a program built against the package
  # needs their -dev packages whichever way the library was built; and APR
  # 1.7 is the oldest that mproc builds with (cmake/MprocDependencies.cmake).
  set(mproc_deb_dev_depends
    "libapr1-dev (>= 1.7), libmsgpack-dev, libsodium-dev, zlib1g-dev, pkg-config")
  find_program(MPROC_DPKG_SHLIBDEPS dpkg-shlibdeps)
  if(BUILD_SHARED_LIBS AND MPROC_DPKG_SHLIBDEPS)
    # The shared library's runtime dependencies (libapr1, libmsgpackc2,
    # libsodium23, zlib1g, libc6) are read from its ELF by dpkg-shlibdeps.
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
    set(CPACK_DEBIAN_PACKAGE_DEPENDS "${mproc_deb_dev_depends}")
  elseif(BUILD_SHARED_LIBS)
    set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libapr1, libmsgpackc2, libsodium23, zlib1g, ${mproc_deb_dev_depends}")
  else()
    # A static library has no ELF dependencies to read: whoever links it
    # links the dependencies too, through their -dev packages.
    set(CPACK_DEBIAN_PACKAGE_DEPENDS "${mproc_deb_dev_depends}")
  endif()
endif()

include(CPack)
