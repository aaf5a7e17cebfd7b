"""Bytes on the wire: -EncodedCommand round trips, code pages 437 and 65001, CRLF endings."""

from __future__ import annotations

import base64

import pytest

from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import encoded_command, new_machine

GREETING = "Grüße aus Köln"


def test_an_encoded_command_runs_the_exact_script_it_carries() -> None:
    script = "$s = 'quotes '' and \"double\" and `$dollar'\n$s"
    result = run_command_line(new_machine(), encoded_command(script))
    assert result.stdout == b'quotes \' and "double" and `$dollar\r\n'


def test_non_ascii_output_uses_the_oem_code_page_by_default() -> None:
    result = run_command_line(new_machine(), encoded_command(f"'{GREETING}'"))
    assert result.stdout == GREETING.encode("cp437") + b"\r\n"
    assert b"\x81" in result.stdout  # ü in code page 437


def test_code_page_65001_gives_utf8() -> None:
    result = run_command_line(new_machine(), encoded_command(f"'{GREETING}'"), codepage=65001)
    assert result.stdout.decode("utf-8") == GREETING + "\r\n"


def test_characters_the_code_page_lacks_become_question_marks() -> None:
    result = run_command_line(new_machine(), encoded_command("'snow ☃'"))
    assert result.stdout == b"snow ?\r\n"


def test_a_script_on_stdin_is_read_in_the_shell_code_page() -> None:
    result = run_command_line(
        new_machine(),
        "powershell -NoProfile -NonInteractive -Command -",
        stdin=f"'{GREETING}'.Length".encode(),
        codepage=65001,
    )
    assert result.stdout == f"{len(GREETING)}\r\n".encode()


def test_every_line_of_output_ends_with_crlf() -> None:
    result = run_command_line(new_machine(), encoded_command("1..3"))
    assert result.stdout == b"1\r\n2\r\n3\r\n"


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"\xff").decode()])
def test_a_badly_encoded_command_is_refused(bad: str) -> None:
    result = run_command_line(new_machine(), f"powershell -EncodedCommand {bad}")
    assert result.exit_code == 1
    assert b"not properly encoded" in result.stderr


def test_option_abbreviations_are_accepted_like_powershell_exe() -> None:
    script = base64.b64encode("hostname".encode("utf-16-le")).decode()
    result = run_command_line(new_machine(), f"powershell -nop -noni -ep Bypass -enc {script}")
    assert result.stdout == b"PACS-01\r\n"
