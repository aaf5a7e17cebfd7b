"""Reading what pack scripts report: Intune exit codes, the last JSON line, escalation."""

from __future__ import annotations

import pytest

from fleetfix.packs import Detection, escalation_for, load_packs, read_detection, read_report

PACKS = load_packs()


@pytest.mark.parametrize(
    ("stdout", "exit_code", "detection"),
    [
        ('{"compliant":true}', 0, Detection.COMPLIANT),
        ('noise\n{"compliant":false,"bad_files":["a"]}\n', 1, Detection.NEEDS_REMEDIATION),
        ('{"compliant":false}', 2, Detection.FAILED),
        ("Get-Foo : not recognized", 1, Detection.FAILED),
        ("", 0, Detection.FAILED),
    ],
)
def test_detect_follows_the_intune_exit_codes(
    stdout: str, exit_code: int, detection: Detection
) -> None:
    assert read_detection(stdout, exit_code)[0] is detection


def test_a_step_without_a_report_failed_even_with_exit_zero() -> None:
    report = read_report("Deleted.\r\n", 0)
    assert (report.ok, report.reason) == (False, "no_report")


def test_a_step_must_exit_zero_and_say_ok() -> None:
    assert read_report('{"ok":true,"changed":true}', 0).ok
    assert not read_report('{"ok":true}', 1).ok
    assert not read_report('{"ok":false,"reason":"bad_files_left"}', 0).ok


def test_access_denied_escalates_crowdstrike_to_the_safe_mode_cycle() -> None:
    pack = PACKS["crowdstrike-291"]
    denied = read_report('{"ok":false,"reason":"access_denied","escalate":true}', 1)
    assert (denied.escalate, escalation_for(pack, denied)) == (True, "safe-mode-cycle")
    left = read_report('{"ok":false,"reason":"bad_files_left"}', 1)
    assert escalation_for(pack, left) is None
    done = read_report('{"ok":true,"reason":"no bad channel 291 file left"}', 0)
    assert escalation_for(pack, done) is None


def test_a_pack_without_escalation_never_escalates() -> None:
    failed = read_report('{"ok":false,"reason":"access_denied"}', 1)
    assert escalation_for(PACKS["restart-service"], failed) is None
