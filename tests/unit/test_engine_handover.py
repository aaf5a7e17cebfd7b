"""The hand-over text: the state fleetfix left a host in, read from its own step reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fleetfix.engine.handover import instructions, left_in
from fleetfix.store import ActionRecord

AT = datetime(2024, 7, 19, 6, 0, tzinfo=UTC)


def action(step: str, status: str, report: dict[str, object] | str) -> ActionRecord:
    detail = report if isinstance(report, str) else json.dumps(report)
    return ActionRecord(id=1, run_id=1, host="PACS01", step=step, destructive=True, params={},
                        attempt=1, intent_at=AT, outcome_at=AT, status=status,
                        detail=detail)  # fmt: skip


ENTERED = action("safe-mode-cycle/enter-safe-mode", "ok", {
    "ok": True, "changes": ["winrm_listed_for_safe_mode", "bitlocker_suspended",
                            "safeboot_network_set"],
    "bitlocker_suspended": ["C:"], "safeboot_set": True,
})  # fmt: skip
LEFT = action("safe-mode-cycle/leave-safe-mode", "ok",
              {"ok": True, "safeboot_set": False, "bitlocker_suspended": ["C:"]})  # fmt: skip


def test_a_host_lost_in_safe_mode_is_said_to_have_safe_boot_set_and_bitlocker_suspended() -> None:
    said = left_in([ENTERED])
    assert any("Safe boot with networking is still set" in s for s in said)
    assert any("BitLocker is suspended on C:" in s for s in said)
    assert any("SafeBoot\\Network" in s for s in said)


def test_a_host_that_left_safe_mode_has_only_the_suspension_left() -> None:
    said = left_in([ENTERED, LEFT])
    assert not any("Safe boot" in s for s in said)
    assert any("BitLocker is suspended on C:" in s for s in said)


def test_steps_that_never_reached_the_host_or_printed_no_report_say_nothing() -> None:
    lost = action("safe-mode-cycle/enter-safe-mode", "error", "connection reset")
    noise = action("crowdstrike-291/delete", "ok", "not json at all")
    single = action("x", "ok", {"bitlocker_suspended": "D:"})  # 5.1 unwraps one-item arrays
    assert left_in([lost, noise]) == []
    (said,) = left_in([single])
    assert "BitLocker is suspended on D:" in said


def test_instructions_name_the_pack_and_the_channel_file_only_for_its_packs() -> None:
    text = instructions("PACS01", "no answer", pack_id="crowdstrike-291", left=left_in([ENTERED]))
    assert text.startswith("PACS01: no answer. Left in this state by fleetfix: Safe boot")
    assert "C-00000291*.sys" in text and "--pack crowdstrike-291 --limit PACS01" in text
    other = instructions("EMR01", "did not come back", pack_id="restart-service", left=[])
    assert "C-00000291" not in other and "fleetfix packs show restart-service" in other
    assert "Left in this state" not in other
