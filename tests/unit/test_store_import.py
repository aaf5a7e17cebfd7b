"""Inventory import and the readers that `fleetfix status` and the TUI use."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fleetfix.errors import StoreError
from fleetfix.inventory import load_inventory
from fleetfix.models import Host, HostState, Transport
from fleetfix.store import ImportSummary, Store, open_reader
from tests.conftest_store import open_store, pacs_hosts


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


def test_new_hosts_start_in_state_new_with_a_transition_row(store: Store) -> None:
    summary = store.import_hosts(pacs_hosts(3), source="cmdb.csv", actor="alice")
    assert summary == ImportSummary(added=3, updated=0, unchanged=0)
    with open_reader(store.path) as reader:
        hosts = reader.hosts()
        history = reader.transitions("PACS001")
    assert [h.name for h in hosts] == ["PACS000", "PACS001", "PACS002"]
    assert {h.state for h in hosts} == {HostState.NEW}
    assert hosts[1].tags == ("site=paris", "pacs")
    assert hosts[1].source == "cmdb.csv"
    assert [(t.from_state, t.to_state, t.reason, t.actor) for t in history] == [
        (None, HostState.NEW, "imported from cmdb.csv", "alice")
    ]


def test_reimport_keeps_state_and_history_and_refreshes_reachability(store: Store) -> None:
    store.import_hosts(pacs_hosts(3), source="cmdb.csv", actor="alice")
    store.transition("PACS001", HostState.BOOT_LOOP, reason="41/1001 burst", actor="engine")
    moved = Host(
        "pacs001",
        address="127.0.9.9",
        port=5986,
        transport=Transport.WINRM_HTTPS,
        tags=("site=lyon",),
    )
    fresh = [*pacs_hosts(3)[::2], moved, Host("PACS003")]

    summary = store.import_hosts(fresh, source="cmdb-v2.csv", actor="bob")

    assert summary == ImportSummary(added=1, updated=1, unchanged=2)
    with open_reader(store.path) as reader:
        host = reader.host("PACS001")
        history = reader.transitions("PACS001")
    assert host is not None
    assert (host.state, host.reason) == (HostState.BOOT_LOOP, "41/1001 burst")
    assert (host.name, host.address, host.port) == ("pacs001", "127.0.9.9", 5986)
    assert (host.transport, host.tags, host.source) == (
        Transport.WINRM_HTTPS,
        ("site=lyon",),
        "cmdb-v2.csv",
    )
    assert host.last_seen_in_inventory > host.first_seen
    assert [t.to_state for t in history] == [HostState.NEW, HostState.BOOT_LOOP]


def test_names_differing_only_in_case_are_one_host(store: Store) -> None:
    summary = store.import_hosts(
        [Host("ris01"), Host("RIS01", address="127.0.0.7")], source="a.txt", actor="alice"
    )
    assert summary == ImportSummary(added=1, updated=0, unchanged=0, duplicates=1)
    with open_reader(store.path) as reader:
        # The first row wins, as in the inventory validator.
        assert [(h.name, h.address) for h in reader.hosts()] == [("ris01", None)]


def test_a_rooted_name_and_the_plain_name_are_one_host(store: Store, tmp_path: Path) -> None:
    first = tmp_path / "dns-export.txt"
    first.write_text("ws01.corp.example.\n", encoding="utf-8")
    second = tmp_path / "cmdb.txt"
    second.write_text("WS01.corp.example\n", encoding="utf-8")
    store.import_hosts(load_inventory(first).hosts, source=first.name, actor="alice")
    summary = store.import_hosts(load_inventory(second).hosts, source=second.name, actor="alice")
    assert (summary.added, summary.updated) == (0, 1)
    with open_reader(store.path) as reader:
        assert [h.name for h in reader.hosts()] == ["WS01.corp.example"]


def test_import_writes_one_audit_row_with_counts(store: Store) -> None:
    store.import_hosts(pacs_hosts(4), source="cmdb.csv", actor="alice")
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT actor, event, host, details FROM audit").fetchall()
    assert len(rows) == 1
    actor, event, host, details = rows[0]
    assert (actor, event, host) == ("alice", "inventory.import", None)
    assert json.loads(details) == {
        "source": "cmdb.csv",
        "added": 4,
        "updated": 0,
        "unchanged": 0,
        "duplicates": 0,
    }


def test_a_bad_host_leaves_the_whole_import_unwritten(store: Store) -> None:
    with pytest.raises(StoreError, match="empty name"):
        store.import_hosts([*pacs_hosts(5), Host("  ")], source="bad.csv", actor="alice")
    with sqlite3.connect(store.path) as conn:
        for table in ("hosts", "host_state", "transitions", "audit"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_hosts_filter_by_tag_exact_key_value_or_key(store: Store) -> None:
    store.import_hosts(
        [
            Host("A", tags=("Site=Paris", "PACS")),
            Host("B", tags=("site=lyon",)),
            Host("C", tags=("site",)),
            Host("D", tags=("website=x",)),
        ],
        source="t",
        actor="alice",
    )
    with open_reader(store.path) as reader:

        def names(tag: str) -> list[str]:
            return [h.name for h in reader.hosts(tag=tag)]

        assert names("pacs") == ["A"]
        assert names("site=paris") == ["A"]
        assert names("SITE") == ["A", "B", "C"]
        assert names("site=") == []
        assert names("nowhere") == []


def test_hosts_filter_by_state_and_tag_together(store: Store) -> None:
    store.import_hosts(
        [*pacs_hosts(3), Host("LYON01", tags=("site=lyon",))],
        source="t",
        actor="alice",
    )
    store.transition("PACS000", HostState.UNREACHABLE, reason="no answer", actor="engine")
    store.transition("LYON01", HostState.UNREACHABLE, reason="no answer", actor="engine")
    with open_reader(store.path) as reader:
        found = reader.hosts(state=HostState.UNREACHABLE, tag="site=paris")
        assert [h.name for h in found] == ["PACS000"]
        assert reader.hosts(state=HostState.FAILED) == []


def test_state_counts_include_zeros_and_keep_unreachable_and_failed_apart(store: Store) -> None:
    store.import_hosts(pacs_hosts(4), source="t", actor="alice")
    store.transition("PACS000", HostState.UNREACHABLE, reason="no answer", actor="engine")
    store.transition("PACS001", HostState.FAILED, reason="access denied", actor="engine")
    with open_reader(store.path) as reader:
        counts = reader.state_counts()
        by_tag = reader.tag_counts()
    assert set(counts.counts) == set(HostState)
    assert (counts[HostState.NEW], counts[HostState.UNREACHABLE], counts[HostState.FAILED]) == (
        2,
        1,
        1,
    )
    assert counts[HostState.RECOVERED] == 0
    assert counts.total == 4
    assert set(by_tag) == {"site=paris", "pacs"}
    assert by_tag["pacs"][HostState.UNREACHABLE] == 1
    assert by_tag["pacs"][HostState.FAILED] == 1
    assert by_tag["site=paris"][HostState.NEW] == 2
    assert by_tag["site=paris"][HostState.RECOVERED] == 0


def test_tag_counts_fold_case_and_count_each_host_once(store: Store) -> None:
    store.import_hosts(
        [Host("A", tags=("PACS", "pacs")), Host("B", tags=("Pacs",))], source="t", actor="alice"
    )
    with open_reader(store.path) as reader:
        assert reader.tag_counts()["pacs"][HostState.NEW] == 2


def test_reader_sees_what_the_writer_committed(store: Store) -> None:
    with open_reader(store.path) as reader:
        assert reader.hosts() == []
        store.import_hosts(pacs_hosts(2), source="t", actor="alice")
        assert len(reader.hosts()) == 2
        store.transition("PACS000", HostState.HEALTHY, reason="probe clean", actor="engine")
        host = reader.host("PACS000")
        assert host is not None
        assert host.state is HostState.HEALTHY


def test_reader_does_not_see_an_uncommitted_write(store: Store) -> None:
    store.import_hosts(pacs_hosts(1), source="t", actor="alice")
    with (
        sqlite3.connect(store.path, isolation_level=None) as other_writer,
        open_reader(store.path) as reader,
    ):
        other_writer.execute("BEGIN IMMEDIATE")
        other_writer.execute("UPDATE host_state SET state = 'recovered'")
        host = reader.host("PACS000")
        other_writer.execute("ROLLBACK")
    assert host is not None
    assert host.state is HostState.NEW


def test_facts_are_kept_as_history(store: Store) -> None:
    store.import_hosts(pacs_hosts(1), source="t", actor="alice")
    store.record_facts("PACS000", {"channel_files": ["C-00000291-00000000-00000032.sys"]})
    store.record_facts("pacs000", {"channel_files": []})
    with open_reader(store.path) as reader:
        history = reader.facts("PACS000")
    assert [f.facts for f in history] == [
        {"channel_files": ["C-00000291-00000000-00000032.sys"]},
        {"channel_files": []},
    ]
    assert history[0].collected_at < history[1].collected_at


def test_facts_that_are_not_json_are_refused(store: Store) -> None:
    store.import_hosts(pacs_hosts(1), source="t", actor="alice")
    with pytest.raises(StoreError, match="plain JSON"):
        store.record_facts("PACS000", {"handle": object()})
