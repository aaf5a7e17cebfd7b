"""Writing a report so that a crash never leaves half of one, and nothing is clobbered."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from fleetfix.errors import ConfigError
from fleetfix.outfile import check_writable

STDOUT = "-"


def write_report(text: str, target: str | os.PathLike[str], *, force: bool = False) -> None:
    """Write `text` to `target` ("-" is stdout) through a temp file in the same folder
    and os.replace / os.link, so readers see the whole report or none of it."""
    if os.fspath(target) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    check_writable(path)
    if not force and path.exists():
        raise ConfigError(f"{path} exists; pass --force to replace it")
    # Same folder: os.replace is atomic only within one file system.
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # full disk, read-only mount, a folder removed since the check
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(temp, path, force=force)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _publish(temp: Path, path: Path, *, force: bool) -> None:
    if force:
        temp.replace(path)
        return
    try:
        # link() fails if the name exists, so a file created since our check is not lost.
        os.link(temp, path)
    except FileExistsError:
        raise ConfigError(f"{path} exists; pass --force to replace it") from None
    except OSError:
        temp.replace(path)  # a file system without hard links: the check above stands
