"""Inventory import: many hosts in one transaction, without touching recovery state.

Re-importing an inventory (a fresh CMDB export, a corrected CSV) refreshes how to reach each
host, never where it is in the recovery: its state and history stay as they are.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from fleetfix.errors import StoreError
from fleetfix.models import Host, HostState
from fleetfix.store.connect import fold
from fleetfix.store.records import ImportSummary

_INSERT_HOST = """
    INSERT INTO hosts (name, name_key, address, port, transport, tags, source, first_seen,
                       last_seen_in_inventory)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPDATE_HOST = """
    UPDATE hosts SET name = ?, address = ?, port = ?, transport = ?, tags = ?, source = ?,
                     last_seen_in_inventory = ?
    WHERE id = ?
"""
_SEEN_AGAIN = "UPDATE hosts SET source = ?, last_seen_in_inventory = ? WHERE id = ?"
# Rows with an id above the pre-import maximum are this import's: we hold the write lock.
_NEW_STATES = """
    INSERT INTO host_state (host_id, state, reason, since, attempts)
    SELECT id, ?, ?, ?, 0 FROM hosts WHERE id > ? ORDER BY id
"""
_NEW_TRANSITIONS = """
    INSERT INTO transitions (host_id, from_state, to_state, reason, actor, run_id, at)
    SELECT id, NULL, ?, ?, ?, NULL, ? FROM hosts WHERE id > ? ORDER BY id
"""

_Reachability = tuple[str, str | None, int | None, str, str]


@dataclass
class _Plan:
    new: list[tuple[object, ...]] = field(default_factory=list)
    changed: list[tuple[object, ...]] = field(default_factory=list)
    unchanged: list[tuple[object, ...]] = field(default_factory=list)


def _tags_json(host: Host) -> str:
    # Exact duplicates say nothing twice and would count a host twice per tag.
    return json.dumps(list(dict.fromkeys(host.tags)), separators=(",", ":"), ensure_ascii=False)


def _reachability(host: Host) -> _Reachability:
    return (host.name, host.address, host.port, host.transport.value, _tags_json(host))


def _dedupe(hosts: Sequence[Host]) -> tuple[dict[str, Host], int]:
    """The first row wins when a caller names a host twice: the inventory validator's rule
    (`--skip-invalid` keeps what the file meant first), so both paths agree."""
    by_key: dict[str, Host] = {}
    for host in hosts:
        if not host.name.strip():
            raise StoreError("an inventory host has an empty name; nothing was imported")
        by_key.setdefault(fold(host.name), host)
    return by_key, len(hosts) - len(by_key)


def _plan(conn: sqlite3.Connection, incoming: dict[str, Host], *, source: str, now: str) -> _Plan:
    existing: dict[str, tuple[int, _Reachability]] = {
        key: (row_id, (name, address, port, transport, tags))
        for row_id, key, name, address, port, transport, tags in conn.execute(
            "SELECT id, name_key, name, address, port, transport, tags FROM hosts"
        )
    }
    plan = _Plan()
    for key, host in incoming.items():
        wanted = _reachability(host)
        known = existing.get(key)
        if known is None:
            plan.new.append((wanted[0], key, *wanted[1:], source, now, now))
        elif known[1] != wanted:
            plan.changed.append((*wanted, source, now, known[0]))
        else:
            plan.unchanged.append((source, now, known[0]))
    return plan


def import_hosts(
    conn: sqlite3.Connection, hosts: Sequence[Host], *, source: str, actor: str, now: str
) -> ImportSummary:
    """Write the import. The caller holds a BEGIN IMMEDIATE transaction and adds the audit row."""
    incoming, duplicates = _dedupe(hosts)
    plan = _plan(conn, incoming, source=source, now=now)
    max_before = conn.execute("SELECT coalesce(max(id), 0) FROM hosts").fetchone()[0]
    conn.executemany(_INSERT_HOST, plan.new)
    reason = f"imported from {source}"
    conn.execute(_NEW_STATES, (HostState.NEW.value, reason, now, max_before))
    conn.execute(_NEW_TRANSITIONS, (HostState.NEW.value, reason, actor, now, max_before))
    conn.executemany(_UPDATE_HOST, plan.changed)
    conn.executemany(_SEEN_AGAIN, plan.unchanged)
    return ImportSummary(
        added=len(plan.new),
        updated=len(plan.changed),
        unchanged=len(plan.unchanged),
        duplicates=duplicates,
    )
