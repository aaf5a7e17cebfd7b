"""The audit log: append-only, hash-chained, with a head marker.

Each row stores `prev_hash` (the previous row's `row_hash`, 64 zeros for the first) and
`row_hash = SHA-256(prev_hash + canonical JSON of {id, at, actor, event, host, details})`.
Triggers refuse UPDATE and DELETE; someone who drops them and edits a row breaks the chain,
and deleting the newest rows is caught by the head marker (count and last hash in `meta`,
written in the same transaction as each row).

`details` is caller-provided JSON and is stored as given: it must never hold a secret
(a password, a recovery key). Store key IDs and HMACs, never keys.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping

from fleetfix.store.records import AuditReport

GENESIS_HASH = "0" * 64
_HEAD_COUNT = "audit_head_count"
_HEAD_HASH = "audit_head_hash"


def canonical_json(value: object) -> str:
    # Sorted keys and no spaces: the same content always hashes the same.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    prev_hash: str,
    *,
    row_id: int,
    at: str,
    actor: str,
    event: str,
    host: str | None,
    details: object,
) -> str:
    content = {"id": row_id, "at": at, "actor": actor, "event": event, "host": host}
    content["details"] = details
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    rows = dict(
        conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (_HEAD_COUNT, _HEAD_HASH))
    )
    return int(rows.get(_HEAD_COUNT, 0)), str(rows.get(_HEAD_HASH, GENESIS_HASH))


def append(
    conn: sqlite3.Connection,
    *,
    at: str,
    actor: str,
    event: str,
    host: str | None,
    details: Mapping[str, object] | None,
) -> int:
    """Append one row. The caller holds a BEGIN IMMEDIATE transaction."""
    count, prev = _head(conn)
    row_id = count + 1
    # Round-trip through JSON so the hash covers exactly what verify will read back.
    detail_value = json.loads(canonical_json(dict(details or {})))
    new_hash = row_hash(
        prev, row_id=row_id, at=at, actor=actor, event=event, host=host, details=detail_value
    )
    conn.execute(
        "INSERT INTO audit (id, at, actor, event, host, details, prev_hash, row_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, at, actor, event, host, canonical_json(detail_value), prev, new_hash),
    )
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(_HEAD_COUNT, str(row_id)), (_HEAD_HASH, new_hash)],
    )
    return row_id


def verify(conn: sqlite3.Connection) -> AuditReport:
    """Walk the whole chain; report the first row that does not match. Caller holds a snapshot."""
    prev = GENESIS_HASH
    checked = 0
    cursor = conn.execute(
        "SELECT id, at, actor, event, host, details, prev_hash, row_hash FROM audit ORDER BY id"
    )
    for row_id, at, actor, event, host, details, stored_prev, stored_hash in cursor:
        expected_id = checked + 1
        if row_id != expected_id:
            return _bad(checked, expected_id, f"row {expected_id} is missing (next is {row_id})")
        if stored_prev != prev:
            return _bad(checked, row_id, "prev_hash does not match the previous row's hash")
        try:
            detail_value = json.loads(details)
        except (TypeError, ValueError):
            return _bad(checked, row_id, "details are not valid JSON")
        computed = row_hash(
            prev, row_id=row_id, at=at, actor=actor, event=event, host=host, details=detail_value
        )
        if computed != stored_hash:
            return _bad(checked, row_id, "content does not match its hash (row changed)")
        prev = stored_hash
        checked += 1
    return _check_head(conn, checked, prev)


def _check_head(conn: sqlite3.Connection, checked: int, last_hash: str) -> AuditReport:
    head_count, head_hash = _head(conn)
    if head_count != checked:
        return _bad(
            checked,
            checked + 1,
            f"the head marker records {head_count} rows but {checked} remain (rows deleted?)",
        )
    if head_hash != last_hash:
        return _bad(checked, checked, "the last row's hash does not match the head marker")
    return AuditReport(ok=True, rows_checked=checked)


def _bad(checked: int, row_id: int, problem: str) -> AuditReport:
    return AuditReport(ok=False, rows_checked=checked, first_bad_row=row_id, problem=problem)
