#!/usr/bin/env bash
# Build dist/fleetfix.pyz: one file a jump host with Python 3.11+ runs as `./fleetfix.pyz`.
#
# A plain `python -m zipapp` cannot work: cryptography, cffi and tree-sitter (with its
# PowerShell grammar) are compiled extensions, and Python cannot import those from inside a zip.
# shiv bundles a whole site-packages and unpacks it to ~/.shiv (SHIV_ROOT) on the first run.
# The unpacked extensions are built for this machine's CPU, OS and Python minor version, so the
# .pyz runs on a jump host that matches those (see packaging/README.md).
#
# Settings: PYTHON, DIST_DIR, WORK_DIR (see _common.sh).
set -euo pipefail
source "$(dirname "$0")/_common.sh"

started="$(date +%s)"
work="${WORK_DIR:-$repo/build/packaging-zipapp}"
make_build_venv "$work"
build_wheel_and_tools "$work"

artifact="$dist_dir/fleetfix.pyz"
# `/usr/bin/env python3`: the jump host's Python is wherever it is; --reproducible keeps the
# archive byte-identical for the same inputs, so two builds can be compared.
"$work/venv/bin/shiv" --console-script fleetfix --output-file "$artifact" \
    --python '/usr/bin/env python3' --reproducible --compressed \
    "$wheel" >"$work/shiv.log" 2>&1 || { cat "$work/shiv.log" >&2; exit 1; }
print_size "$artifact" "$started"
