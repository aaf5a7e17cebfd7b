# Shared by the build scripts (sourced, not run): one throwaway venv per build, a clean wheel
# and the build tools of its `build` extra.
#
# Settings (environment):
#   PYTHON     interpreter to build with (default python3.11, else python3); it must be 3.11+,
#              and for the .pyz it is also the oldest Python the jump host may run.
#   DIST_DIR   where the artifact goes (default <repo>/dist)
#   WORK_DIR   the throwaway venv and wheel (default <repo>/build/packaging-<tool>)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dist_dir="${DIST_DIR:-$repo/dist}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"

# A fresh venv every time: a stale one would bundle whatever an earlier build left in it.
make_build_venv() {
    local work="$1"
    rm -rf "$work"
    mkdir -p "$work" "$dist_dir"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "fleetfix needs Python 3.11 or later to build: $python" >&2; exit 1; }
    "$python" -m venv "$work/venv"
    venv_python="$work/venv/bin/python"
    "$venv_python" -m pip install --quiet --upgrade pip
}

# The wheel is built from an sdist (`python -m build` does both), not from the working tree:
# setuptools' in-tree build/lib keeps files that were deleted from the source, and those would
# be bundled silently.
build_wheel_and_tools() {
    local work="$1"
    # `build` bootstraps the wheel; the other build tools then come from the wheel's `build`
    # extra, so pyproject.toml stays the one place their versions are set.
    "$venv_python" -m pip install --quiet "build>=1.2"
    "$venv_python" -m build --outdir "$work/wheel" "$repo" >"$work/build.log" 2>&1 \
        || { cat "$work/build.log" >&2; exit 1; }
    wheel="$(ls "$work"/wheel/fleetfix-*.whl)"
    "$venv_python" -m pip install --quiet "$wheel[build]"
}

print_size() {
    local artifact="$1" started="$2"
    local bytes
    bytes="$(stat -c %s "$artifact")"
    printf '%s: %s bytes (%s MiB), built in %s s\n' "$artifact" "$bytes" \
        "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')" "$(( $(date +%s) - started ))"
}
