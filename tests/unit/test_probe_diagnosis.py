"""Diagnosis cases as data, pyinfra style: each tests/data/diagnosis/*.json holds the probe's
raw JSON (as Windows PowerShell printed it) and reachability history in, and the state and
reason a sysadmin reads out. One loader turns every file into a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleetfix.probe.facts import parse_facts, parse_time
from fleetfix.probe.rules import Reachability, TimestampRule, diagnose

CASES = Path(__file__).resolve().parents[1] / "data" / "diagnosis"


def _history(case: dict[str, Any]) -> list[Reachability]:
    history = []
    for entry in case.get("history", []):
        at = parse_time(entry["at"])
        assert at is not None
        history.append(Reachability(at=at, answered=bool(entry["answered"])))
    return history


def test_there_are_diagnosis_cases() -> None:
    assert len(list(CASES.glob("*.json"))) >= 20


@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")), ids=lambda p: p.stem)
def test_diagnosis_case(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    facts = None if case["facts"] is None else parse_facts(case["facts"])
    rule = TimestampRule(case.get("rule", "strict"))
    now = parse_time(case["now"]) if "now" in case else None
    diagnosis = diagnose(facts, _history(case), now=now, rule=rule)
    expected = case["expected"]
    assert (str(diagnosis.state), diagnosis.reason) == (expected["state"], expected["reason"])
    if "bad_channel_files" in expected:
        assert list(diagnosis.bad_channel_files) == expected["bad_channel_files"]
