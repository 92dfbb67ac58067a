#!/usr/bin/env bash
# shellcheck shell=bash
# Wine environment for running the cross-built Windows tests.  Source it:
#
#   . tools/wine-env.sh              # WINEPREFIX, WINEDEBUG; prefix made once; server up
#   trap mproc_wine_stop EXIT        # (recommended) never leave the wineserver behind
#   ctest --test-dir build-win --output-on-failure
#   mproc_wine_stop                  # wineserver -k
#
# or run it: `tools/wine-env.sh [start|init|stop]` (init = only make the prefix).
#
# Environment:
#   MPROC_WINEPREFIX     prefix to use (default ${MPROC_DEPS_CACHE:-$HOME/.cache/mproc}/wineprefix)
#   MPROC_WINEDEBUG      WINEDEBUG to export (default -all; "-all,err+module" names a
#                        missing DLL, which otherwise fails silently with exit code 53)
#   MPROC_WINE_NO_SERVER=1  when sourced: make the prefix but start no server
#
# Why each step:
#  * The prefix is configured once (a stamp file records that): Windows 10 instead of
#    the Windows 7 that Debian's Wine reports, and AeDebug\Debugger=false.  With the
#    default debugger (winedbg --auto) a crashing program prints a backtrace and `wine`
#    exits 0, so a crash would pass CI; with "false" it exits 5 (0xC0000005 & 0xff).
#  * The persistent wineserver and wine's services (services.exe, explorer.exe, ...) are
#    started here, with no inherited output pipe.  Otherwise the first `wine` started by
#    ctest starts them, they inherit the test's stderr pipe, and ctest waits ~3 s for EOF
#    after every test.
#  * Wine refuses a prefix owned by another user; running as root with a root-owned
#    prefix is fine.
#
# When sourced this file does not change the caller's shell options: the work runs in
# subshells with `set -euo pipefail`, and failures come back as a non-zero status
# (which stops a caller running under `set -e`) with the reason on stderr.

export WINEPREFIX="${MPROC_WINEPREFIX:-${MPROC_DEPS_CACHE:-$HOME/.cache/mproc}/wineprefix}"
# -all also silences Debian's "it looks like wine32 is missing" note (64-bit only here).
export WINEDEBUG="${MPROC_WINEDEBUG:--all}"

# Create and configure the prefix unless the stamp says it is done.
mproc_wine_init() (
    set -euo pipefail
    stamp="$WINEPREFIX/.mproc-wine-ready"
    [ -f "$stamp" ] && exit 0

    die() {
        echo "wine-env.sh: $*" >&2
        if [ -s "$log" ]; then
            echo "wine-env.sh: last lines of $log:" >&2
            tail -n 25 "$log" >&2
        fi
        exit 1
    }
    log="$WINEPREFIX.log"
    for tool in wine wineboot wineserver flock; do
        command -v "$tool" >/dev/null 2>&1 ||
            { log=; die "'$tool' not found; run tools/install-deps.sh --windows"; }
    done
    mkdir -p "$(dirname "$WINEPREFIX")"
    # Two jobs sourcing this at once must not both run wineboot on one prefix.
    exec 9>"$WINEPREFIX.lock"
    flock 9
    [ -f "$stamp" ] && exit 0
    if [ -e "$WINEPREFIX" ] && [ "$(stat -c %u "$WINEPREFIX")" != "$(id -u)" ]; then
        log=
        die "$WINEPREFIX belongs to uid $(stat -c %u "$WINEPREFIX"), not to $(id -un) (uid $(id -u)); wine refuses such a prefix. Set MPROC_WINEPREFIX to another directory."
    fi
    : >"$log"
    echo "wine-env.sh: creating wine prefix $WINEPREFIX (log: $log)" >&2
    # An existing prefix without the stamp (interrupted earlier, or made by a plain
    # `wine` call) is updated in place, not deleted.  No X server is needed: the
    # ~20 err: lines about explorer/systray/rundll32 that wineboot prints without a
    # display are harmless.  mscoree/mshtml disabled: no Mono/Gecko installer.
    # stdin/out/err of every wine call point away from the caller's pipes (see top).
    WINEDLLOVERRIDES="mscoree,mshtml=" wineboot -i </dev/null >>"$log" 2>&1 9>&- ||
        die "'wineboot -i' failed (exit $?) for WINEPREFIX=$WINEPREFIX"
    wine winecfg -v win10 </dev/null >>"$log" 2>&1 9>&- ||
        die "'wine winecfg -v win10' failed (exit $?)"
    key='HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug'
    wine reg add "$key" /v Debugger /t REG_SZ /d false /f </dev/null >>"$log" 2>&1 9>&- ||
        die "'wine reg add ...AeDebug /v Debugger' failed (exit $?)"
    value=$(wine reg query "$key" /v Debugger </dev/null 2>>"$log" 9>&-) ||
        die "'wine reg query ...AeDebug /v Debugger' failed (exit $?)"
    grep -qw false <<<"$value" ||
        die "AeDebug\\Debugger is not 'false' after setting it: $value"
    # Let the wineserver write the registry to disk before the stamp says "done".
    # (timeout: a persistent server started by someone else would never exit.)
    timeout 60 wineserver -w </dev/null >>"$log" 2>&1 9>&- || true
    echo "created $(date -u +%Y-%m-%dT%H:%M:%SZ) by tools/wine-env.sh; $(wine --version 2>/dev/null)" >"$stamp"
)

# Does the process environment file $1 (/proc/PID/environ) set our WINEPREFIX?
# (Captured first: no pipe whose early exit could trip pipefail.)
_mproc_env_has_prefix() {
    local env
    env=$(tr '\0' '\n' 2>/dev/null <"$1") || return 1
    grep -qxF "WINEPREFIX=$WINEPREFIX" <<<"$env"
}

# pid of the wineserver of this prefix (it daemonizes, so $! is no use): the process
# named wineserver* whose environment has our WINEPREFIX.
_mproc_wineserver_pid() {
    local d
    for d in /proc/[0-9]*; do
        case "$(cat "$d/comm" 2>/dev/null)" in wineserver*) ;; *) continue ;; esac
        if _mproc_env_has_prefix "$d/environ"; then
            echo "${d#/proc/}"
            return 0
        fi
    done
    return 1
}

# Is the persistent server recorded in $1 still running?  (Sourcing this file twice
# must neither wait for it nor start a second one.)
_mproc_wineserver_alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in wineserver*) ;; *) return 1 ;; esac
    _mproc_env_has_prefix "/proc/$pid/environ"
}

# Start a persistent wineserver and wine's services, outside any output capture.
mproc_wine_start() (
    set -euo pipefail
    mproc_wine_init
    log="$WINEPREFIX.start.log"
    # The server and services outlive this call: give them no file descriptor of the
    # caller's (a harness's pipe on fd 3+ would otherwise never see EOF).
    for fd in "/proc/$BASHPID/fd/"*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    pidfile="$WINEPREFIX.wineserver.pid"
    if ! _mproc_wineserver_alive "$pidfile"; then
        if ! wineserver -p </dev/null >/dev/null 2>&1; then
            # Another server runs in this prefix.  A transient one (started by a plain
            # `wine` call, e.g. during APR's build or a try_run) exits ~3 s after its
            # last client: wait for that, then start the persistent one.
            timeout 10 wineserver -w </dev/null >/dev/null 2>&1 || true
            wineserver -p </dev/null >/dev/null 2>&1 || true
        fi
        _mproc_wineserver_pid >"$pidfile" || rm -f "$pidfile"
    fi
    # The log file, not a pipe: the services started here keep it open.
    wine wineboot </dev/null >"$log" 2>&1 || {
        status=$?
        echo "wine-env.sh: 'wine wineboot' failed (exit $status) for WINEPREFIX=$WINEPREFIX" >&2
        tail -n 25 "$log" >&2
        exit 1
    }
)

# Stop the wineserver of this prefix (and every wine process in it).
mproc_wine_stop() {
    wineserver -k </dev/null >/dev/null 2>&1 || true
    rm -f "$WINEPREFIX.wineserver.pid"
    return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    # Executed, not sourced.
    set -euo pipefail
    case "${1:-start}" in
        init) mproc_wine_init ;;
        start) mproc_wine_start ;;
        stop) mproc_wine_stop ;;
        *) echo "usage: $0 [start|init|stop]   (or source it: . $0)" >&2; exit 2 ;;
    esac
    echo "WINEPREFIX=$WINEPREFIX"
elif [ "${MPROC_WINE_NO_SERVER:-0}" = 1 ]; then
    mproc_wine_init
else
    mproc_wine_start
fi
