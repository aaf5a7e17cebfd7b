"""The System log is capped like a real Windows log: the oldest events are overwritten, and
RecordId keeps rising across the overwrite."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fleetfix.lab.machine import EventLevel, EventLog
from fleetfix.lab.machine.eventlog import DEFAULT_MAX_RECORDS
from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import BOOT_TIME, encoded_command, new_machine


def _write(log: EventLog, count: int, *, event_id: int = 6013) -> None:
    for index in range(count):
        log.write(
            event_id=event_id,
            provider_name="EventLog",
            time_created=BOOT_TIME + timedelta(seconds=index),
            level=EventLevel.INFORMATION,
            message=f"uptime {index}",
        )


def test_the_default_cap_is_twenty_thousand_records() -> None:
    assert EventLog().max_records == DEFAULT_MAX_RECORDS == 20_000


def test_a_full_log_drops_the_oldest_records() -> None:
    log = EventLog(max_records=5)
    _write(log, 8)
    assert len(log.records) == 5
    assert [r.message for r in log.records] == [f"uptime {i}" for i in range(3, 8)]


def test_record_ids_keep_rising_after_the_oldest_are_dropped() -> None:
    log = EventLog(max_records=3)
    _write(log, 7)
    assert [r.record_id for r in log.records] == [5, 6, 7]
    log.write(
        event_id=41,
        provider_name="Microsoft-Windows-Kernel-Power",
        time_created=BOOT_TIME,
        level=EventLevel.CRITICAL,
        message="crash",
    )
    assert log.records[-1].record_id == 8


def test_queries_only_see_what_the_log_still_holds() -> None:
    log = EventLog(max_records=4)
    _write(log, 3, event_id=41)
    _write(log, 4, event_id=6013)
    assert log.query(ids=[41]) == []
    assert [r.record_id for r in log.query()] == [7, 6, 5, 4]


def test_a_log_must_hold_at_least_one_record() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        EventLog(max_records=0)


def test_get_winevent_reports_the_newest_record_ids_after_a_wrap() -> None:
    machine = new_machine()
    machine.system_log = EventLog(max_records=10)
    _write(machine.system_log, 25)
    script = (
        "Get-WinEvent -FilterHashtable @{LogName='System'} | "
        "Select-Object -First 3 -ExpandProperty RecordId | ConvertTo-Json -Compress\n"
        "(Get-WinEvent -LogName System | Measure-Object).Count"
    )
    result = run_command_line(machine, encoded_command(script))
    assert result.exit_code == 0, result.stderr
    ids, count = result.stdout.decode().split("\r\n")[:2]
    assert json.loads(ids) == [25, 24, 23]
    assert count == "10"


def test_the_default_cap_holds_for_a_long_boot_loop() -> None:
    log = EventLog()
    _write(log, DEFAULT_MAX_RECORDS + 500)
    assert len(log.records) == DEFAULT_MAX_RECORDS
    assert log.records[0].record_id == 501
    assert log.records[-1].record_id == DEFAULT_MAX_RECORDS + 500
