"""Host state changes: the one TRANSITIONS table decides, and every change leaves a row."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fleetfix.errors import IllegalTransition, StoreError
from fleetfix.models import TRANSITIONS, Host, HostState
from fleetfix.store import Store, open_reader
from tests.conftest_store import INCIDENT_START, TickingClock, bring_to, open_store

ALLOWED = [(a, b) for a in HostState for b in sorted(TRANSITIONS[a])]
DISALLOWED = [(a, b) for a in HostState for b in HostState if b not in TRANSITIONS[a]]


def _host_name(from_state: HostState, to_state: HostState) -> str:
    return f"{from_state.value}-to-{to_state.value}"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


def _what_a_transition_writes(path: Path) -> tuple[int, list[tuple[str, str, str]]]:
    """The transitions count and every host's current state row, to compare before/after."""
    with sqlite3.connect(path) as conn:
        transitions = conn.execute("SELECT count(*) FROM transitions").fetchone()[0]
        states = conn.execute("SELECT state, reason, since FROM host_state ORDER BY host_id")
        return transitions, states.fetchall()


def test_every_allowed_transition_is_written(store: Store) -> None:
    store.import_hosts([Host(_host_name(a, b)) for a, b in ALLOWED], source="t", actor="pytest")
    for from_state, to_state in ALLOWED:
        name = _host_name(from_state, to_state)
        bring_to(store, name, from_state)
        record = store.transition(name, to_state, reason="allowed", actor="engine")
        assert (record.from_state, record.to_state) == (from_state, to_state)
    with open_reader(store.path) as reader:
        for from_state, to_state in ALLOWED:
            host = reader.host(_host_name(from_state, to_state))
            assert host is not None
            assert host.state is to_state
            assert reader.transitions(host.name)[-1].from_state is from_state


def test_every_disallowed_transition_raises_and_writes_nothing(store: Store) -> None:
    assert len(DISALLOWED) > 20
    names = [_host_name(a, b) for a, b in DISALLOWED]
    store.import_hosts([Host(name) for name in names], source="t", actor="pytest")
    for from_state, to_state in DISALLOWED:
        bring_to(store, _host_name(from_state, to_state), from_state)
    before = _what_a_transition_writes(store.path)
    for from_state, to_state in DISALLOWED:
        with pytest.raises(IllegalTransition) as raised:
            store.transition(_host_name(from_state, to_state), to_state, reason="x", actor="y")
        assert (raised.value.from_state, raised.value.to_state) == (from_state, to_state)
    assert _what_a_transition_writes(store.path) == before


def test_unknown_host_is_a_store_error_naming_it(store: Store) -> None:
    store.import_hosts([Host("VNA01")], source="t", actor="pytest")
    with pytest.raises(StoreError, match="GHOST99"):
        store.transition("GHOST99", HostState.HEALTHY, reason="probe", actor="engine")


def test_transition_finds_host_whatever_the_case(store: Store) -> None:
    store.import_hosts([Host("Pacs-Archive01")], source="t", actor="pytest")
    record = store.transition("PACS-ARCHIVE01", HostState.AFFECTED, reason="c291", actor="e")
    assert record.host == "Pacs-Archive01"


def test_transition_records_reason_actor_run_and_pinned_time(tmp_path: Path) -> None:
    clock = TickingClock()
    with open_store(tmp_path, clock=clock) as store:
        store.import_hosts([Host("RIS01")], source="t", actor="pytest")
        run_id = store.begin_run(command="fix", actor="alice")
        store.transition(
            "RIS01", HostState.BOOT_LOOP, reason="41/1001 burst", actor="engine", run_id=run_id
        )
        with open_reader(store.path) as reader:
            history = reader.transitions("ris01")
    assert [(t.from_state, t.to_state) for t in history] == [
        (None, HostState.NEW),
        (HostState.NEW, HostState.BOOT_LOOP),
    ]
    last = history[-1]
    assert (last.reason, last.actor, last.run_id) == ("41/1001 burst", "engine", run_id)
    assert last.at == clock.now
    assert last.at > INCIDENT_START


def test_attempts_count_entries_into_remediating(store: Store) -> None:
    store.import_hosts([Host("EMR01")], source="t", actor="pytest")
    for state in (
        HostState.AFFECTED,
        HostState.REMEDIATING,
        HostState.AWAITING_REBOOT,
        HostState.REMEDIATING,
        HostState.RECOVERED,
    ):
        store.transition("EMR01", state, reason="wave 1", actor="engine")
    with open_reader(store.path) as reader:
        host = reader.host("EMR01")
    assert host is not None
    assert (host.state, host.attempts) == (HostState.RECOVERED, 2)


def test_transitions_table_refuses_update_and_delete(store: Store) -> None:
    store.import_hosts([Host("EMR01")], source="t", actor="pytest")
    with sqlite3.connect(store.path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE transitions SET reason = 'rewritten'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM transitions")


def test_two_writers_on_one_file_lose_no_transition(tmp_path: Path) -> None:
    names = [f"WS{i:03d}" for i in range(40)]
    with open_store(tmp_path) as first:
        first.import_hosts([Host(name) for name in names], source="t", actor="pytest")
    cycle = [HostState.UNREACHABLE, HostState.HEALTHY] * 5

    def probe_half(hosts: list[str]) -> None:
        with Store.open(tmp_path / "incident.db") as writer:
            for state in cycle:
                for name in hosts:
                    writer.transition(name, state, reason="re-probe", actor="engine")

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(probe_half, [names[::2], names[1::2]]))
    with open_reader(tmp_path / "incident.db") as reader:
        assert len(reader.transitions()) == len(names) * (1 + len(cycle))
        assert reader.state_counts()[HostState.HEALTHY] == len(names)
