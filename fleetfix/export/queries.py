"""Read-only queries the Reader does not offer, on the Reader's own (read-only) connection."""

from __future__ import annotations

import sqlite3

from fleetfix.store import Reader
from fleetfix.store import rows as store_rows
from fleetfix.store.records import FactsRecord


def connection(reader: Reader) -> sqlite3.Connection:
    # The Reader opened it with mode=ro: nothing done through it can write.
    return reader._conn


def all_facts(reader: Reader) -> dict[str, list[FactsRecord]]:
    """Every host's probe facts, oldest first, in one query (10k hosts, not 10k queries)."""
    found: dict[str, list[FactsRecord]] = {}
    for row in connection(reader).execute(store_rows.FACTS_SELECT + " ORDER BY f.id"):
        record = store_rows.facts_record(row)
        found.setdefault(record.host, []).append(record)
    return found


def last_audit_hash(reader: Reader) -> str | None:
    row = connection(reader).execute("SELECT row_hash FROM audit ORDER BY id DESC LIMIT 1")
    first = row.fetchone()
    return None if first is None else str(first[0])
