# CMake toolchain file: cross-compile for 64-bit Windows (x86_64-w64-mingw32) with
# Debian's mingw-w64 (GCC 12, "win32" thread model, links msvcrt.dll) and run the
# resulting .exe files (ctest, try_run, custom commands) under Wine.
#
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
#         -DMPROC_WIN_DEPS="$(tools/build-win-deps.sh)"
#   . tools/wine-env.sh && ctest --test-dir build-win; mproc_wine_stop
#
# MPROC_WIN_DEPS (cache variable, or else the environment variable of that name) is
# the prefix made by tools/build-win-deps.sh: static APR, CUnit, msgpack-c and
# libsodium, each with a .pc file.  zlib comes from Debian's libz-mingw-w64-dev.

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(MPROC_MINGW_TRIPLET x86_64-w64-mingw32)
set(MPROC_MINGW_SYSROOT /usr/${MPROC_MINGW_TRIPLET})

set(CMAKE_C_COMPILER   ${MPROC_MINGW_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${MPROC_MINGW_TRIPLET}-g++)
set(CMAKE_RC_COMPILER  ${MPROC_MINGW_TRIPLET}-windres)

# list(APPEND) unless already there.  list(FIND), not if(IN_LIST): projects with an
# old cmake_minimum_required() (APR says 2.8) run this file with CMP0057 unset.
macro(_mproc_append_once _list _item)
  list(FIND ${_list} "${_item}" _mproc_idx)
  if(_mproc_idx EQUAL -1)
    list(APPEND ${_list} "${_item}")
  endif()
endmacro()

# --- the deps prefix ---------------------------------------------------------------
# This file is read again for every try_compile() project, which sees neither the
# outer cache nor the outer variables: CMAKE_TRY_COMPILE_PLATFORM_VARIABLES hands
# MPROC_WIN_DEPS on, and the environment variable (set below, inherited in-process
# and by child cmake runs) covers anything else.
if(NOT MPROC_WIN_DEPS AND DEFINED ENV{MPROC_WIN_DEPS})
  set(MPROC_WIN_DEPS "$ENV{MPROC_WIN_DEPS}")
endif()
if(MPROC_WIN_DEPS)
  if(NOT IS_DIRECTORY "${MPROC_WIN_DEPS}")
    message(FATAL_ERROR "MPROC_WIN_DEPS='${MPROC_WIN_DEPS}' is not a directory; "
                        "make it with tools/build-win-deps.sh")
  endif()
  set(MPROC_WIN_DEPS "${MPROC_WIN_DEPS}" CACHE PATH
      "Prefix holding the static Windows deps (output of tools/build-win-deps.sh)")
  set(ENV{MPROC_WIN_DEPS} "${MPROC_WIN_DEPS}")
endif()
_mproc_append_once(CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MPROC_WIN_DEPS)

# --- where find_*() look ---------------------------------------------------------------
# Target headers and libraries only from the mingw sysroot and the deps prefix;
# programs (pkg-config, wine, ...) from the host.  The file is read more than once
# per configure, hence _mproc_append_once.
_mproc_append_once(CMAKE_FIND_ROOT_PATH "${MPROC_MINGW_SYSROOT}")
if(MPROC_WIN_DEPS)
  _mproc_append_once(CMAKE_FIND_ROOT_PATH "${MPROC_WIN_DEPS}")
  _mproc_append_once(CMAKE_PREFIX_PATH "${MPROC_WIN_DEPS}")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must see only the Windows .pc files: with the host's libmsgpack-dev or
# libsodium-dev installed it would otherwise find their .pc files, configure would
# "succeed" and the build would then fail on missing headers or link Linux libraries.
if(MPROC_WIN_DEPS)
  set(ENV{PKG_CONFIG_LIBDIR} "${MPROC_WIN_DEPS}/lib/pkgconfig:${MPROC_MINGW_SYSROOT}/lib/pkgconfig")
else()
  set(ENV{PKG_CONFIG_LIBDIR} "${MPROC_MINGW_SYSROOT}/lib/pkgconfig")
endif()
unset(ENV{PKG_CONFIG_PATH})
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# find_package(ZLIB) picks libz.a instead of the import library libz.dll.a, so the
# .exe does not need zlib1.dll (CMake >= 3.24).
set(ZLIB_USE_STATIC_LIBS ON)

# --- linking ----------------------------------------------------------------------------
# Fully static: no libgcc_s_seh-1.dll, libwinpthread-1.dll or libstdc++-6.dll next to
# the .exe (Wine, like Windows, fails silently with exit code 53 when a DLL is
# missing).  -static also makes a plain -lz pick libz.a over libz.dll.a.
set(CMAKE_EXE_LINKER_FLAGS_INIT    "-static -static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static -static-libgcc")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static -static-libgcc")

# --- running target programs -----------------------------------------------------
# ctest (add_test with a target name), try_run() and add_custom_command(COMMAND
# <target>) prefix the program with this.  Use tools/wine-env.sh to set up the prefix.
set(CMAKE_CROSSCOMPILING_EMULATOR wine)
