#!/usr/bin/env bash
# Set up a virtual environment with the test extras, then run the static checks and the whole
# test suite (slow tests included). Extra arguments go to pytest, e.g. `-m "not slow"`.
#
# Two system programs are real parts of the suite: OpenLDAP's slapd (the directory the Active
# Directory key tests read) and Chromium (which renders the HTML incident report). They are
# installed here when missing, with apt-get as root; otherwise the script says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FLEETFIX_VENV:-.venv}"

missing=()
command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || missing+=(slapd ldap-utils)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing ${missing[*]} (the tests run a real slapd and a real Chromium)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
        # The package starts a system slapd on port 389; the tests run their own on loopback.
        service slapd stop >/dev/null 2>&1 || true
    else
        echo "the tests need ${missing[*]}: install them (e.g. sudo apt-get install" \
             "${missing[*]}), or run this as root on Debian/Ubuntu to have them installed" >&2
        exit 1
    fi
fi

# Thousands of lab sockets: lift the open-files limit for this run.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test]'
export PATH="$PWD/$venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
python -m pytest "$@"
