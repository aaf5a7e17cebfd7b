"""The two time-stamp rules and the header check, at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetfix.probe.facts import ChannelFile
from fleetfix.probe.rules import (
    BAD_HEADER,
    DEFAULT_RULE,
    ChannelVerdict,
    TimestampRule,
    bad_by_time,
    judge_channel_file,
)

SECOND = timedelta(seconds=1)
AT_0409 = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
AT_0527 = datetime(2024, 7, 19, 5, 27, tzinfo=UTC)
AT_0627 = datetime.fromtimestamp(1721370420, tz=UTC)


def test_the_default_is_the_strict_rule() -> None:
    assert DEFAULT_RULE is TimestampRule.STRICT
    # CrowdStrike's script states the cut-off as an epoch; it is 06:27 UTC.
    assert datetime(2024, 7, 19, 6, 27, tzinfo=UTC) == AT_0627


@pytest.mark.parametrize(
    ("stamp", "bad"),
    [
        (AT_0409 - SECOND, False),
        (AT_0409, True),
        (AT_0527 - SECOND, True),
        (AT_0527, False),
        (None, True),
    ],
)
def test_advisory_rule_bad_from_0409_until_0527(stamp: datetime | None, bad: bool) -> None:
    assert bad_by_time(stamp, TimestampRule.ADVISORY) is bad


@pytest.mark.parametrize(
    ("stamp", "bad"),
    [
        (AT_0409 - timedelta(days=1), True),
        (AT_0527, True),
        (AT_0627, True),
        (AT_0627 + SECOND, False),
    ],
)
def test_strict_rule_good_only_after_0627(stamp: datetime, bad: bool) -> None:
    assert bad_by_time(stamp, TimestampRule.STRICT) is bad


def _file(header: bytes | None, stamp: datetime = AT_0409) -> ChannelFile:
    return ChannelFile("C-00000291-00000000-00000032.sys", "x", 2048, stamp, header, None)


def test_header_decides_between_bad_and_suspect() -> None:
    assert judge_channel_file(_file(BAD_HEADER + b"\x00\x01")) is ChannelVerdict.BAD
    assert judge_channel_file(_file(bytes.fromhex("AAAAAAAA01002401"))) is ChannelVerdict.SUSPECT
    assert judge_channel_file(_file(None)) is ChannelVerdict.BAD
    assert judge_channel_file(_file(BAD_HEADER, AT_0627 + SECOND)) is ChannelVerdict.GOOD
