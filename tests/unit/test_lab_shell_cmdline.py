"""cmd.exe line handling: the C runtime's argv rules, operators, redirections."""

from __future__ import annotations

import pytest

from fleetfix.lab.shell.cmdline import split_segments, take_redirections
from fleetfix.lab.shell.programs import split_arguments


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ('a"b c"d', ["ab cd"]),
        ('\\"quoted\\"', ['"quoted"']),
        ('"a ""b"" c"', ['a "b" c']),
        ('C:\\path\\ "C:\\with space\\\\"', ["C:\\path\\", "C:\\with space\\"]),
        ('""', [""]),
    ],
)
def test_arguments_split_like_the_microsoft_c_runtime(line: str, argv: list[str]) -> None:
    assert split_arguments(line) == argv


def test_operators_split_segments_outside_quotes_and_carets() -> None:
    segments = split_segments('a && "b || c" || d ^& e & f | g')
    assert [(s.operator, s.text.strip()) for s in segments] == [
        ("", "a"),
        ("&&", '"b || c"'),
        ("||", "d & e"),
        ("&", "f"),
        ("|", "g"),
    ]


def test_redirections_are_taken_out_of_the_command() -> None:
    command, redirections = take_redirections("sc query WinRM >nul 2>&1")
    assert command.strip() == "sc query WinRM"
    assert redirections.stdout_to_null and redirections.stderr_to_stdout


def test_redirecting_to_a_file_is_refused_rather_than_ignored() -> None:
    with pytest.raises(ValueError, match=r"out\.txt"):
        take_redirections("ipconfig > out.txt")
