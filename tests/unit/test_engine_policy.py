"""Run policy values: `--canary`/`--wave-size` shares, wave planning, priority order, and the
policy's round trip through the store's `runs.options`."""

from __future__ import annotations

import pytest

from fleetfix.engine.order import order_hosts, plan_waves
from fleetfix.engine.policy import RunPolicy, Share
from fleetfix.errors import ConfigError
from fleetfix.models import Host
from fleetfix.probe.rules import TimestampRule


def hosts(count: int) -> list[Host]:
    return [Host(f"H{i:02d}") for i in range(count)]


@pytest.mark.parametrize(
    ("text", "value", "percent"),
    [("5", 5.0, False), ("2%", 2.0, True), (" 12 % ", 12.0, True), ("100%", 100.0, True),
     ("0.5%", 0.5, True)],
)  # fmt: skip
def test_share_parses_counts_and_percentages(text: str, value: float, percent: bool) -> None:
    assert Share.parse(text, option="--canary") == Share(value, percent)


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "1.5", "0%", "101%", "5%%", "%5"])
def test_share_rejects_bad_input_naming_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--canary"):
        Share.parse(text, option="--canary")


@pytest.mark.parametrize(
    ("share", "total", "expected"),
    [(Share(1, True), 50, 1), (Share(1, True), 101, 2), (Share(10, True), 25, 3),
     (Share(10, True), 20, 2), (Share(100, True), 7, 7), (Share(5, False), 3, 3),
     (Share(5, False), 0, 0)],
)  # fmt: skip
def test_a_share_of_hosts_rounds_up_and_stays_within_the_fleet(
    share: Share, total: int, expected: int
) -> None:
    assert share.of(total) == expected


def test_share_prints_as_it_was_written() -> None:
    assert (str(Share(5, False)), str(Share(2.5, True))) == ("5", "2.5%")


def test_waves_are_the_canary_then_waves_of_the_rest() -> None:
    fleet = hosts(10)
    waves = plan_waves(fleet, canary=Share(2, False), wave_size=Share(3, False))
    assert [len(w) for w in waves] == [2, 3, 3, 2]
    assert [h for w in waves for h in w] == fleet  # order kept, nobody dropped or repeated


def test_percent_waves_round_up_of_the_whole_fleet() -> None:
    # 10% of 25 hosts is 2.5: 3 hosts in the canary and in every wave.
    waves = plan_waves(hosts(25), canary=Share(10, True), wave_size=Share(10, True))
    assert [len(w) for w in waves] == [3, 3, 3, 3, 3, 3, 3, 3, 1]


def test_without_wave_size_the_rest_is_one_wave() -> None:
    assert [len(w) for w in plan_waves(hosts(7), canary=Share(1, False), wave_size=None)] == [1, 6]
    assert [len(w) for w in plan_waves(hosts(7), canary=None, wave_size=None)] == [7]


def test_a_canary_as_large_as_the_fleet_leaves_no_other_wave() -> None:
    assert [len(w) for w in plan_waves(hosts(3), canary=Share(5, False), wave_size=None)] == [3]
    assert plan_waves([], canary=Share(1, False), wave_size=Share(1, False)) == []


def tagged(name: str, *tags: str) -> Host:
    return Host(name, tags=tags)


def test_criticality_numbers_go_first_ascending_then_words_then_untagged() -> None:
    fleet = [
        tagged("untagged-a"), tagged("c10", "criticality=10"), tagged("c2", "criticality=2"),
        tagged("word-low", "criticality=low"), tagged("c1", "criticality=1"),
        tagged("word-high", "criticality=High"), tagged("untagged-b"),
    ]  # fmt: skip
    ordered = [h.name for h in order_hosts(fleet, "criticality")]
    # 10 after 2: numbers compare as numbers, not as text.
    assert ordered == ["c1", "c2", "c10", "word-high", "word-low", "untagged-a", "untagged-b"]


def test_listed_values_go_first_in_the_order_listed_and_ties_keep_inventory_order() -> None:
    fleet = [
        tagged("ris-1", "role=ris"), tagged("emr-1", "role=EMR"), tagged("none"),
        tagged("pacs-1", "role=pacs"), tagged("emr-2", "role=emr"), tagged("pacs-2", "role=PACS"),
    ]  # fmt: skip
    ordered = [h.name for h in order_hosts(fleet, "role=PACS, EMR")]
    assert ordered == ["pacs-1", "pacs-2", "emr-1", "emr-2", "ris-1", "none"]


def test_no_priority_tag_keeps_the_inventory_order() -> None:
    fleet = [tagged("b", "criticality=2"), tagged("a", "criticality=1")]
    assert order_hosts(fleet, "") == fleet


def test_policy_round_trips_through_its_recorded_form() -> None:
    policy = RunPolicy(
        pack="crowdstrike-291", params={"Rule": "advisory"}, concurrency=7,
        canary=Share(2, True), wave_size=Share(10, False), max_fail_percent=20.0,
        priority_tag="role=PACS,EMR", dry_run=True, rule=TimestampRule.ADVISORY,
        retry_deadline=12.5, watch_interval=0.2, hands_on_after=60.0, reboot_timeout=90.0,
        auth_failure_limit=2,
    )  # fmt: skip
    recorded = policy.as_dict()
    assert recorded["canary"] == "2%" and recorded["rule"] == str(TimestampRule.ADVISORY)
    assert RunPolicy.from_dict(recorded) == policy
    # Keys a newer fleetfix wrote are ignored, not fatal, when an older one resumes.
    assert RunPolicy.from_dict({**recorded, "from_the_future": 1}) == policy


def test_default_policy_round_trips() -> None:
    policy = RunPolicy(pack="sensor-health")
    assert RunPolicy.from_dict(policy.as_dict()) == policy


@pytest.mark.parametrize(
    "changes",
    [{"concurrency": 0}, {"max_fail_percent": 100.0}, {"max_fail_percent": -1.0},
     {"retry_deadline": 0.0}, {"watch_interval": -0.1}, {"hands_on_after": 0.0}],
)  # fmt: skip
def test_policy_refuses_values_that_cannot_work(changes: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RunPolicy(pack="p", **changes)  # type: ignore[arg-type]
