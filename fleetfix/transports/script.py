"""Turning a PowerShell script and its parameters into what travels, and output back into text.

Parameters never become script text: they are serialised to JSON, base64-encoded (an
alphabet with no quote, `$`, backtick or newline, so nothing in it can be code) and decoded
by a fixed prologue into `$Params`. PowerShell treats U+2018..U+201B as quotes too, which is
why quoting values was never an option.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Mapping
from typing import Any

#: cmd.exe refuses command lines longer than this many characters.
CMD_LINE_LIMIT = 8191
POWERSHELL = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass"
#: What runs a script fed over stdin (too long for the command line).
STDIN_COMMAND = f"{POWERSHELL} -Command -"

# The prologue is the same text for every call; only the base64 literal differs, and base64
# cannot close a single-quoted string. ConvertFrom-Json gives `$Params.Name` access.
_PROLOGUE = (
    "$ErrorActionPreference = 'Stop'\n"
    "$ProgressPreference = 'SilentlyContinue'\n"
    "$FleetfixParams = '{blob}'\n"
    "$Params = [Text.Encoding]::UTF8.GetString("
    "[Convert]::FromBase64String($FleetfixParams)) | ConvertFrom-Json\n"
)
_BASE64 = re.compile(r"\A[A-Za-z0-9+/]*={0,2}\Z")
_CLIXML_ERROR = re.compile(r'<S S="Error">(.*?)</S>', re.DOTALL)
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
# `chcp`'s answer, in any UI language: "Active code page: 437", "Aktive Codepage: 850."
_CHCP = re.compile(r"(\d{3,5})\.?\s*\Z")


class ScriptEncodingError(ValueError):
    """The script's text cannot reach the host unchanged by this route."""


def encode_params(params: Mapping[str, Any]) -> str:
    """Parameters as base64 of UTF-8 JSON. Raises ValueError for values JSON cannot carry
    (lone surrogates, non-string keys, objects)."""
    try:
        text = json.dumps(dict(params), ensure_ascii=False, allow_nan=False)
        blob = base64.b64encode(text.encode("utf-8")).decode("ascii")
    except (TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"script parameters cannot be sent: {exc}") from None
    # Belt and braces: the one thing spliced into script text must be pure base64.
    assert _BASE64.match(blob)
    return blob


def with_params(script: str, params: Mapping[str, Any] | None) -> str:
    """The script as it runs on the host: fixed prologue, then the caller's text unchanged."""
    return _PROLOGUE.format(blob=encode_params(params or {})) + script


def encoded_command(script: str) -> str:
    """`powershell.exe ... -EncodedCommand <base64 of UTF-16LE>`: immune to cmd.exe quoting
    and to the console code page, because the command line is pure ASCII."""
    blob = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return f"{POWERSHELL} -EncodedCommand {blob}"


def fits_command_line(script: str) -> bool:
    return len(encoded_command(script)) <= CMD_LINE_LIMIT


def command_for(script: str, *, codepage: int = 65001) -> tuple[str, bytes]:
    """(command line, stdin) for a shell (WinRS or SSH). Short scripts go on the command line;
    long ones over stdin in `codepage`, the one the host reads stdin in: 65001 (UTF-8) in a
    WinRS shell opened with it, the console's OEM code page over SSH (`chcp`). `-Command -`
    runs stdin line by line and needs a blank line to end a multi-line block, hence the tail.
    Raises ScriptEncodingError for text that code page cannot carry, naming the first such
    character: sent anyway, it would run as different text."""
    if fits_command_line(script):
        return encoded_command(script), b""
    text = script.replace("\r\n", "\n") + "\n\n"
    try:
        return STDIN_COMMAND, text.encode(f"cp{codepage}")  # Python's cp65001 is UTF-8
    except LookupError:
        raise ScriptEncodingError(
            f"the host's console code page {codepage} is unknown here, so a script too long "
            "for the command line must be ASCII; move non-ASCII text into parameters"
        ) from None
    except UnicodeEncodeError as exc:
        raise ScriptEncodingError(
            f"the script is too long for the command line, and over stdin the host reads "
            f"code page {codepage}, which cannot carry {text[exc.start]!r} "
            f"(U+{ord(text[exc.start]):04X}); move such text into parameters, shorten the "
            "script, or use WinRM/PSRP"
        ) from None


def parse_chcp(output: str) -> int | None:
    """The code page number in `chcp`'s answer, or None when there is none."""
    found = _CHCP.search(output.strip())
    return int(found.group(1)) if found else None


def decode_output(data: bytes) -> str:
    """Bytes from a host as text. Invalid UTF-8 is replaced, never fatal: a host that prints
    in its OEM code page must not cost us the rest of its output."""
    return data.decode("utf-8", errors="replace")


def decode_clixml(stderr: str) -> str:
    """PowerShell's `#< CLIXML` error stream as the plain text a user would have seen."""
    if not stderr.startswith("#< CLIXML"):
        return stderr
    parts = [_unescape(match) for match in _CLIXML_ERROR.findall(stderr)]
    return "".join(parts).rstrip("\r\n") + ("\n" if parts else "")


def _unescape(text: str) -> str:
    text = _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return html.unescape(text)


def last_line_json(stdout: str) -> dict[str, Any] | None:
    """The JSON object on the last non-empty line of stdout, which is how scripts report,
    or None when that line is not a JSON object."""
    for line in reversed(stdout.splitlines()):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("{"):
            return None
        try:
            value = json.loads(stripped)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
    return None


def decode_base64_text(blob: str) -> str:
    """UTF-8 text carried as base64 (how tests read values back byte-exactly)."""
    try:
        return base64.b64decode(blob.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"not base64 UTF-8: {exc}") from None
