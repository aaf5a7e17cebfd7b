"""Counts in the words a person reads: "1 host", "3 hosts". Summary lines are read in the
middle of an incident, and "1 hosts" reads like a bug in the tool that is meant to fix one."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` and `noun`, in the plural (noun + "s" unless given) for anything but one."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
