"""Parsing the probe's JSON, including what Windows PowerShell 5.1 does to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetfix.probe.facts import (
    ProbeOutputError,
    SafeMode,
    ServiceStatus,
    as_list,
    parse_facts,
    parse_probe_output,
    parse_time,
)

MINIMAL = '{"host_name":"EMR-APP-0003","collected_at":"2024-07-19T06:00:00.1234567Z"}'


def test_dotnet_round_trip_time_with_seven_fraction_digits_parses() -> None:
    assert parse_time("2024-07-19T04:09:00.1234567Z") == datetime(
        2024, 7, 19, 4, 9, 0, 123456, tzinfo=UTC
    )


def test_ms_date_is_utc_milliseconds_whatever_the_offset_says() -> None:
    expected = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
    assert parse_time("/Date(1721362140000)/") == expected
    assert parse_time("/Date(1721362140000+0200)/") == expected


def test_local_offset_is_converted_to_utc() -> None:
    assert parse_time("2024-07-19T06:09:00+02:00") == datetime(2024, 7, 19, 4, 9, tzinfo=UTC)


def test_one_element_unrolled_by_powershell_becomes_a_list() -> None:
    assert as_list({"name": "x"}) == [{"name": "x"}]
    assert as_list(None) == []
    assert as_list([1, 2]) == [1, 2]


def test_last_line_is_the_report_even_after_chatter() -> None:
    facts = parse_probe_output("WARNING: something\r\n\r\n" + MINIMAL + "\r\n")
    assert facts.host_name == "EMR-APP-0003"
    assert facts.safe_mode is SafeMode.NORMAL
    assert facts.channel_files == ()


@pytest.mark.parametrize(
    "stdout",
    ["", "   \n", "not json", '["a list"]', '{"host_name":"x"}'],
    ids=["empty", "blank", "text", "array", "no-collected-at"],
)
def test_unusable_probe_output_is_a_probe_output_error(stdout: str) -> None:
    with pytest.raises(ProbeOutputError):
        parse_probe_output(stdout)


def test_header_as_byte_list_and_as_dashed_hex_both_parse() -> None:
    facts = parse_facts(
        {
            "collected_at": "2024-07-19T06:00:00Z",
            "channel_files": [
                {"name": "a.sys", "header_hex": [170, 170, 170, 170, 1, 0, 35, 1]},
                {"name": "b.sys", "header_hex": "AA-AA-AA-AA-01-00-23-01"},
            ],
        }
    )
    assert [f.header for f in facts.channel_files] == [bytes.fromhex("AAAAAAAA01002301")] * 2


def test_service_status_numbers_and_unknown_names() -> None:
    facts = parse_facts(
        {
            "collected_at": "2024-07-19T06:00:00Z",
            "services": [
                {"name": "Spooler", "status": 3, "start_type": 2},
                {"name": "Odd", "status": "Weird", "start_type": "4"},
            ],
        }
    )
    spooler, odd = facts.services
    assert (spooler.status, spooler.start_type) == (ServiceStatus.STOP_PENDING, "Automatic")
    assert (odd.status, odd.start_type) == (ServiceStatus.UNKNOWN, "Disabled")


def test_bitlocker_enums_as_numbers_and_single_key_id() -> None:
    facts = parse_facts(
        {
            "collected_at": "2024-07-19T06:00:00Z",
            "bitlocker": {
                "mount_point": "C:",
                "protection_status": 0,
                "volume_status": 1,
                "recovery_key_ids": "{D23F0824-128B-4F33-8C5C-7FD0A6A3A450}",
            },
        }
    )
    (volume,) = facts.bitlocker
    assert (volume.protection_status, volume.volume_status) == ("Off", "FullyEncrypted")
    assert volume.recovery_key_ids == ("{D23F0824-128B-4F33-8C5C-7FD0A6A3A450}",)


def test_crash_event_without_time_is_rejected() -> None:
    with pytest.raises(ProbeOutputError, match="unexpected shape"):
        parse_facts({"collected_at": "2024-07-19T06:00:00Z", "crash_events": [{"id": 41}]})


def test_bugcheck_code_in_hex_text_parses() -> None:
    facts = parse_facts(
        {
            "collected_at": "2024-07-19T06:00:00Z",
            "crash_events": [
                {"id": 41, "time_utc": "2024-07-19T05:00:00Z", "bugcheck_code": "0x50"}
            ],
        }
    )
    assert facts.crash_events[0].bugcheck_code == 0x50
