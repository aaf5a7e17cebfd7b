"""The incident database's schema, as an ordered list of named migrations.

Migrations are recorded in `_sqlite_migrations` (sqlite-utils), so a database written by an
older fleetfix is brought up to date on open. A database that lists a migration this version
does not know was written by a newer fleetfix: we refuse to open it rather than write to a
schema we do not understand.

Never edit or rename a migration once released; add a new one at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from fleetfix import __version__
from fleetfix.errors import SchemaTooNew

MIGRATIONS = Migrations("fleetfix")
_KNOWN: list[str] = []

MigrationFunction = Callable[[Database], None]


def _migration(fn: MigrationFunction) -> MigrationFunction:
    _KNOWN.append(fn.__name__)
    return MIGRATIONS()(fn)


def _run(db: Database, statements: Sequence[str]) -> None:
    for statement in statements:
        db.execute(statement)


def _append_only(table: str) -> list[str]:
    # Tampering then needs DROP TRIGGER first; the audit hashes still catch what follows.
    return [
        f"""CREATE TRIGGER {table}_append_only_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows cannot be changed'); END""",
        f"""CREATE TRIGGER {table}_append_only_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows cannot be deleted'); END""",
    ]


_TABLES_V1 = [
    # name_key is the case-folded name: Windows treats HOST01 and host01 as one computer.
    """CREATE TABLE hosts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        address TEXT,
        port INTEGER,
        transport TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        source TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen_in_inventory TEXT NOT NULL
    )""",
    """CREATE TABLE host_state (
        host_id INTEGER PRIMARY KEY REFERENCES hosts(id),
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        since TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_action TEXT
    )""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        command TEXT NOT NULL,
        pack TEXT,
        options TEXT NOT NULL DEFAULT '{}',
        actor TEXT NOT NULL,
        status TEXT NOT NULL
    )""",
    """CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        run_id INTEGER REFERENCES runs(id),
        at TEXT NOT NULL
    )""",
    """CREATE TABLE facts (
        id INTEGER PRIMARY KEY,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        run_id INTEGER REFERENCES runs(id),
        collected_at TEXT NOT NULL,
        facts TEXT NOT NULL
    )""",
    """CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        step TEXT NOT NULL,
        destructive INTEGER NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        attempt INTEGER NOT NULL DEFAULT 1,
        intent_at TEXT NOT NULL,
        outcome_at TEXT,
        status TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        event TEXT NOT NULL,
        host TEXT,
        details TEXT NOT NULL DEFAULT '{}',
        prev_hash TEXT NOT NULL,
        row_hash TEXT NOT NULL
    )""",
    # Small key/value facts about the database itself, e.g. the audit head marker.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]


@_migration
def m001_incident_schema(db: Database) -> None:
    _run(db, _TABLES_V1 + _append_only("audit") + _append_only("transitions"))


@_migration
def m002_reader_indexes(db: Database) -> None:
    # `fleetfix status` and the TUI read these every second or so on fleets of 100k hosts.
    _run(
        db,
        [
            "CREATE INDEX host_state_by_state ON host_state(state)",
            "CREATE INDEX transitions_by_host ON transitions(host_id, id)",
            "CREATE INDEX facts_by_host ON facts(host_id, id)",
            "CREATE INDEX actions_open ON actions(run_id, id) WHERE outcome_at IS NULL",
        ],
    )


@_migration
def m003_reachability(db: Database) -> None:
    # Every attempt to reach a host, answered or not: a boot-looping host shows itself as
    # "answered, vanished, answered" long before anyone reads its event log.
    _run(
        db,
        [
            """CREATE TABLE reachability (
                id INTEGER PRIMARY KEY,
                host_id INTEGER NOT NULL REFERENCES hosts(id),
                run_id INTEGER REFERENCES runs(id),
                at TEXT NOT NULL,
                answered INTEGER NOT NULL,
                transport TEXT,
                status TEXT NOT NULL,
                detail TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX reachability_by_host ON reachability(host_id, id)",
            # What `auto` settled on for the host, so the next run skips the port scan.
            "ALTER TABLE hosts ADD COLUMN learned_transport TEXT",
            *_append_only("reachability"),
        ],
    )


@_migration
def m004_actions_by_host(db: Database) -> None:
    # One host's actions (its detail screen, what a hand-over left changed) without reading
    # every action of a 10,000-host incident.
    _run(db, ["CREATE INDEX actions_by_host ON actions(host_id, id)"])


KNOWN_MIGRATIONS: tuple[str, ...] = tuple(_KNOWN)


def applied_migrations(db: Database) -> list[str]:
    return [migration.name for migration in MIGRATIONS.applied(db)]


def refuse_if_too_new(db: Database, *, path: str) -> None:
    """Raise SchemaTooNew if `db` records migrations this fleetfix does not know."""
    unknown = [name for name in applied_migrations(db) if name not in KNOWN_MIGRATIONS]
    if unknown:
        raise SchemaTooNew(
            f"{path} was written by a newer fleetfix than this one ({__version__}): it has "
            f"schema changes this version does not know ({', '.join(unknown)}). Open it with "
            "the fleetfix that wrote it or a newer one; this version will not open it, so it "
            "wrote nothing to it."
        )


def pending_migrations(db: Database) -> list[str]:
    return [migration.name for migration in MIGRATIONS.pending(db)]
