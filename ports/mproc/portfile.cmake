# An overlay port built from this checkout:
#   vcpkg install mproc --overlay-ports=<checkout>/ports
# A registry's port would fetch a release instead (vcpkg_from_github with the
# tag v${VERSION} and its SHA512); the options below stay the same.
#
# "supports" (vcpkg.json) is MSVC on Windows: there mproc finds its
# dependencies by header and library name (cmake/MprocDependencies.cmake).
# Elsewhere it asks pkg-config for the module "msgpack", which vcpkg's
# msgpack-c (6.x) names "msgpack-c".
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# BUILD_SHARED_LIBS follows the triplet's VCPKG_LIBRARY_LINKAGE (set by
# vcpkg_cmake_configure); the tests, examples, benchmarks and fuzz harnesses
# are not part of a package. MPROC_LOCK_GLIBC_FAST matters on glibc only.
vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DMPROC_BUILD_TESTS=OFF
    -DMPROC_BUILD_EXAMPLES=OFF
    -DMPROC_BUILD_BENCH=OFF
    -DMPROC_FUZZ=OFF
    -DMPROC_LOCK_GLIBC_FAST=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME mproc CONFIG_PATH lib/cmake/mproc)
vcpkg_fixup_pkgconfig()
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/include")
# The project has no licence file yet: the README stands in for it.
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/README.md")
