"""8.3 short names, as NTFS gives them on a system volume (8dot3 name creation on).

A name that is not already a valid 8.3 name gets an alias when it is created, unique in its
folder and kept for the life of the file: the first 6 valid characters of the part before the
last dot, upper case, then `~1` (`~2` ... `~4` when taken), then a dot and the first 3 valid
characters of the last extension: `vxdrv.sys_old` is `VXDRV~1.SYS`. Spaces and other dots are
dropped; `+ , ; = [ ]` become `_`, and so do non-ASCII characters (Windows keeps those its
OEM code page has). From the fifth name with the same start on, NTFS uses 2 characters, a
4-hex-digit checksum of the long name and `~1` (`C-9A3F~1.SYS`); the lab keeps that shape,
but its checksum (CRC-32) is not Windows'.

Windows matches `Get-ChildItem -Filter` (and cmd.exe's wildcards) against both names, which
is why `-Filter *.sys` also finds `vxdrv.sys_old`. The lab does so for -Filter.
"""

from __future__ import annotations

import itertools
import re
import string
import zlib
from collections.abc import Iterator

# Besides letters and digits, what an 8.3 name may hold.
_PUNCTUATION = frozenset("!#$%&'()-@^_`{}~")
_VALID = frozenset(string.ascii_uppercase + string.digits) | _PUNCTUATION
_VALID_ANY_CASE = _VALID | frozenset(string.ascii_lowercase)
_NUMBERED_TAILS = 4  # ~1 .. ~4 before the checksum form


_CHAR = "[A-Za-z0-9" + re.escape("".join(sorted(_PUNCTUATION))) + "]"
_VALID_NAME = re.compile(f"{_CHAR}{{1,8}}(?:\\.{_CHAR}{{1,3}})?")


def is_valid_short_name(name: str) -> bool:
    """True for a name that is already 8.3 (base of 1-8 characters, an optional extension
    of 1-3, one dot at most, valid characters only): NTFS gives it no alias."""
    return _VALID_NAME.fullmatch(name) is not None


def short_name(name: str, taken: set[str]) -> str | None:
    """The alias NTFS gives `name` in a folder whose names (long and short, upper case) are
    `taken`; None when `name` is valid 8.3 already and so is its own short name."""
    if not name or is_valid_short_name(name):
        return None
    base, extension = _split(name)
    suffix = f".{extension[:3]}" if extension else ""
    return next(stem + suffix for stem in _stems(name, base) if stem + suffix not in taken)


def _split(name: str) -> tuple[str, str]:
    """The cleaned start of the base (all an alias uses of it) and of the extension."""
    text = name.lstrip(".").replace(" ", "")
    base, dot, extension = text.rpartition(".")
    if not dot:
        base, extension = text, ""
    return _clean(base.replace(".", "")[:6]) or "_", _clean(extension[:3])


def _clean(text: str) -> str:
    # Character by character: str.upper() would make one "ß" two letters.
    return "".join(c.upper() if c in _VALID_ANY_CASE else "_" for c in text)


def _stems(name: str, base: str) -> Iterator[str]:
    for number in range(1, _NUMBERED_TAILS + 1):
        yield f"{base[:6]}~{number}"
    checksum = f"{zlib.crc32(name.upper().encode('utf-8')) & 0xFFFF:04X}"
    for number in itertools.count(1):
        tail = f"~{number}"
        yield (base[:2] + checksum)[: 8 - len(tail)] + tail
