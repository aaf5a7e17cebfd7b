"""Literal tokens: numbers, strings (with backtick escapes), variable names, type names."""

from __future__ import annotations

import re

_MULTIPLIERS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "e": "\x1b",
}
_NUMBER = re.compile(r"^(0x[0-9a-f]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?)(l|d)?(kb|mb|gb|tb|pb)?$", re.I)


def parse_number(text: str) -> int | float | None:
    """`10`, `0x1F`, `1.5`, `10KB`, `5L`; None when `text` is not a number literal."""
    match = _NUMBER.match(text.strip())
    if match is None:
        return None
    digits, _, multiplier = match.groups()
    value: int | float
    if digits.lower().startswith("0x"):
        value = int(digits, 16)
    elif "." in digits or "e" in digits.lower():
        value = float(digits)
    else:
        value = int(digits)
    if multiplier:
        value = value * _MULTIPLIERS[multiplier.lower()]
    return value


def unescape(text: str) -> str:
    """Backtick escapes of double-quoted strings: `n `r `t `0 `$ `" `` and the rest."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "`" and index + 1 < len(text):
            nxt = text[index + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def verbatim(text: str) -> str:
    """'...' with '' doubled, or a @'...'@ here-string, to its value."""
    if text.startswith("@'"):
        return _here_body(text)
    body = text[1:-1]
    for quote in ("'", "\u2018", "\u2019", "\u201a", "\u201b"):
        body = body.replace(quote * 2, quote)
    return body


def _here_body(text: str) -> str:
    # The opening @' or @" ends its line and the closing '@ or "@ starts its own line.
    body = text[2:-2]
    body = body.split("\n", 1)[1] if "\n" in body else ""
    if body.endswith("\r\n"):
        return body[:-2]
    return body.removesuffix("\n")


def variable_name(text: str) -> str:
    """`$x` -> `x`, `${env:ProgramFiles(x86)}` -> `env:ProgramFiles(x86)`, `@args` -> `args`."""
    name = text[1:] if text[:1] in ("$", "@") else text
    if name.startswith("{") and name.endswith("}"):
        name = name[1:-1]
    return name


def type_name(text: str) -> str:
    """`[System.Text.Encoding]` -> `text.encoding`: the lookup key of a type literal."""
    name = text.strip().removeprefix("[").removesuffix("]").strip().lower()
    return name.removeprefix("system.")
