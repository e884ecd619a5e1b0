#!/usr/bin/env bash
# One entry point for a fresh machine. It installs what it needs, then:
#   ./cbl.sh demo [ARGS]   -> cbl demo on an emulated joint (the main job)
#   ./cbl.sh test [ARGS]   -> the whole test suite (what .ci/run calls)
#   ./cbl.sh bench AREA    -> a benchmark, with its peers (the bench extra) and toolchains
#   ./cbl.sh VERB [ARGS]   -> any other cbl verb
# Environment: PYTHON (default python3) makes the venv; VENV (default .venv, relative to the
# repository) is where, e.g. `PYTHON=python3.12 VENV=.venv312 ./cbl.sh test` on Python 3.12.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
venv="${VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$here/$venv" ;; esac
py="${PYTHON:-python3}"
verb="${1:-demo}"
[ $# -gt 0 ] && shift

apt_install() {  # apt_install PKG... : install Debian packages that are missing (root or sudo)
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    echo "cbl.sh: installing Debian packages: ${missing[*]}" >&2
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; } >/tmp/cbl-apt.log 2>&1; then
        tail -n 20 /tmp/cbl-apt.log >&2
        if [ "${CI:-}" = "true" ]; then  # CI must never go green by skipping the MCU checks
            echo "cbl.sh: error: apt-get could not install ${missing[*]} (CI=true: the tests that need them would fail)" >&2
            exit 1
        fi
        echo "cbl.sh: warning: apt-get could not install ${missing[*]} (see /tmp/cbl-apt.log); tests that need them skip with that reason" >&2
    fi
}

ensure_venv() {  # ensure_venv EXTRAS
    local extras="$1" stamp="$venv/.cbl-installed-$1"
    if [ ! -x "$venv/bin/python" ]; then
        "$py" -m venv "$venv"
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "cbl.sh: installing the package and its dependencies into $venv ($extras)" >&2
        local spec="." log="$venv/pip-install.log"
        [ "$extras" != base ] && spec=".[$extras]"
        if ! { "$venv/bin/python" -m pip install -q --upgrade pip && "$venv/bin/python" -m pip install -q -e "$spec"; } >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            echo "cbl.sh: error: installing the package into $venv failed (full log: $log)" >&2
            exit 1
        fi
        touch "$stamp"
    fi
}

case "$verb" in
    test)
        apt_install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user gcc-aarch64-linux-gnu iproute2 stress-ng
        ensure_venv test
        "$venv/bin/ruff" check .
        exec "$venv/bin/python" -m pytest -q "$@"
        ;;
    bench)
        apt_install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user gcc-aarch64-linux-gnu stress-ng
        ensure_venv bench
        exec "$venv/bin/cbl" bench "$@"
        ;;
    *)
        ensure_venv base
        exec "$venv/bin/cbl" "$verb" "$@"
        ;;
esac
