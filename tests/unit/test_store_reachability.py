"""The store's reachability history and learned transports, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fleetfix.errors import StoreError
from fleetfix.models import Host, Transport
from fleetfix.store import Store, open_reader
from tests.conftest_store import INCIDENT_START, TickingClock, open_store, pacs_hosts


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as opened:
        opened.import_hosts(pacs_hosts(2), source="cmdb.csv", actor="alice")
        yield opened


def test_attempts_come_back_oldest_first_with_what_was_seen(store: Store) -> None:
    run_id = store.begin_run(command="probe", actor="alice")
    first = store.record_reachability(
        "pacs000", answered=True, transport="winrm-https", status="ok", run_id=run_id
    )
    store.record_reachability(
        "PACS000", answered=False, transport=None, status="unreachable", detail="refused"
    )
    store.record_reachability("PACS001", answered=True, transport="ssh", status="auth_failed")
    with open_reader(store.path) as reader:
        seen = reader.reachability("Pacs000")
    assert first.host == "PACS000"  # the inventory's spelling, whatever the caller typed
    assert [(r.answered, r.transport, r.status, r.detail, r.run_id) for r in seen] == [
        (True, "winrm-https", "ok", "", run_id),
        (False, None, "unreachable", "refused", None),
    ]
    assert seen[0] == first
    assert seen[0].at < seen[1].at
    assert store.reachability("PACS000") == seen


def test_since_keeps_only_attempts_from_that_time_on(tmp_path: Path) -> None:
    clock = TickingClock()
    with open_store(tmp_path, clock=clock) as store:
        store.import_hosts([Host("EMR01")], source="a.txt", actor="alice")
        for answered in (True, False, True):
            store.record_reachability("EMR01", answered=answered, transport=None, status="x")
        # import at +1 s, attempts at +2, +3, +4 s: from +3 s on leaves the last two.
        since = INCIDENT_START + timedelta(seconds=3)
        recent = store.reachability("EMR01", since=since)
    assert [r.answered for r in recent] == [False, True]
    with open_reader(store.path) as reader:
        assert reader.reachability("EMR01", since=since) == recent


def test_reachability_is_append_only(store: Store) -> None:
    store.record_reachability("PACS000", answered=True, transport=None, status="ok")
    with sqlite3.connect(store.path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE reachability SET answered = 0")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM reachability")


def test_an_unknown_host_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="NOT-THERE"):
        store.record_reachability("NOT-THERE", answered=False, transport=None, status="x")
    with pytest.raises(StoreError, match="NOT-THERE"):
        store.set_learned_transport("NOT-THERE", Transport.SSH)


def test_learned_transport_is_kept_changed_and_survives_reimport(store: Store) -> None:
    assert (host := store.host("PACS000")) is not None and host.learned_transport is None
    store.set_learned_transport("PACS000", Transport.WINRM_HTTPS)
    store.set_learned_transport("PACS000", Transport.SSH)
    # A fresh CMDB export that changes the address still does not forget it.
    moved = [Host("PACS000", address="127.0.9.9"), pacs_hosts(2)[1]]
    summary = store.import_hosts(moved, source="cmdb2.csv", actor="alice")
    assert summary.updated == 1
    with open_reader(store.path) as reader:
        record = reader.host("PACS000")
        other = reader.host("PACS001")
    assert record is not None and record.learned_transport is Transport.SSH
    assert record.address == "127.0.9.9"
    assert other is not None and other.learned_transport is None


def test_learned_transport_can_be_forgotten_but_auto_is_not_a_transport(store: Store) -> None:
    store.set_learned_transport("PACS000", Transport.PSRP)
    store.set_learned_transport("PACS000", None)
    assert (host := store.host("PACS000")) is not None and host.learned_transport is None
    with pytest.raises(StoreError, match="auto"):
        store.set_learned_transport("PACS000", Transport.AUTO)
