"""Reading an inventory file into text, refusing what is not a host list before parsing.

Host lists arrive from Excel, CMDB and EDR consoles: UTF-8 with or without a BOM, or UTF-16
with a BOM (Excel's "Unicode text"). Anything else - binary files, other encodings, files so big
they cannot be a host list - is refused here with a message saying what to do.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from fleetfix.errors import InventoryError

#: Larger than any real fleet's host list (8.5 million CSV rows fit well below it); checked
#: with stat() so a wrong path to a disk image is refused before a byte is read.
MAX_INVENTORY_BYTES = 200 * 1024 * 1024

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# C0 controls other than tab, LF, VT, FF and CR, plus DEL: no host list contains them, and
# NUL in particular is the mark of a binary file (or of UTF-16 saved without a BOM).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def read_inventory_text(path: Path) -> str:
    """The file's text with any BOM removed, or an InventoryError saying why not."""
    raw = _read_bytes(path)
    text = _decode(path, raw)
    _refuse_control_characters(path, text)
    return text


def _read_bytes(path: Path) -> bytes:
    try:
        status = path.stat()
        if not path.is_file():
            raise InventoryError(f"{path}: not a regular file; give the path of a host list")
        if status.st_size > MAX_INVENTORY_BYTES:
            raise InventoryError(
                f"{path}: {status.st_size:,} bytes is larger than the "
                f"{MAX_INVENTORY_BYTES // (1024 * 1024)} MB an inventory may be; "
                "is this the right file? Split a host list that really is this big."
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InventoryError(f"{path}: no such file; check the path") from None
    except PermissionError:
        raise InventoryError(f"{path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not raw:
        raise InventoryError(f"{path}: the file is empty; it should list at least one host")
    return raw


def _decode(path: Path, raw: bytes) -> str:
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return _decode_as(path, raw[len(bom) :], encoding)
    return _decode_as(path, raw, "utf-8")


def _decode_as(path: Path, raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1 if encoding == "utf-8" else None
        where = f"{path}:{line}" if line is not None else str(path)
        raise InventoryError(
            f"{where}: not valid {encoding.upper()} text (byte {exc.start}); this is a binary "
            "file or a legacy encoding. Save the list as UTF-8 (Excel: 'CSV UTF-8') and retry."
        ) from None


def _refuse_control_characters(path: Path, text: str) -> None:
    found = _CONTROL.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    raise InventoryError(
        f"{path}:{line}: contains the control character U+{ord(found.group()):04X}, so it is "
        "a binary file, not a host list (or UTF-16 saved without a byte order mark: "
        "save it again as UTF-8)"
    )


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def physical_lines(text: str) -> list[str]:
    """The file's lines as an editor numbers them (CRLF, CR or LF), without the line ends.
    str.splitlines() would also split on form feeds and U+2028, and the numbers would drift."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines
