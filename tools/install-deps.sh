#!/usr/bin/env bash
# Install the Debian packages needed to build and test mproc.
#
#   tools/install-deps.sh              native build (Linux)
#   tools/install-deps.sh --windows    also the mingw-w64 cross toolchain, Wine, and
#                                      what tools/build-win-deps.sh needs (deb-src, autotools)
#
# Idempotent and fast when everything is already there: packages are checked with
# dpkg-query first, and apt-get (update + install) runs only for what is missing.
# Works as root without a terminal (CI); otherwise it goes through sudo.
set -euo pipefail

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }

windows=0
for arg in "$@"; do
    case $arg in
        --windows) windows=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install-deps.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

# Never let dpkg/debconf ask a question: CI has no standard input.
export DEBIAN_FRONTEND=noninteractive

# clang and its runtimes (libFuzzer, ASan, UBSan): the fuzz harnesses;
# dpkg-dev: dpkg-shlibdeps for the Debian package (cpack -G DEB, install.deb);
# doxygen: the API reference (the `docs` target); graphviz: its include graphs;
# gnuplot-nox: bench/charts.py draws the benchmark figures (test bench.charts).
native_pkgs=(build-essential cmake pkg-config libapr1-dev zlib1g-dev libmsgpack-dev
             libsodium-dev libcunit1-dev clang libclang-rt-14-dev dpkg-dev doxygen
             graphviz gnuplot-nox)
# A python3 from pyenv or similar is fine; Debian's is only a fallback.
command -v python3 >/dev/null 2>&1 || native_pkgs+=(python3)

# mingw-w64: cross compilers + headers; wine/wine64: run the .exe tests (64-bit only);
# libz-mingw-w64-dev: zlib for the target; the rest: `apt-get source` + patching and
# building the other target libraries (libsodium's Debian source needs autoreconf).
windows_pkgs=(mingw-w64 wine wine64 libz-mingw-w64-dev patch bzip2 dpkg-dev
              autoconf automake libtool)

wanted=("${native_pkgs[@]}")
if [ "$windows" = 1 ]; then wanted+=("${windows_pkgs[@]}"); fi

# db:Status-Status is "installed" only for fully installed packages (not for
# "config-files" or half-configured leftovers, which apt-get must then fix).
missing=()
for pkg in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$pkg")
done

# Root for changes only: the check above runs as anyone.  `sudo VAR=value cmd`
# passes the variable even where sudo's env_reset drops the environment.
SUDO=()
need_root() {
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "install-deps.sh: not root and sudo is not installed; missing: ${missing[*]:-deb-src entry}" >&2
            exit 1
        fi
        SUDO=(sudo DEBIAN_FRONTEND=noninteractive)
    fi
}

# ---- deb-src entry (only for --windows: build-win-deps.sh uses `apt-get source`)
need_update=0
if [ ${#missing[@]} -gt 0 ]; then need_update=1; fi

have_deb_src() {
    # deb822 files with "Types: ... deb-src", or one-line "deb-src" entries.
    # Files apt ignores (e.g. *.disabled) are not looked at.
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
             /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        if grep -qE '^[[:space:]]*(Types:.*[[:space:]]deb-src([[:space:]]|$)|deb-src[[:space:]])' "$f"; then
            return 0
        fi
    done
    return 1
}

if [ "$windows" = 1 ]; then
    if ! have_deb_src; then
        need_root
        src_new=
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            # Same mirrors, suites and keys as the binary entries, as "Types: deb-src".
            src_new=/etc/apt/sources.list.d/debian-src.sources
            src_text=$(sed -E 's/^Types:[[:space:]]+deb[[:space:]]*$/Types: deb-src/' \
                       /etc/apt/sources.list.d/debian.sources)
        elif [ -f /etc/apt/sources.list ] && grep -qE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list; then
            src_new=/etc/apt/sources.list.d/debian-src.list
            src_text=$(sed -nE 's/^[[:space:]]*deb([[:space:]])/deb-src\1/p' /etc/apt/sources.list)
        fi
        if [ -z "$src_new" ] || ! grep -q 'deb-src' <<<"$src_text"; then
            echo "install-deps.sh: found no Debian 'deb' entry to copy as 'deb-src'" >&2
            exit 1
        fi
        echo "install-deps.sh: adding $src_new (needed by 'apt-get source')"
        printf '%s\n' "$src_text" | "${SUDO[@]}" tee "$src_new.tmp" >/dev/null
        "${SUDO[@]}" mv "$src_new.tmp" "$src_new"
        need_update=1
    fi
    # The entry may exist while its index was never downloaded (e.g. added by hand,
    # or an earlier update failed): showsrc then finds nothing.
    if [ "$need_update" = 0 ] && ! apt-cache showsrc --only-source apr 2>/dev/null | grep -q '^Package:'; then
        need_update=1
    fi
fi

if [ "$need_update" = 0 ]; then
    exit 0
fi

need_root
# apt's output goes to a log; it is shown only if apt fails.
log=$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX.log")
trap 'rm -f "$log"' EXIT
apt_run() {
    # Wait for the dpkg lock instead of failing if e.g. unattended-upgrades holds it.
    if ! "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 -q "$@" </dev/null >>"$log" 2>&1; then
        echo "install-deps.sh: 'apt-get $*' failed; last lines of its output:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}

echo "install-deps.sh: apt-get update"
apt_run update
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps.sh: installing ${missing[*]}"
    apt_run install -y --no-install-recommends "${missing[@]}"
fi
echo "install-deps.sh: done"
