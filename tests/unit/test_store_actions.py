"""Runs and intent/outcome rows: what a resumed run relies on after a crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fleetfix.errors import StoreError
from fleetfix.models import HostState
from fleetfix.store import PENDING, Store, open_reader
from tests.conftest_store import open_store, pacs_hosts

DELETE_CHANNEL_FILE = "delete-channel-file-291"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(tmp_path)
    opened.import_hosts(pacs_hosts(3), source="cmdb.csv", actor="alice")
    return opened


def _intent(store: Store, run_id: int, host: str = "PACS000") -> int:
    return store.record_intent(
        run_id=run_id,
        host=host,
        step=DELETE_CHANNEL_FILE,
        destructive=True,
        params={"Path": r"C:\Windows\System32\drivers\CrowdStrike"},
    )


def test_intent_is_committed_before_any_outcome(store: Store) -> None:
    run_id = store.begin_run(command="fix", actor="alice", pack="cs-291")
    action_id = _intent(store, run_id)
    # A separate process-like connection sees it: it is on disk, not in the writer's cache.
    with open_reader(store.path) as reader:
        [intent] = reader.open_intents()
    assert (intent.id, intent.host, intent.step, intent.status) == (
        action_id,
        "PACS000",
        DELETE_CHANNEL_FILE,
        PENDING,
    )
    assert intent.destructive
    assert intent.params == {"Path": r"C:\Windows\System32\drivers\CrowdStrike"}
    assert intent.outcome_at is None


def test_intent_commits_under_synchronous_full_then_returns_to_normal(store: Store) -> None:
    run_id = store.begin_run(command="fix", actor="alice")
    statements: list[str] = []
    conn = store._conn  # tracing the writer's own connection is the only way to watch PRAGMAs
    conn.set_trace_callback(statements.append)
    try:
        _intent(store, run_id)
    finally:
        conn.set_trace_callback(None)
    full = statements.index("PRAGMA synchronous=FULL")
    commit = statements.index("COMMIT")
    insert = next(i for i, s in enumerate(statements) if "INSERT INTO actions" in s)
    assert full < insert < commit < statements.index("PRAGMA synchronous=NORMAL")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_outcome_closes_the_intent_and_is_written_once(store: Store) -> None:
    run_id = store.begin_run(command="fix", actor="alice")
    action_id = _intent(store, run_id)
    store.record_outcome(action_id, status="ok", detail="1 file deleted")
    assert store.open_intents() == []
    with pytest.raises(StoreError, match="already has an outcome"):
        store.record_outcome(action_id, status="failed")
    with open_reader(store.path) as reader:
        [action] = reader.actions(run_id=run_id)
        host = reader.host("PACS000")
    assert (action.status, action.detail) == ("ok", "1 file deleted")
    assert action.outcome_at is not None
    assert action.outcome_at > action.intent_at
    assert host is not None
    assert host.last_action == f"{DELETE_CHANNEL_FILE}: ok"


def test_pending_is_not_an_outcome(store: Store) -> None:
    action_id = _intent(store, store.begin_run(command="fix", actor="alice"))
    with pytest.raises(StoreError, match="not an outcome"):
        store.record_outcome(action_id, status=PENDING)


def test_open_intents_survive_reopening_and_filter_by_run(store: Store) -> None:
    first = store.begin_run(command="fix", actor="alice")
    second = store.begin_run(command="fix", actor="alice")
    _intent(store, first, "PACS000")
    _intent(store, second, "PACS001")
    done = _intent(store, second, "PACS002")
    store.record_outcome(done, status="ok")
    store.close()
    with Store.open(store.path) as reopened:
        assert [a.host for a in reopened.open_intents()] == ["PACS000", "PACS001"]
        assert [a.host for a in reopened.open_intents(run_id=second)] == ["PACS001"]


def test_intent_for_an_unknown_run_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        _intent(store, run_id=999)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM actions").fetchone()[0] == 0


def test_runs_are_listed_with_their_status(store: Store) -> None:
    run_id = store.begin_run(
        command="fix", actor="alice", pack="cs-291", options={"wave_size": 50, "dry_run": False}
    )
    store.finish_run(run_id, status="completed")
    with pytest.raises(StoreError, match="already finished"):
        store.finish_run(run_id, status="aborted")
    with open_reader(store.path) as reader:
        [run] = reader.runs()
    assert (run.command, run.actor, run.pack, run.status) == ("fix", "alice", "cs-291", "completed")
    assert run.options == {"wave_size": 50, "dry_run": False}
    assert run.finished_at is not None
    assert run.finished_at > run.started_at


def test_actions_can_be_read_per_host_and_per_run(store: Store) -> None:
    first = store.begin_run(command="run", actor="alice", pack="cs-291")
    second = store.begin_run(command="run", actor="alice", pack="cs-291")
    ids = {(run, host): _intent(store, run, host)
           for run in (first, second) for host in ("PACS000", "pacs001")}  # fmt: skip
    with open_reader(store.path) as reader:
        mine = reader.actions(host="pacs000")  # names compare as Windows compares them
        theirs = reader.actions(run_id=second, host="PACS001")
        assert [a.id for a in mine] == [ids[first, "PACS000"], ids[second, "PACS000"]]
        assert [a.id for a in theirs] == [ids[second, "pacs001"]]
        assert len(reader.actions()) == 4 and len(reader.actions(run_id=first)) == 2
        with pytest.raises(StoreError, match="unknown host 'NOPE'"):
            reader.actions(host="NOPE")


def test_state_counts_can_be_limited_to_some_hosts(store: Store) -> None:
    store.transition("PACS001", HostState.UNREACHABLE, reason="silent", actor="engine")
    with open_reader(store.path) as reader:
        every = reader.state_counts()
        some = reader.state_counts(among=["pacs001", "PACS002", "NOT-IN-THIS-INCIDENT"])
    assert (every[HostState.NEW], every[HostState.UNREACHABLE]) == (2, 1)
    assert (some[HostState.NEW], some[HostState.UNREACHABLE], some.total) == (1, 1, 2)


def test_the_audit_log_can_be_read_for_one_host(store: Store) -> None:
    store.audit("operator.note", actor="alice", host="PACS001", details={"note": "on site"})
    store.audit("operator.note", actor="alice", host="PACS002", details={"note": "later"})
    store.audit("host.hands_on", actor="engine", host="pacs001", details={"why": "silent"})
    store.audit("run.started", actor="alice", details={})
    with open_reader(store.path) as reader:
        mine = reader.audit_log(host="Pacs001")
        notes = reader.audit_log(event="operator.note", host="PACS001")
    assert [(r.event, r.host) for r in mine] == [("operator.note", "PACS001"),
                                                ("host.hands_on", "pacs001")]  # fmt: skip
    assert [r.details["note"] for r in notes] == ["on site"]
