#!/usr/bin/env bash
# Cross-build mproc's third-party libraries for 64-bit Windows (x86_64-w64-mingw32),
# as static libraries, from Debian's source packages:
#
#   APR 1.7.2        CMake build, patched (cmake/patches/apr-1.7.2-mingw.patch)
#   CUnit 2.1-3      autotools, --disable-curses
#   msgpack-c 4.0.0  CMake
#   libsodium 1.0.18 autotools (Debian's source has no configure: autoreconf)
#   (zlib is not built: Debian's libz-mingw-w64-dev provides it)
#
# Usage:  prefix=$(tools/build-win-deps.sh)
#         cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
#               -DMPROC_WIN_DEPS="$prefix"
#
# stdout carries only the install prefix, ${MPROC_DEPS_CACHE:-$HOME/.cache/mproc}/win64-<key>.
# <key> hashes the four Debian source versions (their .dsc checksums), the mingw-w64
# toolchain versions, the APR patch, the toolchain file and this script, so a second
# run with the same inputs finds the prefix and returns at once.  The prefix is built
# in a temporary directory, staged in <prefix>.tmp and renamed into place, so it is
# either complete or absent.  Progress goes to stderr; each step's output to a log,
# whose tail is shown if the step fails.
#
# pkg-config modules in <prefix>/lib/pkgconfig: apr-1, cunit, msgpack, libsodium.
# apr-1 and libsodium carry the defines a static link needs (APR_DECLARE_STATIC,
# SODIUM_STATIC) and apr-1 the Windows system libraries APR uses.
#
# Needs: tools/install-deps.sh --windows (mingw-w64, wine, autotools, deb-src entry).
# Wine runs APR's gen_test_char.exe during the build (prefix from tools/wine-env.sh).
set -euo pipefail

# Only the prefix goes to the real stdout (fd 3); everything else to stderr.
exec 3>&1 1>&2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
patch_file="$root/cmake/patches/apr-1.7.2-mingw.patch"
toolchain="$root/cmake/mingw-w64-x86_64.cmake"
triplet=x86_64-w64-mingw32
cache="${MPROC_DEPS_CACHE:-$HOME/.cache/mproc}"
jobs=$(nproc 2>/dev/null || echo 2)

# Flags and tools meant for native builds must not reach the cross builds (nor
# would the cache key see them).
unset CC CXX CPP AR RANLIB CFLAGS CXXFLAGS CPPFLAGS LDFLAGS LIBS \
      PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR MPROC_WIN_DEPS

say() { echo "build-win-deps: $*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in "$triplet-gcc" "$triplet-ar" cmake make wine autoreconf libtoolize patch \
            pkg-config apt-get dpkg-source dpkg-query flock sha256sum; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found; run tools/install-deps.sh --windows"
done
[ -f "$patch_file" ] || die "missing $patch_file"
[ -f "$toolchain" ] || die "missing $toolchain"

# ---- cache key -------------------------------------------------------------------
# Debian source package -> upstream version the recipe below is written for.
declare -A want=([apr]=1.7.2 [cunit]=2.1-3-dfsg [msgpack-c]=4.0.0 [libsodium]=1.0.18)
srcpkgs=(apr cunit msgpack-c libsodium)

# `apt-get source --print-uris` names the .dsc that `apt-get source` would fetch
# (newest candidate, e.g. a security update) without downloading anything.
if ! uris=$(cd / && apt-get source --print-uris -qq "${srcpkgs[@]}" 2>&1); then
    printf '%s\n' "$uris" >&2
    die "'apt-get source --print-uris' failed: no deb-src entry or no source index? Run tools/install-deps.sh --windows"
fi
declare -A dsc_name dsc_sum version
for pkg in "${srcpkgs[@]}"; do
    line=$(awk -v p="$pkg" '$2 ~ ("^" p "_[^_]*\\.dsc$") {print $2, $4; exit}' <<<"$uris")
    [ -n "$line" ] || die "no source package '$pkg' found by apt-get source --print-uris"
    dsc_name[$pkg]=${line%% *}
    dsc_sum[$pkg]=${line#* }
    v=${dsc_name[$pkg]#"${pkg}_"}
    version[$pkg]=${v%.dsc}
    upstream=${version[$pkg]%-*}
    [ "$upstream" = "${want[$pkg]}" ] ||
        die "Debian offers $pkg ${version[$pkg]}, but this script is written for upstream ${want[$pkg]}"
done

key_inputs=$(
    for pkg in "${srcpkgs[@]}"; do echo "source ${dsc_name[$pkg]} ${dsc_sum[$pkg]}"; done
    gcc_path=$(readlink -f "$(command -v "$triplet-gcc")")   # win32 or posix flavour
    gcc_pkg=$(dpkg-query -S "$gcc_path" 2>/dev/null | cut -d: -f1 || true)
    dpkg-query -W -f='toolchain ${Package} ${Version}\n' mingw-w64-x86-64-dev \
        binutils-mingw-w64-x86-64 ${gcc_pkg:+"$gcc_pkg"} 2>/dev/null || true
    echo "gcc $("$triplet-gcc" -dumpfullversion) $gcc_path"
    echo "patch $(sha256sum <"$patch_file" | cut -c1-64)"
    echo "toolchain $(sha256sum <"$toolchain" | cut -c1-64)"
    echo "script $(sha256sum <"$self" | cut -c1-64)"
)
key=$(sha256sum <<<"$key_inputs" | cut -c1-16)
prefix="$cache/win64-$key"
manifest="share/mproc-deps/manifest.txt"

if [ -f "$prefix/$manifest" ]; then
    echo "$prefix" >&3
    exit 0
fi

# ---- build -----------------------------------------------------------------------
mkdir -p "$cache"
# One build at a time per cache: a second caller waits, then finds the prefix.
exec 9>"$cache/.build-win-deps.lock"
flock 9
if [ -f "$prefix/$manifest" ]; then
    echo "$prefix" >&3
    exit 0
fi

t_start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/mproc-win-deps.XXXXXX")
logs="$work/logs"
stage="$prefix.tmp"   # DESTDIR; same filesystem as $prefix, so the final mv is a rename
dest="$stage$prefix"  # where the installed tree lands inside the stage
mkdir -p "$logs" "$work/src" "$work/build"
rm -rf "$stage"
ok=0
# Build lanes (see below) still running when we exit early.
lanes=()
kill_lanes() {
    local pid
    for pid in "${lanes[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}
cleanup() {
    kill_lanes
    if [ "$ok" = 1 ]; then
        rm -rf "$work" "$stage"
    else
        rm -rf "$stage"
        say "failed; sources, build trees and logs kept in $work"
    fi
}
trap cleanup EXIT
say "building into $prefix (logs: $logs)"

# run LOG CMD...: output to $logs/LOG.log; on failure show its tail and stop.
# fds 3 (our stdout, often a $(...) pipe) and 9 (the lock) are closed for the command:
# wine's server, started by the APR build, lingers a few seconds after it and would
# keep the caller's $(...) waiting and the lock held.
run() {
    local log="$logs/$1.log"
    shift
    echo "+ $*" >>"$log"
    if ! "$@" </dev/null >>"$log" 2>&1 3>&- 9>&-; then
        say "step '$(basename "$log" .log)' failed: $*"
        say "---- last 40 lines of $log ----"
        tail -n 40 "$log" >&2
        exit 1
    fi
}
step_time() { say "$1 done ($(($(date +%s) - $2)) s)"; }

# Sources: apt-get source = download + dpkg-source -x, which applies Debian's patches
# (APR's only touch unix files; libsodium's carry a CVE fix; CUnit's are docs only).
# Pinned to the versions the key was computed from.
t=$(date +%s)
pins=()
for pkg in "${srcpkgs[@]}"; do pins+=("$pkg=${version[$pkg]}"); done
(cd "$work/src" && run apt-source apt-get source -q "${pins[@]}")
step_time "apt-get source (${version[apr]}, ${version[cunit]}, ${version[msgpack-c]}, ${version[libsodium]})" "$t"
src_apr="$work/src/apr-${want[apr]}"
src_cunit="$work/src/cunit-${want[cunit]}"
src_msgpack="$work/src/msgpack-c-${want[msgpack-c]}"
src_sodium="$work/src/libsodium-${want[libsodium]}"
for d in "$src_apr" "$src_cunit" "$src_msgpack" "$src_sodium"; do
    [ -d "$d" ] || die "expected source directory $d after apt-get source"
done

cmake_common=(-DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release
              -DCMAKE_INSTALL_PREFIX="$prefix" -DMPROC_WIN_DEPS=)

# The four builds run in two lanes, in parallel: the CMake lane (wine prefix, APR,
# msgpack-c) and the autotools lane (CUnit, libsodium).  Much of each lane is
# single-threaded (wineboot, configure scripts), so on 2 cores this saves ~25%.

# APR: the static library only (APR_BUILD_SHARED=OFF comes from the patch; without it
# `cmake --install` wants the DLL too, and building both compiles everything twice).
# The build runs gen_test_char.exe under wine, in the prefix tools/wine-env.sh makes.
build_apr() {
    local t
    t=$(date +%s)
    # shellcheck source=/dev/null
    { MPROC_WINE_NO_SERVER=1 . "$here/wine-env.sh"; } 3>&- 9>&- || die "wine prefix setup failed"
    run apr-patch patch -d "$src_apr" -p1 -i "$patch_file"
    run apr-configure cmake -S "$src_apr" -B "$work/build/apr" "${cmake_common[@]}" \
        -DAPR_BUILD_SHARED=OFF -DINSTALL_PDB=OFF -DAPR_BUILD_TESTAPR=OFF
    run apr-build cmake --build "$work/build/apr" -j "$jobs"
    DESTDIR="$stage" run apr-install cmake --install "$work/build/apr"
    step_time "APR ${version[apr]}" "$t"
}

# msgpack-c: C library only, static, no examples/tests.
build_msgpack() {
    local t
    t=$(date +%s)
    run msgpack-configure cmake -S "$src_msgpack" -B "$work/build/msgpack" "${cmake_common[@]}" \
        -DMSGPACK_ENABLE_SHARED=OFF -DMSGPACK_ENABLE_STATIC=ON \
        -DMSGPACK_BUILD_EXAMPLES=OFF -DMSGPACK_BUILD_TESTS=OFF
    run msgpack-build cmake --build "$work/build/msgpack" -j "$jobs"
    DESTDIR="$stage" run msgpack-install cmake --install "$work/build/msgpack"
    step_time "msgpack-c ${version[msgpack-c]}" "$t"
}

# CUnit: autoreconf like Debian does; the shipped configure is stale (says 2.1-2,
# passes -DRELEASE=@RELEASE@).  Built in the source tree, as Debian does: the tree
# holds a stale generated CUnit.h ("2.1-2") that an out-of-tree build would compile
# against, while installing the fresh one.  No ncurses on the target.
build_cunit() {
    local t
    t=$(date +%s)
    run cunit-autoreconf sh -c "cd '$src_cunit' && autoreconf -fi"
    run cunit-configure sh -c "cd '$src_cunit' && ./configure \
        --host=$triplet --prefix='$prefix' --enable-static --disable-shared \
        --disable-curses --disable-dependency-tracking"
    run cunit-build make -C "$src_cunit" -j "$jobs"
    run cunit-install make -C "$src_cunit" install DESTDIR="$stage"
    step_time "CUnit ${version[cunit]}" "$t"
}

# libsodium: autoreconf -fi, not ./autogen.sh (that one downloads config.guess/sub).
# _FORTIFY_SOURCE=0: configure adds =2 otherwise, and with mingw-w64 10 fortified
# code calls __memcpy_chk from libssp, which consumers would then have to link.
build_sodium() {
    local t
    t=$(date +%s)
    run sodium-autoreconf sh -c "cd '$src_sodium' && autoreconf -fi"
    mkdir -p "$work/build/sodium"
    run sodium-configure sh -c "cd '$work/build/sodium' && '$src_sodium/configure' \
        --host=$triplet --prefix='$prefix' --enable-static --disable-shared \
        --disable-dependency-tracking CPPFLAGS=-D_FORTIFY_SOURCE=0"
    run sodium-build make -C "$work/build/sodium" -j "$jobs"
    run sodium-install make -C "$work/build/sodium" install DESTDIR="$stage"
    step_time "libsodium ${version[libsodium]}" "$t"
}

# Each lane is a subshell: run/die end the lane, and the failure shows in its status.
# set -m puts each lane in its own process group, so that when one lane fails (or we
# are interrupted) the other one, with its make/configure children, can be stopped.
trap 'kill_lanes; exit 130' INT TERM
set -m
(build_apr; build_msgpack) 3>&- 9>&- &
lanes+=($!)
(build_cunit; build_sodium) 3>&- 9>&- &
lanes+=($!)
set +m
for _ in "${lanes[@]}"; do
    if ! wait -n; then
        kill_lanes
        wait || true
        exit 1
    fi
done
lanes=()

# ---- pkg-config files --------------------------------------------------------------
pcdir="$dest/lib/pkgconfig"
mkdir -p "$pcdir"
# APR's CMake build installs no .pc.  System libraries: ws2_32, mswsock and rpcrt4
# are APR's own list (APR_SYSTEM_LIBS); advapi32 and shell32 are used too (ACLs,
# CommandLineToArgvW) and mingw's gcc adds them by default, but other linkers do not.
# They go in Libs, not Libs.private: CMake's pkg_check_modules(IMPORTED_TARGET)
# reads --libs only, and every link of a static APR needs them.
cat >"$pcdir/apr-1.pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: APR
Description: The Apache Portable Runtime library (static, $triplet)
Version: ${want[apr]}
Libs: -L\${libdir} -lapr-1 -lws2_32 -lmswsock -lrpcrt4 -ladvapi32 -lshell32
Cflags: -I\${includedir} -DAPR_DECLARE_STATIC
EOF
# Static libsodium: SODIUM_STATIC drops the dllimport decoration (needed by MSVC and
# clang; harmless with gcc).
sed -i -E 's/^(Cflags:.*)$/\1 -DSODIUM_STATIC/' "$pcdir/libsodium.pc"
for pc in apr-1 cunit msgpack libsodium; do
    [ -f "$pcdir/$pc.pc" ] || die "$pc.pc was not installed"
    PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_SYSROOT_DIR='' pkg-config --exists "$pc" ||
        die "$pc.pc is not usable: $(PKG_CONFIG_LIBDIR="$pcdir" pkg-config --print-errors --exists "$pc" 2>&1)"
done
for lib in libapr-1.a libcunit.a libmsgpackc.a libsodium.a; do
    [ -f "$dest/lib/$lib" ] || die "$lib was not installed"
done
# libtool archives only record absolute build paths; nothing here needs them.
rm -f "$dest"/lib/*.la

# ---- manifest, logs, and the atomic move into place ----------------------------------
mkdir -p "$dest/share/mproc-deps"
cp -r "$logs" "$dest/share/mproc-deps/logs"
{
    echo "# made by tools/build-win-deps.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - t_start)) s"
    echo "key $key"
    printf '%s\n' "$key_inputs"
} >"$dest/$manifest"
rm -rf "$prefix"   # a leftover without manifest (cannot happen through this script)
mv "$dest" "$prefix"
ok=1
say "done in $(($(date +%s) - t_start)) s: $prefix"
echo "$prefix" >&3
