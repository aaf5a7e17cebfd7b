"""The dashboard's data rules without a screen: filters, counts, and following a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetfix.models import HostState
from fleetfix.store import Store, open_reader
from tests.conftest_store import TickingClock
from tests.tui.incident import FLEET
from tests.tui.ui import FleetModel, HostFilter, StoreFollower

S = HostState


def loaded(path: Path) -> tuple[FleetModel, StoreFollower]:
    follower = StoreFollower(path)
    model = FleetModel()
    model.update(follower.load().hosts)
    return model, follower


def names(model: FleetModel) -> list[str]:
    return [host.name for host in model.view()]


def test_counts_equal_the_stores(incident: Path) -> None:
    model, follower = loaded(incident)
    follower.close()
    with open_reader(incident) as reader:
        expected = reader.state_counts()
    assert {state: model.counts[state] for state in S} == dict(expected.counts)
    assert model.recovered == 2 and model.hit == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state:needs_hands_on", ["PACS01", "RIS01"]),
        ("state:need,boot", ["PACS01", "RIS01", "VNA01"]),
        ("tag:site=paris state:recovered", ["EMR02"]),
        ("tag:site", sorted(FLEET, key=str.casefold)),
        ("tag:emr", ["EMR01", "EMR02", "EMR03"]),
        ("lab 127.0.0.18", ["LAB02"]),
        ("state:nonsense", []),
        ("", sorted(FLEET, key=str.casefold)),
    ],
)
def test_filter_matches_state_tag_and_words(incident: Path, text: str, expected: list[str]) -> None:
    model, follower = loaded(incident)
    follower.close()
    model.set_filter(HostFilter.parse(text))
    assert names(model) == expected


def test_sort_by_state_groups_hosts(incident: Path) -> None:
    model, follower = loaded(incident)
    follower.close()
    model.set_sort("state")
    states = [host.state.value for host in model.view()]
    assert states == sorted(states)


def test_poll_returns_only_hosts_another_store_changed(incident: Path) -> None:
    model, follower = loaded(incident)
    assert follower.poll().hosts == ()
    with Store.open(incident, clock=TickingClock()) as writer:
        writer.transition("VNA02", S.REMEDIATING, reason="fixing", actor="engine")
        writer.transition("VNA02", S.RECOVERED, reason="verified", actor="engine")
        writer.transition("LAB03", S.HEALTHY, reason="answered", actor="engine")
    changes = follower.poll()
    follower.close()
    assert sorted(host.name for host in changes.hosts) == ["LAB03", "VNA02"]
    assert len(changes.recovered_at) == 1
    assert model.update(changes.hosts) == 2
    assert model.counts[S.RECOVERED] == 3 and model.counts[S.UNREACHABLE] == 0


def test_poll_sees_an_action_outcome_without_a_transition(incident: Path) -> None:
    _, follower = loaded(incident)
    with Store.open(incident, clock=TickingClock()) as writer:
        action = writer.record_intent(run_id=1, host="VNA01", step="safe-boot", destructive=True,
                                      params={})  # fmt: skip
        assert [h.last_action for h in follower.poll().hosts] == ["safe-boot"]
        writer.record_outcome(action, status="ok")
    (changed,) = follower.poll().hosts
    follower.close()
    assert changed.last_action == "safe-boot: ok"


def test_last_seen_follows_answers_and_ok_steps_not_silence(incident: Path) -> None:
    model, follower = loaded(incident)
    model.update_seen(follower.load().seen)
    assert model.last_seen == {}  # the fixed incident has no answer on record
    with Store.open(incident, clock=TickingClock()) as writer:
        answered = writer.record_reachability("LAB01", answered=True, transport="winrm",
                                              status="ok")  # fmt: skip
        writer.record_reachability("LAB03", answered=False, transport=None, status="refused")
        action = writer.record_intent(run_id=1, host="VNA01", step="safe-boot", destructive=True,
                                      params={})  # fmt: skip
        assert model.update_seen(follower.poll().seen) == 1  # the intent alone: not an answer
        writer.record_outcome(action, status="ok")
        failed = writer.record_intent(run_id=1, host="EMR03", step="remove", destructive=True,
                                      params={})  # fmt: skip
        writer.record_outcome(failed, status="error", detail="connection reset")
    assert model.update_seen(follower.poll().seen) == 1
    follower.close()
    assert set(model.last_seen) == {"lab01", "vna01"}
    assert model.last_seen["lab01"] == answered.at
    assert model.last_seen["vna01"] > answered.at
    # A fresh screen reads the same from the whole database.
    fresh = StoreFollower(incident)
    again = FleetModel()
    again.update_seen(fresh.load().seen)
    fresh.close()
    assert again.last_seen == model.last_seen
