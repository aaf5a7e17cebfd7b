#!/usr/bin/env bash
# Set up a virtual environment with the test extras, then run the static checks and the whole
# test suite (slow tests included). Extra arguments go to pytest, e.g. `-m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FLEETFIX_VENV:-.venv}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test]'
export PATH="$PWD/$venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
python -m pytest "$@"
