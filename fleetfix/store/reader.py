"""Read-only views of an incident database, on their own connection.

The TUI following a headless run, `fleetfix status` and the report exporters all read through
a `Reader`. It opens the file read-only (`mode=ro`), so a reader can never take the write lock
away from the run it watches.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database

from fleetfix.errors import StoreError
from fleetfix.models import HostState
from fleetfix.store import audit as audit_log
from fleetfix.store import rows
from fleetfix.store.clock import to_iso
from fleetfix.store.connect import fold, open_read_connection, snapshot
from fleetfix.store.records import (
    ActionRecord,
    AuditRecord,
    AuditReport,
    FactsRecord,
    HostRecord,
    ReachabilityRecord,
    RunRecord,
    StateCounts,
    TransitionRecord,
)
from fleetfix.store.schema import pending_migrations, refuse_if_too_new

# A tag filter matches the tag itself (`pacs`, `site=paris`) or, given a key alone, any
# `key=value` tag with that key. fold() is the store's case folding, the same as for names.
_TAG_MATCH = """
    EXISTS (SELECT 1 FROM json_each(h.tags) t
            WHERE fold(t.value) = :tag OR substr(fold(t.value), 1, :prefix_len) = :prefix)
"""


def open_reader(path: str | os.PathLike[str]) -> Reader:
    """Open an existing incident database for reading. Run `Store.open` once to create it."""
    conn = open_read_connection(path)
    try:
        _check_schema(conn, Path(path))
    except BaseException:
        conn.close()
        raise
    return Reader(path=Path(path), conn=conn)


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    db = Database(conn, execute_plugins=False, recursive_triggers=False)
    try:
        refuse_if_too_new(db, path=str(path))
        pending = pending_migrations(db)
    except sqlite3.Error as exc:
        raise StoreError(f"incident database {path}: {exc}") from exc
    if pending:
        raise StoreError(
            f"{path} was written by an older fleetfix and needs upgrading "
            f"({', '.join(pending)}); open it for writing once (any fleetfix command that "
            "writes does that), then read it again"
        )


class Reader:
    """Queries over one incident database. Every method reads committed data only."""

    def __init__(self, *, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _query(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[rows.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"incident database {self.path}: {exc}") from exc

    def hosts(self, *, state: HostState | None = None, tag: str | None = None) -> list[HostRecord]:
        """Hosts in name order, optionally only those in `state` and/or carrying `tag`."""
        clauses: list[str] = []
        params: dict[str, object] = {}
        if state is not None:
            clauses.append("s.state = :state")
            params["state"] = HostState(state).value
        if tag is not None:
            clauses.append(_TAG_MATCH)
            prefix = fold(tag) + "="
            params.update(tag=fold(tag), prefix=prefix, prefix_len=len(prefix))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        found = self._query(rows.HOST_SELECT + where + " ORDER BY h.name_key", params)
        return [rows.host_record(row) for row in found]

    def host(self, name: str) -> HostRecord | None:
        found = self._query(rows.HOST_SELECT + " WHERE h.name_key = ?", (fold(name),))
        return rows.host_record(found[0]) if found else None

    def state_counts(self, *, among: Iterable[str] | None = None) -> StateCounts:
        """Hosts per state: all of them, or only those named in `among` (a run's hosts)."""
        counts = dict.fromkeys(HostState, 0)
        if among is None:
            found = self._query("SELECT state, count(*) FROM host_state GROUP BY state")
        else:
            # One JSON parameter, however many hosts: SQLite walks it in C.
            names = json.dumps(sorted({fold(name) for name in among}))
            found = self._query(
                "SELECT s.state, count(*) FROM host_state s JOIN hosts h ON h.id = s.host_id"
                " WHERE h.name_key IN (SELECT value FROM json_each(?)) GROUP BY s.state",
                (names,),
            )
        for state, count in found:
            counts[HostState(state)] = count
        return StateCounts(counts=counts)

    def tag_counts(self) -> dict[str, dict[str, int]]:
        """Folded tag -> state -> hosts; every state present (unreachable and failed apart)."""
        found = self._query(
            "SELECT fold(t.value), s.state, count(DISTINCT h.id)"
            " FROM hosts h JOIN host_state s ON s.host_id = h.id, json_each(h.tags) t"
            " GROUP BY 1, 2 ORDER BY 1"
        )
        counts: dict[str, dict[str, int]] = {}
        for tag, state, count in found:
            per_state = counts.setdefault(tag, {s: 0 for s in HostState})
            per_state[HostState(state)] = count
        return counts

    def transitions(self, host: str | None = None) -> list[TransitionRecord]:
        """One host's history (StoreError if unknown), or every transition, oldest first."""
        if host is None:
            found = self._query(rows.TRANSITION_SELECT + " ORDER BY t.id")
        else:
            host_id, _ = rows.host_id(self._conn, host)
            found = self._query(
                rows.TRANSITION_SELECT + " WHERE t.host_id = ? ORDER BY t.id", (host_id,)
            )
        return [rows.transition_record(row) for row in found]

    def runs(self) -> list[RunRecord]:
        return [rows.run_record(row) for row in self._query(rows.RUN_SELECT + " ORDER BY id")]

    def actions(self, *, run_id: int | None = None, host: str | None = None) -> list[ActionRecord]:
        """Actions oldest first: all, one run's, one host's, or one host's in one run."""
        where: list[str] = []
        values: list[object] = []
        if run_id is not None:
            where.append("a.run_id = ?")
            values.append(run_id)
        if host is not None:
            where.append("a.host_id = ?")
            values.append(rows.host_id(self._conn, host)[0])
        # Constant text: only the fixed clauses above are joined in; values are parameters.
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        found = self._query(rows.ACTION_SELECT + clause + " ORDER BY a.id", tuple(values))
        return [rows.action_record(row) for row in found]

    def open_intents(self, *, run_id: int | None = None) -> list[ActionRecord]:
        return rows.open_intents(self._conn, run_id=run_id)

    def facts(self, host: str) -> list[FactsRecord]:
        """Every probe's facts for `host`, oldest first."""
        host_id, _ = rows.host_id(self._conn, host)
        found = self._query(rows.FACTS_SELECT + " WHERE f.host_id = ? ORDER BY f.id", (host_id,))
        return [rows.facts_record(row) for row in found]

    def reachability(self, host: str, *, since: datetime | None = None) -> list[ReachabilityRecord]:
        """Every attempt to reach `host`, oldest first, from `since` on (inclusive)."""
        try:
            return rows.reachability(
                self._conn, host, since=None if since is None else to_iso(since)
            )
        except sqlite3.Error as exc:
            raise StoreError(f"incident database {self.path}: {exc}") from exc

    def audit_log(self, *, event: str | None = None, host: str | None = None) -> list[AuditRecord]:
        """Audit rows oldest first: all, one event's (e.g. `bitlocker.key_read`), one host's
        (names compare as Windows compares them), or both."""
        where: list[str] = []
        values: list[object] = []
        if event is not None:
            where.append("event = ?")
            values.append(event)
        if host is not None:
            where.append("fold(host) = fold(?)")
            values.append(host)
        # Constant text: only the fixed clauses above are joined in; values are parameters.
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        found = self._query(rows.AUDIT_SELECT + clause + " ORDER BY id", tuple(values))
        return [rows.audit_record(row) for row in found]

    def verify_audit(self) -> AuditReport:
        """Walk the whole audit chain against the head marker, in one consistent snapshot."""
        try:
            with snapshot(self._conn) as conn:
                return audit_log.verify(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"incident database {self.path}: {exc}") from exc
