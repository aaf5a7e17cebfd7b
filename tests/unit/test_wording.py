"""Counts read as words: one host, several hosts, zero hosts."""

from __future__ import annotations

import pytest

from fleetfix.wording import counted


@pytest.mark.parametrize(
    ("number", "expected"), [(0, "0 hosts"), (1, "1 host"), (2, "2 hosts"), (10_000, "10000 hosts")]
)
def test_host_counts(number: int, expected: str) -> None:
    assert counted(number, "host") == expected


def test_an_irregular_plural_is_given() -> None:
    assert counted(1, "key ID", "key IDs") == "1 key ID"
    assert counted(3, "key ID", "key IDs") == "3 key IDs"
