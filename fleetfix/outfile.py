"""Output files named by the operator (`-o`): refused before any work when they cannot be
written, with the reason and what to do, instead of a traceback after the work was done."""

from __future__ import annotations

import os
from pathlib import Path

from fleetfix.errors import ConfigError


def check_writable(path: Path) -> None:
    """A ConfigError when `path` is a folder, or its folder is missing or not writable."""
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder; give a file name with -o")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {folder} is a file, not a folder; "
                          "choose another -o")  # fmt: skip
    if not folder.is_dir():
        raise ConfigError(
            f"cannot write {path}: the folder {folder} does not exist; create it or choose "
            "another -o"
        )
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"cannot write {path}: the folder {folder} is not writable by this "
                          "user; choose another -o")  # fmt: skip
