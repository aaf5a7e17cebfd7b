"""The audit log's hash chain: verify passes on honest data and finds every kind of tampering."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from fleetfix.errors import StoreError
from fleetfix.store import AuditReport, Store, open_reader
from fleetfix.store.audit import GENESIS_HASH
from tests.conftest_store import open_store, pacs_hosts

KEY_READ = "bitlocker.key_read"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(tmp_path)
    opened.import_hosts(pacs_hosts(2), source="cmdb.csv", actor="alice")
    for number in range(4):
        opened.audit(
            KEY_READ,
            actor="bob",
            host="PACS001",
            details={"key_id": f"1A2B3C4D-000{number}", "reason": "technician at the console"},
        )
    return opened


def _verify(path: Path) -> AuditReport:
    with open_reader(path) as reader:
        return reader.verify_audit()


def _tamper(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for trigger in ("audit_append_only_update", "audit_append_only_delete"):
            conn.execute(f"DROP TRIGGER {trigger}")
        for statement in statements:
            conn.execute(statement)


def test_honest_chain_verifies(store: Store) -> None:
    assert _verify(store.path) == AuditReport(ok=True, rows_checked=5)


def test_empty_log_verifies(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        assert _verify(store.path) == AuditReport(ok=True, rows_checked=0)


def test_chain_starts_at_zeros_and_links_each_row(store: Store) -> None:
    with sqlite3.connect(store.path) as conn:
        links = conn.execute("SELECT prev_hash, row_hash FROM audit ORDER BY id").fetchall()
    assert links[0][0] == GENESIS_HASH
    assert all(links[i][0] == links[i - 1][1] for i in range(1, len(links)))


def test_triggers_refuse_update_and_delete(store: Store) -> None:
    with sqlite3.connect(store.path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE id = 5")
    assert _verify(store.path).ok


@pytest.mark.parametrize(
    "assignment",
    [
        "actor = 'mallory'",
        "at = '2024-07-19T05:00:00.000000Z'",
        "event = 'nothing.happened'",
        "host = 'PACS000'",
        'details = \'{"key_id":"FFFFFFFF"}\'',
        "prev_hash = '" + "1" * 64 + "'",
        "row_hash = '" + "2" * 64 + "'",
        "id = 30",
    ],
)
def test_update_of_any_column_is_detected(store: Store, assignment: str) -> None:
    _tamper(store.path, f"UPDATE audit SET {assignment} WHERE id = 3")
    report = _verify(store.path)
    assert not report.ok
    assert report.first_bad_row == 3
    assert report.rows_checked == 2


def test_delete_of_a_middle_row_is_detected(store: Store) -> None:
    _tamper(store.path, "DELETE FROM audit WHERE id = 2")
    report = _verify(store.path)
    assert (report.ok, report.first_bad_row, report.rows_checked) == (False, 2, 1)
    assert report.problem is not None
    assert "missing" in report.problem


def test_delete_of_the_last_row_is_detected_by_the_head_marker(store: Store) -> None:
    _tamper(store.path, "DELETE FROM audit WHERE id = 5")
    report = _verify(store.path)
    assert (report.ok, report.first_bad_row, report.rows_checked) == (False, 5, 4)
    assert report.problem is not None
    assert "head marker" in report.problem


def test_appending_after_verify_keeps_the_chain_whole(store: Store) -> None:
    store.audit("run.started", actor="alice")
    assert _verify(store.path) == AuditReport(ok=True, rows_checked=6)


def test_details_that_are_not_json_are_refused_before_writing(store: Store) -> None:
    with pytest.raises(StoreError, match="plain JSON"):
        store.audit("odd", actor="alice", details={"when": object()})
    assert _verify(store.path).rows_checked == 5


def test_audit_log_lists_rows_by_event(store: Store) -> None:
    with open_reader(store.path) as reader:
        reads = reader.audit_log(event=KEY_READ)
        everything = reader.audit_log()
    assert [r.id for r in everything] == [1, 2, 3, 4, 5]
    assert [r.details["key_id"] for r in reads] == [f"1A2B3C4D-000{n}" for n in range(4)]
    assert {(r.actor, r.host) for r in reads} == {("bob", "PACS001")}
    assert all(a.at < b.at for a, b in itertools.pairwise(everything))
