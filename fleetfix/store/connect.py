"""Opening SQLite connections the one way the store uses them.

Connections run with `isolation_level=None`: the sqlite3 module then never opens a transaction
behind our back, and every write says `BEGIN IMMEDIATE` itself. IMMEDIATE takes the write lock
before the first read, so a read-then-write (current state, then the new one) cannot be beaten
by another writer between the two.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fleetfix.errors import StoreError

# Long enough to ride out another process's import of a large inventory.
BUSY_TIMEOUT_MS = 30_000


def fold(text: str) -> str:
    """Case folding for names and tags, the same in Python and in SQL (`fold(...)`)."""
    return text.casefold()


def _prepare(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.create_function("fold", 1, _sql_fold, deterministic=True)


def _sql_fold(text: str | None) -> str | None:
    return fold(text) if isinstance(text, str) else text


def open_write_connection(path: Path) -> sqlite3.Connection:
    try:
        # check_same_thread=False: the Store serialises use with its own lock, and the
        # engine may reach it from worker threads.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _prepare(conn)
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the incident database {path}: {exc}") from exc
    return conn


def use_wal(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(
            f"{path}: SQLite refused WAL mode (got {mode!r}); is it on a network share?"
        )
    # Under WAL, NORMAL keeps the database consistent through crashes; a power cut may lose
    # the last commits. Intents raise it to FULL (see Store.record_intent).
    conn.execute("PRAGMA synchronous=NORMAL")


def open_read_connection(path: str | os.PathLike[str]) -> sqlite3.Connection:
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise StoreError(f"no incident database at {resolved}")
    try:
        conn = sqlite3.connect(
            f"{resolved.as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        _prepare(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the incident database {resolved}: {exc}") from exc
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (busy, disk full) leaves the transaction open; some errors have
        # already rolled it back, and a second ROLLBACK would hide the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same committed state."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")
