"""SQL shared by the writer and the readers, and the turning of rows into records."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from fleetfix.errors import StoreError
from fleetfix.models import HostState, Transport
from fleetfix.store.clock import from_iso, optional_from_iso
from fleetfix.store.connect import fold
from fleetfix.store.records import (
    ActionRecord,
    AuditRecord,
    FactsRecord,
    HostRecord,
    ReachabilityRecord,
    RunRecord,
    TransitionRecord,
)

Row = tuple[Any, ...]

# Dict lookups rather than Enum(value): listing 100k hosts for the TUI calls these per row.
_STATES = {state.value: state for state in HostState}
_TRANSPORTS = {transport.value: transport for transport in Transport}

HOST_SELECT = """
    SELECT h.name, h.address, h.port, h.transport, h.tags, s.state, s.reason, s.since,
           s.attempts, s.last_action, h.source, h.first_seen, h.last_seen_in_inventory,
           h.learned_transport
    FROM hosts h JOIN host_state s ON s.host_id = h.id
"""

TRANSITION_SELECT = """
    SELECT t.id, h.name, t.from_state, t.to_state, t.reason, t.actor, t.run_id, t.at
    FROM transitions t JOIN hosts h ON h.id = t.host_id
"""

ACTION_SELECT = """
    SELECT a.id, a.run_id, h.name, a.step, a.destructive, a.params, a.attempt, a.intent_at,
           a.outcome_at, a.status, a.detail
    FROM actions a JOIN hosts h ON h.id = a.host_id
"""

RUN_SELECT = """
    SELECT id, command, actor, pack, options, status, started_at, finished_at FROM runs
"""

FACTS_SELECT = """
    SELECT f.id, h.name, f.run_id, f.collected_at, f.facts
    FROM facts f JOIN hosts h ON h.id = f.host_id
"""

REACHABILITY_SELECT = """
    SELECT r.id, h.name, r.run_id, r.at, r.answered, r.transport, r.status, r.detail
    FROM reachability r JOIN hosts h ON h.id = r.host_id
"""

AUDIT_SELECT = "SELECT id, at, actor, event, host, details FROM audit"


def to_json(value: Mapping[str, object], *, what: str) -> str:
    try:
        return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} must be plain JSON data: {exc}") from exc


def host_id(conn: sqlite3.Connection, name: str) -> tuple[int, str]:
    """The host's row id and its name as the inventory spells it; StoreError if unknown."""
    row = conn.execute("SELECT id, name FROM hosts WHERE name_key = ?", (fold(name),)).fetchone()
    if row is None:
        raise StoreError(f"unknown host {name!r}: it is not in this incident's inventory")
    return int(row[0]), str(row[1])


def host_record(row: Row) -> HostRecord:
    return HostRecord(
        name=row[0],
        address=row[1],
        port=row[2],
        transport=_TRANSPORTS[row[3]],
        tags=tuple(json.loads(row[4])),
        state=_STATES[row[5]],
        reason=row[6],
        since=from_iso(row[7]),
        attempts=row[8],
        last_action=row[9],
        source=row[10],
        first_seen=from_iso(row[11]),
        last_seen_in_inventory=from_iso(row[12]),
        learned_transport=None if row[13] is None else _TRANSPORTS.get(row[13]),
    )


def transition_record(row: Row) -> TransitionRecord:
    return TransitionRecord(
        id=row[0],
        host=row[1],
        from_state=None if row[2] is None else HostState(row[2]),
        to_state=HostState(row[3]),
        reason=row[4],
        actor=row[5],
        run_id=row[6],
        at=from_iso(row[7]),
    )


def action_record(row: Row) -> ActionRecord:
    return ActionRecord(
        id=row[0],
        run_id=row[1],
        host=row[2],
        step=row[3],
        destructive=bool(row[4]),
        params=json.loads(row[5]),
        attempt=row[6],
        intent_at=from_iso(row[7]),
        outcome_at=optional_from_iso(row[8]),
        status=row[9],
        detail=row[10],
    )


def run_record(row: Row) -> RunRecord:
    return RunRecord(
        id=row[0],
        command=row[1],
        actor=row[2],
        pack=row[3],
        options=json.loads(row[4]),
        status=row[5],
        started_at=from_iso(row[6]),
        finished_at=optional_from_iso(row[7]),
    )


def facts_record(row: Row) -> FactsRecord:
    return FactsRecord(
        id=row[0],
        host=row[1],
        run_id=row[2],
        collected_at=from_iso(row[3]),
        facts=json.loads(row[4]),
    )


def reachability_record(row: Row) -> ReachabilityRecord:
    return ReachabilityRecord(
        id=row[0],
        host=row[1],
        run_id=row[2],
        at=from_iso(row[3]),
        answered=bool(row[4]),
        transport=row[5],
        status=row[6],
        detail=row[7],
    )


def reachability(
    conn: sqlite3.Connection, name: str, *, since: str | None
) -> list[ReachabilityRecord]:
    """One host's reachability attempts, oldest first; `since` is an ISO time (inclusive)."""
    host, _ = host_id(conn, name)
    sql = REACHABILITY_SELECT + " WHERE r.host_id = ?"
    params: tuple[object, ...] = (host,)
    if since is not None:
        sql += " AND r.at >= ?"
        params = (host, since)
    return [reachability_record(row) for row in conn.execute(sql + " ORDER BY r.id", params)]


def audit_record(row: Row) -> AuditRecord:
    return AuditRecord(
        id=row[0],
        at=from_iso(row[1]),
        actor=row[2],
        event=row[3],
        host=row[4],
        details=json.loads(row[5]),
    )


def open_intents(conn: sqlite3.Connection, *, run_id: int | None) -> list[ActionRecord]:
    """Intents without an outcome: what a resumed run must verify before touching a host."""
    sql = ACTION_SELECT + " WHERE a.outcome_at IS NULL"
    params: tuple[int, ...] = ()
    if run_id is not None:
        sql += " AND a.run_id = ?"
        params = (run_id,)
    return [action_record(row) for row in conn.execute(sql + " ORDER BY a.id", params)]
