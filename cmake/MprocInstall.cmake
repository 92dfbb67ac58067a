# Installs the library, its headers, a CMake package (find_package(mproc)
# gives mproc::mproc) and a pkg-config file (mproc.pc).
include(CMakePackageConfigHelpers)

install(TARGETS mproc EXPORT mprocTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  PATTERN "*.in" EXCLUDE)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/include/mproc/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mproc)
install(EXPORT mprocTargets NAMESPACE mproc::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mproc)
configure_package_config_file(cmake/mprocConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/mprocConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mproc)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/mprocConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mprocConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/mprocConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mproc)

if(BUILD_SHARED_LIBS)
  set(MPROC_PC_REQUIRES_PRIVATE "apr-1 msgpack libsodium zlib")
  set(MPROC_PC_REQUIRES "")
  set(MPROC_PC_CFLAGS "")
else()
  set(MPROC_PC_REQUIRES "apr-1 msgpack libsodium zlib")
  set(MPROC_PC_REQUIRES_PRIVATE "")
  set(MPROC_PC_CFLAGS "-DMPROC_STATIC")
endif()
# From <prefix>/<libdir>/pkgconfig back up to <prefix>.
file(RELATIVE_PATH MPROC_PC_UP
  ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
configure_file(cmake/mproc.pc.in ${CMAKE_CURRENT_BINARY_DIR}/mproc.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mproc.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
