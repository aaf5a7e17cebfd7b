"""How scripts and parameters travel, and how output comes back: pure functions, real data."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetfix.transports import script

# Everything a Python str can hold that UTF-8 can carry: no lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=["Cs"]))
NASTY = "'‘’‚‛\"$(whoami)`n&|^%\r\n\x00😀"
# ASCII enough to send a script over stdin: too long for cmd.exe's command line.
PADDING = "Write-Output 'padding'\n" * 300


def blob_of(full_script: str) -> str:
    match = re.search(r"\$FleetfixParams = '([^']*)'", full_script)
    assert match is not None
    return match.group(1)


@given(TEXT)
def test_a_parameter_travels_only_as_base64_and_decodes_back_exactly(value: str) -> None:
    full = script.with_params("Write-Output $Params.value", {"value": value})
    blob = blob_of(full)
    assert re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", blob)
    assert json.loads(base64.b64decode(blob).decode("utf-8")) == {"value": value}


def test_parameters_never_appear_in_the_script_text() -> None:
    full = script.with_params("Get-Item -LiteralPath $Params.path", {"path": NASTY})
    assert "whoami" not in full
    assert "😀" not in full


def test_the_prologue_is_the_same_whatever_the_parameters() -> None:
    def without_blob(params: dict[str, str]) -> str:
        full = script.with_params("x", params)
        return full.replace(blob_of(full), "")

    assert without_blob({"a": "1"}) == without_blob({"b": NASTY})


def test_a_lone_surrogate_is_refused_before_anything_is_sent() -> None:
    try:
        script.encode_params({"bad": "\ud800"})
    except ValueError as exc:
        assert "cannot be sent" in str(exc)
    else:
        raise AssertionError("a lone surrogate was accepted")


def test_a_short_script_goes_on_the_command_line_as_utf16le_base64() -> None:
    command, stdin = script.command_for("Write-Output 'Zoë'")
    assert stdin == b""
    assert command.startswith("powershell.exe -NoProfile -NonInteractive")
    blob = command.rsplit(" ", 1)[1]
    assert base64.b64decode(blob).decode("utf-16-le") == "Write-Output 'Zoë'"
    assert command.isascii()


def test_a_script_too_long_for_cmd_exe_goes_over_stdin() -> None:
    long_script = "Write-Output 'x'\n" * 300  # ~5,100 chars: ~13,600 once encoded
    assert not script.fits_command_line(long_script)
    command, stdin = script.command_for(long_script)
    assert command == script.STDIN_COMMAND
    assert len(command) <= script.CMD_LINE_LIMIT
    assert stdin.decode("utf-8").startswith(long_script)


def test_the_command_line_limit_is_cmd_exes() -> None:
    fits = "a" * 3000
    assert script.fits_command_line(fits)
    assert len(script.encoded_command(fits)) <= 8191
    assert not script.fits_command_line("a" * 3100)


def test_clixml_stderr_is_decoded_to_what_the_user_would_have_seen() -> None:
    stderr = (
        "#< CLIXML\r\n"
        '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        '<S S="Error">Cannot find path &apos;C:\\x&apos; because it does not exist.'
        "_x000D__x000A_</S>"
        '<S S="Error">second line_x000D__x000A_</S></Objs>'
    )
    assert script.decode_clixml(stderr) == (
        "Cannot find path 'C:\\x' because it does not exist.\r\nsecond line\n"
    )


def test_plain_stderr_is_left_alone() -> None:
    assert script.decode_clixml("Access is denied.\r\n") == "Access is denied.\r\n"


def test_the_last_line_json_object_is_the_scripts_report() -> None:
    stdout = 'removing files\r\n{"deleted": 2, "path": "C:\\\\x"}\r\n\r\n'
    assert script.last_line_json(stdout) == {"deleted": 2, "path": "C:\\x"}


def test_a_last_line_that_is_not_a_json_object_gives_none() -> None:
    assert script.last_line_json('{"a": 1}\r\ndone\r\n') is None
    assert script.last_line_json("[1, 2]\n") is None
    assert script.last_line_json("{broken\n") is None
    assert script.last_line_json("") is None


def test_invalid_utf8_output_is_replaced_not_fatal() -> None:
    assert script.decode_output(b"caf\x82 ok\r\n") == "caf\ufffd ok\r\n"


def test_chcp_answers_in_any_ui_language_give_the_code_page() -> None:
    assert script.parse_chcp("Active code page: 437\r\n") == 437
    assert script.parse_chcp("Aktive Codepage: 850.\r\n") == 850
    assert script.parse_chcp("Page de codes active : 65001\r\n") == 65001
    assert script.parse_chcp("'chcp' is not recognized as an internal command") is None


def test_stdin_for_ssh_is_encoded_in_the_hosts_console_code_page() -> None:
    text = PADDING + "Write-Output 'Größe'\r\n"
    sent = PADDING + "Write-Output 'Größe'\n\n\n"
    assert script.command_for(text, codepage=850) == (script.STDIN_COMMAND, sent.encode("cp850"))
    assert script.command_for(text, codepage=65001) == (script.STDIN_COMMAND, sent.encode())
    assert script.command_for(text) == script.command_for(text, codepage=65001)


@pytest.mark.parametrize(
    ("text", "codepage", "named"),
    [("a‘quoted’", 437, "U+2018"), ("Ж", 850, "U+0416"), ("é", 99999, "unknown")],
)
def test_text_the_code_page_cannot_carry_is_refused_saying_why(
    text: str, codepage: int, named: str
) -> None:
    with pytest.raises(script.ScriptEncodingError, match=re.escape(named)) as caught:
        script.command_for(PADDING + text, codepage=codepage)
    assert str(codepage) in str(caught.value)


def test_a_short_script_goes_on_the_command_line_whatever_the_code_page() -> None:
    assert script.command_for("Write-Output 'Ж'", codepage=437)[1] == b""
