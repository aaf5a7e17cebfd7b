"""The incident database: one SQLite file per incident, one writer, many readers.

    store = Store.open("incident.db")           # creates it, applies migrations
    store.import_hosts(hosts, source="cmdb.csv", actor="alice")
    store.transition("PACS01", HostState.AFFECTED, reason="C-00000291 found", actor="engine")
    with open_reader("incident.db") as reader:  # its own read-only connection
        reader.state_counts()

Nothing in this package accepts or stores a secret; reasons, details, params and facts are
stored and exported as given, so callers keep passwords and recovery keys out of them.
"""

from fleetfix.store.clock import Clock
from fleetfix.store.reader import Reader, open_reader
from fleetfix.store.records import (
    ActionRecord,
    AuditRecord,
    AuditReport,
    FactsRecord,
    HostRecord,
    ImportSummary,
    ReachabilityRecord,
    RunRecord,
    StateCounts,
    TransitionRecord,
)
from fleetfix.store.writer import PENDING, Store

__all__ = [
    "PENDING",
    "ActionRecord",
    "AuditRecord",
    "AuditReport",
    "Clock",
    "FactsRecord",
    "HostRecord",
    "ImportSummary",
    "ReachabilityRecord",
    "Reader",
    "RunRecord",
    "StateCounts",
    "Store",
    "TransitionRecord",
    "open_reader",
]
