"""The dashboard's data, without any widget: the fleet in memory, its filter, its order, and
the follower that keeps it current from the incident database.

Kept free of Textual so the rules (what a filter matches, how a poll finds changed hosts) are
plain functions a test can pin, and so the 10,000-host benchmark measures the same code.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleetfix.errors import StoreError
from fleetfix.models import HostState
from fleetfix.store import HostRecord
from fleetfix.store import rows as store_rows
from fleetfix.store.clock import from_iso
from fleetfix.store.connect import fold, open_read_connection, snapshot

S = HostState

#: States that count as "was hit by the outage" for the progress bar (recovered over affected).
HIT_STATES = frozenset(
    {S.AFFECTED, S.BOOT_LOOP, S.REMEDIATING, S.AWAITING_REBOOT, S.RECOVERED, S.FAILED,
     S.NEEDS_HANDS_ON}
)  # fmt: skip

# Constant SQL (the store's own select); values travel as parameters.
_CHANGED_HOSTS = store_rows.HOST_SELECT + (  # noqa: S608 - constant text, no data in it
    " WHERE h.id IN ("
    " SELECT host_id FROM transitions WHERE id > :t AND id <= :tt"
    " UNION SELECT host_id FROM actions WHERE id > :a AND id <= :aa"
    " UNION SELECT host_id FROM actions"
    "  WHERE id IN (SELECT value FROM json_each(:pending)) AND outcome_at IS NOT NULL)"
)

# When each host last answered, among rows new since the last poll: a reachability attempt it
# answered, or a step that came back `ok` (a step that ran on it). "Seen" in the table.
_SEEN = (
    "SELECT h.name, max(seen.at) FROM ("
    " SELECT host_id, at FROM reachability WHERE answered = 1 AND id > :r AND id <= :rr"
    " UNION ALL SELECT host_id, outcome_at FROM actions"
    "  WHERE status = 'ok' AND outcome_at IS NOT NULL"
    "  AND (id > :a AND id <= :aa OR id IN (SELECT value FROM json_each(:pending)))"
    ") seen JOIN hosts h ON h.id = seen.host_id GROUP BY seen.host_id"
)


@dataclass(frozen=True, slots=True)
class HostFilter:
    """What the `/` box asks for: `state:failed tag:site=paris pacs` (all must match)."""

    states: frozenset[HostState] | None = None  # None: any state; empty: a name matched none
    tags: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HostFilter:
        states: set[HostState] | None = None
        tags: list[str] = []
        words: list[str] = []
        for token in text.split():
            key, sep, value = token.partition(":")
            if sep and fold(key) == "state" and value:
                states = (states or set()) | _states_named(value)
            elif sep and fold(key) == "tag" and value:
                tags.append(fold(value))
            else:
                words.append(fold(token))
        return cls(None if states is None else frozenset(states), tuple(tags), tuple(words))

    @property
    def empty(self) -> bool:
        return self.states is None and not (self.tags or self.words)

    def matches(self, host: HostRecord) -> bool:
        if self.states is not None and host.state not in self.states:
            return False
        if self.tags and not all(_has_tag(host, tag) for tag in self.tags):
            return False
        if self.words:
            haystack = fold(" ".join((host.name, host.address or "", host.reason, *host.tags)))
            return all(word in haystack for word in self.words)
        return True


def _states_named(value: str) -> set[HostState]:
    """`failed`, `needs_hands_on`, or a prefix (`need`), comma-separated; unknown matches none."""
    found: set[HostState] = set()
    for name in filter(None, fold(value).split(",")):
        found.update(state for state in HostState if state.value.startswith(name))
    return found


def _has_tag(host: HostRecord, tag: str) -> bool:
    # The store's rule: the tag itself, or given a key alone, any `key=value` with that key.
    prefix = tag + "="
    return any(fold(t) == tag or fold(t).startswith(prefix) for t in host.tags)


# Each order ends on the name, so hosts that tie keep one stable order between polls.
_ORDERS: dict[str, Callable[[HostRecord], Any]] = {
    "name": lambda h: fold(h.name),
    "state": lambda h: (h.state.value, fold(h.name)),
    "since": lambda h: (h.since, fold(h.name)),
    "attempts": lambda h: (-h.attempts, fold(h.name)),
    "address": lambda h: (h.address or "", fold(h.name)),
}
SORT_KEYS = tuple(_ORDERS)  # the order `o` cycles through


@dataclass
class FleetModel:
    """Every host by folded name, the per-state counts, and the filtered, sorted view."""

    hosts: dict[str, HostRecord] = field(default_factory=dict)
    counts: Counter[HostState] = field(default_factory=Counter)
    host_filter: HostFilter = field(default_factory=HostFilter)
    sort_by: str = "name"
    #: When each host (folded name) last answered over the network: probe, run or check.
    last_seen: dict[str, datetime] = field(default_factory=dict)
    _view: list[HostRecord] | None = None

    def update(self, records: Iterable[HostRecord]) -> int:
        """Take newer records in; returns how many hosts changed. Counts follow incrementally."""
        changed = 0
        for record in records:
            key = fold(record.name)
            old = self.hosts.get(key)
            if old == record:
                continue
            if old is not None:
                self.counts[old.state] -= 1
            self.counts[record.state] += 1
            self.hosts[key] = record
            changed += 1
        if changed:
            self._view = None
        return changed

    def update_seen(self, seen: Iterable[tuple[str, datetime]]) -> int:
        """Take newer "answered at" times in; returns how many hosts' times moved."""
        moved = 0
        for name, at in seen:
            key = fold(name)
            before = self.last_seen.get(key)
            if before is None or at > before:
                self.last_seen[key] = at
                moved += 1
        return moved

    def set_filter(self, host_filter: HostFilter) -> None:
        self.host_filter = host_filter
        self._view = None

    def set_sort(self, sort_by: str) -> None:
        if sort_by not in SORT_KEYS:
            raise ValueError(f"cannot sort by {sort_by!r}")
        self.sort_by = sort_by
        self._view = None

    def view(self) -> list[HostRecord]:
        if self._view is None:
            wanted = self.host_filter
            found = [h for h in self.hosts.values() if wanted.empty or wanted.matches(h)]
            found.sort(key=_ORDERS[self.sort_by])
            self._view = found
        return self._view

    @property
    def recovered(self) -> int:
        return self.counts[S.RECOVERED]

    @property
    def hit(self) -> int:
        return sum(self.counts[state] for state in HIT_STATES)

    def get(self, name: str) -> HostRecord | None:
        return self.hosts.get(fold(name))


@dataclass(frozen=True, slots=True)
class Changes:
    """What one poll found: hosts whose row changed, recoveries with their time, and hosts
    that answered (name, latest time) since the last poll."""

    hosts: tuple[HostRecord, ...]
    recovered_at: tuple[datetime, ...]
    last_transition: int
    seen: tuple[tuple[str, datetime], ...] = ()


class StoreFollower:
    """Follows an incident database read-only: the first `load` reads every host, each `poll`
    only hosts with a transition or an action newer than the last one seen. Another process
    (a headless `fleetfix run`) can write meanwhile; WAL lets both proceed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._conn = open_read_connection(path)
        self.path = path
        self.last_transition = 0
        self.last_action = 0
        self.last_reach = 0
        # Intents without an outcome at the last poll: their outcome changes a host's row
        # (last action) without a transition. Times cannot say "newer": writers' clocks differ.
        self.pending: list[int] = []

    def close(self) -> None:
        self._conn.close()

    def load(self) -> Changes:
        return self._read(everything=True)

    def poll(self) -> Changes:
        return self._read(everything=False)

    def _read(self, *, everything: bool) -> Changes:
        try:
            with snapshot(self._conn) as conn:
                return self._changes(conn, everything=everything)
        except sqlite3.Error as exc:
            raise StoreError(f"incident database {self.path}: {exc}") from exc

    def _changes(self, conn: sqlite3.Connection, *, everything: bool) -> Changes:
        top_t, top_a, top_r = conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM transitions),"
            " (SELECT coalesce(max(id), 0) FROM actions),"
            " (SELECT coalesce(max(id), 0) FROM reachability)"
        ).fetchone()
        if everything:
            found = conn.execute(store_rows.HOST_SELECT).fetchall()
            recovered = conn.execute(
                "SELECT at FROM transitions WHERE to_state = 'recovered' ORDER BY id"
            ).fetchall()
        else:
            # Only what moved since the last poll: at 10,000 hosts re-reading all of them
            # twice a second would cost more than drawing them.
            found = conn.execute(
                _CHANGED_HOSTS,
                {"t": self.last_transition, "tt": top_t, "a": self.last_action, "aa": top_a,
                 "pending": json.dumps(self.pending)},
            ).fetchall()  # fmt: skip
            recovered = conn.execute(
                "SELECT at FROM transitions WHERE to_state = 'recovered' AND id > ? AND id <= ?"
                " ORDER BY id",
                (self.last_transition, top_t),
            ).fetchall()
        seen = conn.execute(
            _SEEN,
            {"r": 0 if everything else self.last_reach, "rr": top_r,
             "a": 0 if everything else self.last_action, "aa": top_a,
             "pending": "[]" if everything else json.dumps(self.pending)},
        ).fetchall()  # fmt: skip
        self.last_transition, self.last_action = int(top_t), int(top_a)
        self.last_reach = int(top_r)
        self.pending = [
            int(row[0])
            for row in conn.execute(
                "SELECT id FROM actions WHERE outcome_at IS NULL AND id <= ?", (top_a,)
            )
        ]
        return Changes(
            hosts=tuple(store_rows.host_record(row) for row in found),
            recovered_at=tuple(from_iso(row[0]) for row in recovered),
            last_transition=self.last_transition,
            seen=tuple((str(name), from_iso(at)) for name, at in seen),
        )

    def first_transition_at(self) -> datetime | None:
        row = self._conn.execute("SELECT min(at) FROM transitions").fetchone()
        return None if row is None or row[0] is None else from_iso(row[0])


def recovery_rate(
    moments: Sequence[datetime], *, start: datetime, now: datetime, buckets: int
) -> list[float]:
    """Recoveries per bucket from `start` to `now`, for the rate chart (oldest bucket first)."""
    span = max((now - start).total_seconds(), 1.0)
    counts = [0.0] * buckets
    for moment in moments:
        offset = (moment - start).total_seconds()
        index = min(buckets - 1, max(0, int(offset / span * buckets)))
        counts[index] += 1
    return counts
