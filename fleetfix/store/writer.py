"""The one writer of an incident database.

A `Store` owns the write connection. Every write is one `BEGIN IMMEDIATE` transaction, taken
under a lock so the engine's threads never interleave statements. Readers (TUI, status,
report) open their own read-only connections with `open_reader`; WAL lets them read while the
writer writes.

Nothing here accepts a password or a recovery key; callers must keep secrets out of reasons,
details, params and facts too, because all of those are stored and exported as given.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database

from fleetfix.errors import IllegalTransition, StoreError
from fleetfix.models import Host, HostState, Transport, is_allowed
from fleetfix.store import audit as audit_log
from fleetfix.store import importer, rows
from fleetfix.store.clock import Clock, from_iso, system_clock, to_iso
from fleetfix.store.connect import fold, immediate, open_write_connection, use_wal
from fleetfix.store.records import (
    ActionRecord,
    HostRecord,
    ImportSummary,
    ReachabilityRecord,
    TransitionRecord,
)
from fleetfix.store.schema import MIGRATIONS, refuse_if_too_new

#: Status of an action whose outcome is not known yet.
PENDING = "pending"
_RUNNING = "running"
_INSERT_INTENT = """
    INSERT INTO actions (run_id, host_id, step, destructive, params, attempt, intent_at, status)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""


class Store:
    """The incident database, open for writing. Use `Store.open(path)`."""

    def __init__(self, *, path: Path, conn: sqlite3.Connection, clock: Clock) -> None:
        self.path = path
        self._conn = conn
        self._clock = clock
        # Re-entrant: record_intent holds it across its PRAGMA and its transaction.
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, clock: Clock | None = None) -> Store:
        """Open (creating if missing) and bring the schema up to date."""
        db_path = Path(path)
        existed = db_path.exists()
        conn = open_write_connection(db_path)
        try:
            _migrate(conn, db_path, check_first=existed)
        except BaseException:
            conn.close()
            raise
        return cls(path=db_path, conn=conn, clock=clock or system_clock)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _as_store_error(self.path), immediate(self._conn) as conn:
            yield conn

    def _now(self) -> str:
        return to_iso(self._clock())

    def import_hosts(self, hosts: Sequence[Host], *, source: str, actor: str) -> ImportSummary:
        """Add new hosts (state `new`) and refresh known ones, all or nothing."""
        now = self._now()
        with self._write() as conn:
            summary = importer.import_hosts(conn, hosts, source=source, actor=actor, now=now)
            details = {
                "source": source,
                "added": summary.added,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "duplicates": summary.duplicates,
            }
            audit_log.append(
                conn, at=now, actor=actor, event="inventory.import", host=None, details=details
            )
        return summary

    def transition(
        self, host: str, to: HostState, *, reason: str, actor: str, run_id: int | None = None
    ) -> TransitionRecord:
        """Move a host to `to` if the table allows it, else IllegalTransition and no write."""
        to_state = HostState(to)
        now = self._now()
        with self._write() as conn:
            host_id, name = rows.host_id(conn, host)
            current = HostState(
                conn.execute(
                    "SELECT state FROM host_state WHERE host_id = ?", (host_id,)
                ).fetchone()[0]
            )
            if not is_allowed(current, to_state):
                raise IllegalTransition(name, current.value, to_state.value)
            # attempts counts remediation starts, so "3rd attempt" needs no history scan.
            conn.execute(
                "UPDATE host_state SET state = ?, reason = ?, since = ?,"
                " attempts = attempts + ? WHERE host_id = ?",
                (to_state.value, reason, now, int(to_state is HostState.REMEDIATING), host_id),
            )
            cursor = conn.execute(
                "INSERT INTO transitions (host_id, from_state, to_state, reason, actor, run_id, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (host_id, current.value, to_state.value, reason, actor, run_id, now),
            )
        return TransitionRecord(
            id=_row_id(cursor),
            host=name,
            from_state=current,
            to_state=to_state,
            reason=reason,
            actor=actor,
            run_id=run_id,
            at=from_iso(now),
        )

    def record_facts(
        self, host: str, facts: Mapping[str, object], *, run_id: int | None = None
    ) -> int:
        """Keep one probe's facts (history: earlier ones stay). Returns the facts row id."""
        facts_json = rows.to_json(facts, what="facts")
        now = self._now()
        with self._write() as conn:
            host_id, _ = rows.host_id(conn, host)
            cursor = conn.execute(
                "INSERT INTO facts (host_id, run_id, collected_at, facts) VALUES (?, ?, ?, ?)",
                (host_id, run_id, now, facts_json),
            )
        return _row_id(cursor)

    def record_reachability(
        self,
        host: str,
        *,
        answered: bool,
        transport: str | None,
        status: str,
        detail: str = "",
        run_id: int | None = None,
    ) -> ReachabilityRecord:
        """Keep one attempt to reach `host` (append-only). `detail` is stored and exported as
        given: a transport error's reason, never a secret."""
        now = self._now()
        with self._write() as conn:
            host_id, name = rows.host_id(conn, host)
            cursor = conn.execute(
                "INSERT INTO reachability (host_id, run_id, at, answered, transport, status,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (host_id, run_id, now, int(answered), transport, status, detail),
            )
        return ReachabilityRecord(
            id=_row_id(cursor), host=name, run_id=run_id, at=from_iso(now),
            answered=answered, transport=transport, status=status, detail=detail,
        )  # fmt: skip

    def set_learned_transport(self, host: str, transport: Transport | None) -> None:
        """Remember what `auto` settled on for `host` (None forgets it). Re-importing the
        inventory leaves it alone; a later `auto` run that lands elsewhere overwrites it."""
        value = None if transport is None else Transport(transport).value
        if value == Transport.AUTO.value:
            raise StoreError("`auto` is a way to choose a transport, not one to remember")
        with self._write() as conn:
            host_id, _ = rows.host_id(conn, host)
            conn.execute("UPDATE hosts SET learned_transport = ? WHERE id = ?", (value, host_id))

    def host(self, name: str) -> HostRecord | None:
        """The host as committed, read on the writer's connection (a run deciding what to do
        with a host must see its own writes)."""
        with self._lock, _as_store_error(self.path):
            found = self._conn.execute(
                rows.HOST_SELECT + " WHERE h.name_key = ?", (fold(name),)
            ).fetchone()
        return None if found is None else rows.host_record(found)

    def reachability(self, host: str, *, since: datetime | None = None) -> list[ReachabilityRecord]:
        """`host`'s reachability attempts, oldest first, from `since` on (inclusive)."""
        with self._lock, _as_store_error(self.path):
            return rows.reachability(
                self._conn, host, since=None if since is None else to_iso(since)
            )

    def begin_run(
        self,
        *,
        command: str,
        actor: str,
        pack: str | None = None,
        options: Mapping[str, object] | None = None,
    ) -> int:
        options_json = rows.to_json(options or {}, what="run options")
        now = self._now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (started_at, command, pack, options, actor, status)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now, command, pack, options_json, actor, _RUNNING),
            )
        return _row_id(cursor)

    def finish_run(self, run_id: int, *, status: str) -> None:
        now = self._now()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE id = ? AND finished_at IS NULL",
                (now, status, run_id),
            )
            if cursor.rowcount == 0:
                raise StoreError(f"run {run_id} does not exist or has already finished")

    def record_intent(
        self,
        *,
        run_id: int,
        host: str,
        step: str,
        destructive: bool,
        params: Mapping[str, object],
        attempt: int = 1,
    ) -> int:
        """Commit, durably, that `step` is about to run on `host`. Call before doing it."""
        params_json = rows.to_json(params, what="step params")
        now = self._now()
        with self._lock:
            # FULL: the intent must reach the disk before the host is touched, so that a
            # power cut cannot leave a deleted file with no record that we meant to delete it.
            self._conn.execute("PRAGMA synchronous=FULL")
            try:
                with self._write() as conn:
                    host_id, _ = rows.host_id(conn, host)
                    values = (run_id, host_id, step, int(destructive), params_json, attempt)
                    cursor = conn.execute(_INSERT_INTENT, (*values, now, PENDING))
                    conn.execute(
                        "UPDATE host_state SET last_action = ? WHERE host_id = ?",
                        (step, host_id),
                    )
            finally:
                self._conn.execute("PRAGMA synchronous=NORMAL")
        return _row_id(cursor)

    def record_outcome(self, action_id: int, *, status: str, detail: str = "") -> None:
        """Close an intent with what happened. An action gets exactly one outcome."""
        if status == PENDING:
            raise StoreError(f"action {action_id}: {PENDING!r} is not an outcome")
        now = self._now()
        with self._write() as conn:
            row = conn.execute(
                "SELECT host_id, step, outcome_at FROM actions WHERE id = ?", (action_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"no action {action_id} in this incident database")
            if row[2] is not None:
                raise StoreError(f"action {action_id} already has an outcome")
            conn.execute(
                "UPDATE actions SET outcome_at = ?, status = ?, detail = ? WHERE id = ?",
                (now, status, detail, action_id),
            )
            conn.execute(
                "UPDATE host_state SET last_action = ? WHERE host_id = ?",
                (f"{row[1]}: {status}", row[0]),
            )

    def open_intents(self, *, run_id: int | None = None) -> list[ActionRecord]:
        """Intents without an outcome: a resumed run verifies these hosts before anything else."""
        with self._lock, _as_store_error(self.path):
            return rows.open_intents(self._conn, run_id=run_id)

    def audit(
        self,
        event: str,
        *,
        actor: str,
        host: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> int:
        """Append an audit row. `details` is stored and exported as is: never put a secret in."""
        rows.to_json(details or {}, what="audit details")  # fail before taking the lock
        now = self._now()
        with self._write() as conn:
            return audit_log.append(
                conn, at=now, actor=actor, event=event, host=host, details=details
            )


def _migrate(conn: sqlite3.Connection, path: Path, *, check_first: bool) -> None:
    db = Database(conn, execute_plugins=False)
    with _as_store_error(path):
        if check_first:
            # Before WAL mode or anything else that writes: a newer schema is left untouched.
            refuse_if_too_new(db, path=str(path))
        use_wal(conn, path)
        with immediate(conn):
            # Again under the write lock: a newer fleetfix may have upgraded it meanwhile.
            refuse_if_too_new(db, path=str(path))
            MIGRATIONS.apply(db)


@contextmanager
def _as_store_error(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"incident database {path}: {exc}") from exc


def _row_id(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:  # pragma: no cover - INSERT always sets it
        raise StoreError("SQLite returned no row id for an insert")
    return cursor.lastrowid


__all__ = ["PENDING", "Store"]
