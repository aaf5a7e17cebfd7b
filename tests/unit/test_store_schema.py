"""Opening incident databases: creation, migrations, WAL, and refusing newer schemas."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlite_utils import Database

from fleetfix.errors import SchemaTooNew, StoreError
from fleetfix.models import Host, HostState, Transport
from fleetfix.store import Store, open_reader
from fleetfix.store.schema import KNOWN_MIGRATIONS, MIGRATIONS
from tests.conftest_store import open_store, pacs_hosts


def _applied(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]


def test_fresh_file_gets_every_migration(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        assert _applied(store.path) == list(KNOWN_MIGRATIONS)
    assert len(KNOWN_MIGRATIONS) >= 2


def test_reopening_applies_nothing_and_keeps_data(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.import_hosts(pacs_hosts(3), source="cmdb.csv", actor="alice")
        before = _applied(store.path)
    with open_store(tmp_path) as store, open_reader(store.path) as reader:
        assert _applied(store.path) == before
        assert len(reader.hosts()) == 3


def test_database_from_v1_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "incident.db"
    db = Database(path)
    MIGRATIONS.apply(db, stop_before=KNOWN_MIGRATIONS[1])
    db.execute(
        "INSERT INTO hosts (name, name_key, transport, source, first_seen,"
        " last_seen_in_inventory) VALUES ('EMR01', 'emr01', 'auto', 'old.txt',"
        " '2024-07-19T04:09:00.000000Z', '2024-07-19T04:09:00.000000Z')"
    )
    db.execute(
        "INSERT INTO host_state (host_id, state, reason, since) VALUES"
        " (1, 'boot_loop', 'seen by v1', '2024-07-19T04:10:00.000000Z')"
    )
    db.close()
    assert _applied(path) == [KNOWN_MIGRATIONS[0]]

    with Store.open(path), open_reader(path) as reader:
        assert _applied(path) == list(KNOWN_MIGRATIONS)
        emr = reader.host("emr01")
        assert emr is not None
        assert emr.state is HostState.BOOT_LOOP


def test_reader_refuses_a_database_that_needs_upgrading(tmp_path: Path) -> None:
    path = tmp_path / "incident.db"
    MIGRATIONS.apply(Database(path), stop_before=KNOWN_MIGRATIONS[1])
    with pytest.raises(StoreError, match="older fleetfix"):
        open_reader(path)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_database_from_a_newer_fleetfix_is_refused_untouched(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        path = store.path
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
            " VALUES ('fleetfix', 'm099_from_the_future', '2030-01-01')"
        )
    digest = _file_digest(path)

    with pytest.raises(SchemaTooNew, match="m099_from_the_future") as raised:
        Store.open(path)
    assert "newer fleetfix" in str(raised.value)
    assert _file_digest(path) == digest
    with pytest.raises(SchemaTooNew):
        open_reader(path)


def test_wal_mode_is_on(tmp_path: Path) -> None:
    with open_store(tmp_path) as store, sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, just notes from the war room\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.db"):
        Store.open(path)


def test_reader_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"missing\.db"):
        open_reader(tmp_path / "missing.db")


def test_reader_connection_cannot_write(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.import_hosts([Host("RIS01")], source="a.txt", actor="alice")
        with open_reader(store.path) as reader:
            conn = reader._conn  # the reader's own connection: proving it is read-only
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                conn.execute("DELETE FROM host_state")


def test_reader_opens_after_the_writer_has_closed(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.import_hosts(pacs_hosts(2), source="a.txt", actor="alice")
    with open_reader(store.path) as reader:
        assert [h.name for h in reader.hosts()] == ["PACS000", "PACS001"]
        assert reader.verify_audit().ok


def test_a_naive_clock_is_refused_before_it_skews_the_timeline(tmp_path: Path) -> None:
    def naive_clock() -> datetime:
        return datetime(2024, 7, 19, 4, 9)

    store = Store.open(tmp_path / "incident.db", clock=naive_clock)
    with store, pytest.raises(StoreError, match="naive"):
        store.import_hosts([Host("RIS01")], source="a.txt", actor="alice")


def test_times_are_stored_as_utc_iso_strings(tmp_path: Path) -> None:
    def paris_clock() -> datetime:
        return datetime(2024, 7, 19, 7, 27, tzinfo=timezone(timedelta(hours=2)))

    with Store.open(tmp_path / "incident.db", clock=paris_clock) as store:
        store.import_hosts([Host("RIS01")], source="a.txt", actor="alice")
    with sqlite3.connect(store.path) as conn:
        stored = conn.execute("SELECT since FROM host_state").fetchone()[0]
    assert stored == "2024-07-19T05:27:00.000000Z"


def test_database_from_v2_gains_reachability_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "incident.db"
    db = Database(path)
    MIGRATIONS.apply(db, stop_before="m003_reachability")
    db.execute(
        "INSERT INTO hosts (name, name_key, transport, source, first_seen,"
        " last_seen_in_inventory) VALUES ('PACS01', 'pacs01', 'auto', 'old.csv',"
        " '2024-07-19T04:09:00.000000Z', '2024-07-19T04:09:00.000000Z')"
    )
    db.execute(
        "INSERT INTO host_state (host_id, state, reason, since) VALUES"
        " (1, 'affected', 'seen by v2', '2024-07-19T04:10:00.000000Z')"
    )
    db.execute(
        "INSERT INTO facts (host_id, collected_at, facts) VALUES"
        " (1, '2024-07-19T04:10:00.000000Z', '{\"host_name\":\"PACS01\"}')"
    )
    db.close()
    assert _applied(path) == ["m001_incident_schema", "m002_reader_indexes"]

    with Store.open(path) as store:
        assert _applied(path) == list(KNOWN_MIGRATIONS)
        store.record_reachability("PACS01", answered=False, transport=None, status="unreachable")
        store.set_learned_transport("PACS01", Transport.SSH)
    with open_reader(path) as reader:
        pacs = reader.host("pacs01")
        assert pacs is not None
        assert (pacs.state, pacs.reason) == (HostState.AFFECTED, "seen by v2")
        assert pacs.learned_transport is Transport.SSH
        assert [f.facts for f in reader.facts("PACS01")] == [{"host_name": "PACS01"}]
        assert [r.status for r in reader.reachability("PACS01")] == ["unreachable"]
