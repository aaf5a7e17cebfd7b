"""Host output is untrusted: what a host printed must never steer the terminal or the markup.

A compromised or merely broken host can print ANSI escapes (that repaint the screen, retitle
the window or hide text), carriage returns (that overwrite a line) and Rich markup (`[link=...]`).
Everything a host or the store hands us goes through `clean` before it is drawn.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, set_cell_size

# C0 and C1 controls and DEL. Tab and newline are kept only where the caller allows them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e"}


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def clean(text: str, *, limit: int | None = None, keep_newlines: bool = False) -> str:
    """`text` with control characters shown as escapes (`\\e`, `\\x07`), cut to `limit`."""
    if keep_newlines:
        lines = [_CONTROL.sub(_visible, line) for line in text.split("\n")]
        shown = "\n".join(lines)
    else:
        shown = _CONTROL.sub(_visible, text)
    if limit is not None and len(shown) > limit:
        cut = len(shown) - limit
        shown = f"{shown[:limit]}… [{cut} more characters]"
    return shown


def fit(text: str, width: int) -> str:
    """Exactly `width` cells wide: padded, or cut with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        # Cells, not characters: a wide (CJK) host name must not shift the columns after it.
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)
