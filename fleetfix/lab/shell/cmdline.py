"""Splitting a cmd.exe command line: %VAR% expansion, then commands joined by `&&`, `||`,
`&` and `|`, with quotes and `^` protecting operators, then redirections per command."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VARIABLE = re.compile(r"%([^%\s]+)%")
_REDIRECTION = re.compile(r'(?<![\w:])([12]?)>>?\s*(&[12]|"[^"]*"|[^\s&|]+)', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Segment:
    text: str  # trailing spaces kept: `echo one & echo two` prints "one "
    operator: str  # the operator that joins it to the previous segment: "", "&", "&&", "||", "|"


@dataclass(frozen=True, slots=True)
class Redirections:
    stdout_to_null: bool = False
    stderr_to_null: bool = False
    stderr_to_stdout: bool = False


def expand_variables(line: str, environment: dict[str, str], *, errorlevel: int) -> str:
    """cmd expands the whole line once, before running any of it: `%ERRORLEVEL%` is the
    value from before the line started. Undefined variables stay as written (cmd /c)."""
    lowered = {k.lower(): v for k, v in environment.items()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name == "errorlevel":
            return str(errorlevel)
        if name == "cd":
            return "C:\\Users\\Administrator"
        return lowered.get(name, match.group(0))

    return _VARIABLE.sub(replace, line)


def split_segments(line: str) -> list[Segment]:
    segments: list[Segment] = []
    current: list[str] = []
    operator = ""
    in_quotes = False
    index = 0
    while index < len(line):
        char = line[index]
        if char == '"':
            in_quotes = not in_quotes
        elif char == "^" and not in_quotes and index + 1 < len(line):
            current.append(line[index + 1])
            index += 2
            continue
        elif char in "&|" and not in_quotes:
            if (char == "&" and current and current[-1] == ">") or (
                char == "&" and _after_redirect(current)
            ):
                current.append(char)
                index += 1
                continue
            doubled = index + 1 < len(line) and line[index + 1] == char
            segments.append(Segment("".join(current).lstrip(), operator))
            current = []
            operator = char * 2 if doubled else char
            index += 2 if doubled else 1
            continue
        current.append(char)
        index += 1
    segments.append(Segment("".join(current).lstrip(), operator))
    return segments


def _after_redirect(current: list[str]) -> bool:
    return bool(current) and current[-1] == ">"


def take_redirections(text: str) -> tuple[str, Redirections]:
    """Strips `>nul`, `2>nul`, `2>&1`, `1>nul` from a command; other targets are refused."""
    stdout_null = stderr_null = stderr_out = False
    unsupported: list[str] = []

    def replace(match: re.Match[str]) -> str:
        nonlocal stdout_null, stderr_null, stderr_out
        stream, target = match.group(1) or "1", match.group(2).strip('"').lower()
        if stream == "2" and target == "&1":
            stderr_out = True
        elif target == "nul" and stream == "2":
            stderr_null = True
        elif target == "nul":
            stdout_null = True
        else:
            unsupported.append(target)
        return ""

    cleaned = _REDIRECTION.sub(replace, text).lstrip()
    if unsupported:
        raise ValueError(unsupported[0])
    return cleaned, Redirections(stdout_null, stderr_null, stderr_out)


def split_program(text: str) -> tuple[str, str]:
    """The program name (quoted or not) and the raw rest of the command."""
    stripped = text.lstrip()
    if stripped.startswith('"'):
        end = stripped.find('"', 1)
        end = len(stripped) if end < 0 else end
        return stripped[1:end], stripped[end + 1 :].lstrip()
    match = re.match(r"[^\s/]+|/\S*", stripped)
    if match is None:
        return "", ""
    name = match.group(0)
    # `echo.` and `cd\` style: cmd ends a built-in's name at `.`, `\` or `/` too.
    for builtin in ("echo", "cd"):
        if (
            name.lower().startswith(builtin)
            and len(name) > len(builtin)
            and name[len(builtin)] in "./\\("
        ):
            return builtin, stripped[len(builtin) :]
    return name, stripped[len(name) :].lstrip() if stripped[len(name) :].startswith(
        " "
    ) else stripped[len(name) :]
