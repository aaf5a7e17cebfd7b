"""Host output is shown, never obeyed: control characters and markup come out as text."""

from __future__ import annotations

import pytest

from tests.tui.ui import clean


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2Jgone", "\\e[2Jgone"),
        ("ok\rFAILED", "ok\\rFAILED"),
        ("bell\x07", "bell\\x07"),
        ("c1\x9bcsi", "c1\\x9bcsi"),
        ("tab\there", "tab\\there"),
        ("[bold]not markup[/bold]", "[bold]not markup[/bold]"),
        ("ünïcode ✓", "ünïcode ✓"),
    ],
)
def test_control_characters_are_shown_as_escapes(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_newlines_kept_only_when_asked_and_long_output_is_cut() -> None:
    assert clean("a\nb") == "a\\nb"
    assert clean("a\nb\x1b", keep_newlines=True) == "a\nb\\e"
    assert clean("x" * 50, limit=10) == "x" * 10 + "… [40 more characters]"
