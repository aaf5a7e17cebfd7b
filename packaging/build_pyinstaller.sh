#!/usr/bin/env bash
# Build dist/fleetfix: a one-file executable for Linux jump hosts that have no Python at all.
#
# PyInstaller bundles the interpreter, fleetfix, every dependency (compiled extensions
# included) and the package data; the binary unpacks them to a temporary folder on each start.
# What it bundles is listed in packaging/fleetfix.spec, and why.
# It links against this machine's glibc: the jump host needs the same or a newer glibc.
# PyInstaller uses objdump and ldd (binutils, libc-bin) to find shared libraries.
#
# Settings: PYTHON, DIST_DIR, WORK_DIR (see _common.sh).
set -euo pipefail
source "$(dirname "$0")/_common.sh"

started="$(date +%s)"
work="${WORK_DIR:-$repo/build/packaging-pyinstaller}"
make_build_venv "$work"
build_wheel_and_tools "$work"

# The spec names its entry script relative to itself, so the build runs from any folder.
"$work/venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$dist_dir" --workpath "$work/pyinstaller" \
    "$repo/packaging/fleetfix.spec" >"$work/pyinstaller.log" 2>&1 \
    || { cat "$work/pyinstaller.log" >&2; exit 1; }
print_size "$dist_dir/fleetfix" "$started"
