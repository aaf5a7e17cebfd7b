"""Helpers shared by the store's tests (imported, not a pytest conftest)."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fleetfix.models import TRANSITIONS, Host, HostState
from fleetfix.store import Store

INCIDENT_START = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)


class TickingClock:
    """A clock pinned to the outage that moves one second per reading, so order shows in times."""

    def __init__(self, start: datetime = INCIDENT_START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def pacs_hosts(count: int, *, site: str = "paris") -> list[Host]:
    return [
        Host(f"PACS{i:03d}", address=f"127.0.0.{i % 250 + 1}", tags=(f"site={site}", "pacs"))
        for i in range(count)
    ]


def open_store(tmp_path: Path, *, clock: TickingClock | None = None) -> Store:
    return Store.open(tmp_path / "incident.db", clock=clock or TickingClock())


def path_from_new(target: HostState) -> list[HostState]:
    """The shortest chain of allowed transitions from `new` to `target` (TRANSITIONS' own BFS)."""
    previous: dict[HostState, HostState | None] = {HostState.NEW: None}
    queue = deque([HostState.NEW])
    while queue:
        state = queue.popleft()
        for following in sorted(TRANSITIONS[state]):
            if following not in previous:
                previous[following] = state
                queue.append(following)
    chain: list[HostState] = []
    step: HostState | None = target
    while step is not None and step is not HostState.NEW:
        chain.append(step)
        step = previous[step]
    return list(reversed(chain))


def bring_to(store: Store, host: str, state: HostState) -> None:
    for step in path_from_new(state):
        store.transition(host, step, reason="test setup", actor="pytest")
