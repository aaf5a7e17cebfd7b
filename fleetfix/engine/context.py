"""What every part of a run shares: the store, the policy, the packs, the event sink, the
breakers and the stop flag. One per run; host flows read it and never replace it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fleetfix.engine.breakers import Breakers
from fleetfix.engine.events import Event, HostChanged
from fleetfix.engine.keyids import KeyIdFinder
from fleetfix.engine.policy import RunPolicy
from fleetfix.errors import IllegalTransition
from fleetfix.models import Host, HostState, Transport, is_allowed
from fleetfix.packs import Pack
from fleetfix.probe.run import ProbeContext, open_host_session
from fleetfix.store import ActionRecord, Store
from fleetfix.transports import errors
from fleetfix.transports.base import CommandResult, Session
from fleetfix.transports.ports import port_for
from fleetfix.transports.selection import AUTO_ORDER, port_open


@dataclass(slots=True)
class RunContext:
    store: Store
    policy: RunPolicy
    packs: Mapping[str, Pack]
    run_id: int
    actor: str
    probe: ProbeContext
    emit: Callable[[Event], None]
    breakers: Breakers
    credential_of: Callable[[Host], str]
    # Set when no new work may start (a breaker, Ctrl-C); flows finish their current step.
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # Per host (case-folded name), this run's earlier actions, oldest first: what a resumed
    # run continues from. Empty for a fresh run.
    earlier: Mapping[str, tuple[ActionRecord, ...]] = field(default_factory=dict)
    windows_caught: int = 0
    # Set when the run is cancelled (a second Ctrl-C): nothing waits for remote cleanup.
    stopping_now: bool = False
    # Key IDs per host from the configured key providers, for hands-on instructions.
    key_ids_for: KeyIdFinder | None = None

    def state_of(self, host: Host) -> HostState:
        record = self.store.host(host.name)
        assert record is not None  # every host of a run was imported before it started
        return record.state

    def move(self, host: Host, to: HostState, reason: str) -> bool:
        """Move `host` to `to` if the transitions table allows it from where it is now."""
        current = self.state_of(host)
        if current is to:
            return True
        if not is_allowed(current, to):
            return False
        try:
            self.store.transition(host.name, to, reason=reason, actor=self.actor,
                                  run_id=self.run_id)  # fmt: skip
        except IllegalTransition:
            return False
        self.emit(HostChanged(host=host.name, from_state=current, to_state=to, reason=reason))
        return True


class Link:
    """One host's connection for the whole of its recovery: opened when first needed, dropped
    after any transport error (the host may have rebooted) and opened again on next use, so a
    probe, a fix and a verify share one handshake when nothing goes wrong."""

    def __init__(self, context: RunContext, host: Host) -> None:
        self._context = context
        self._host = host
        self._session: Session | None = None

    @property
    def transport(self) -> str | None:
        return None if self._session is None else self._session.transport

    async def session(self) -> Session:
        if self._session is None:
            self._session = await open_host_session(self._context.probe, self._host)
        return self._session

    async def run(
        self, text: str, *, params: Mapping[str, object] | None, timeout: float
    ) -> CommandResult:
        session = await self.session()
        try:
            return await session.run(text, params=params, timeout=timeout)
        except errors.TransportError:
            await self.drop()
            raise

    def ports(self) -> list[int]:
        """The ports this host answers on when it is up: its learned or inventory transport's,
        or every port `auto` tries."""
        record = self._context.store.host(self._host.name)
        learned = None if record is None else record.learned_transport
        kind = learned or self._host.transport
        kinds = AUTO_ORDER if kind is Transport.AUTO else (kind,)
        return sorted({port_for(self._host, k) for k in kinds})

    async def listening(self) -> bool:
        """A cheap TCP check: does anything answer on the host's ports right now?"""
        checks = [port_open(self._host.target, port) for port in self.ports()]
        return any(await asyncio.gather(*checks))

    async def wait_until_listening(self, *, seconds: float) -> bool:
        """Poll with TCP checks (nothing recorded, nothing sent) until the host answers, the
        run stops, or `seconds` pass: a boot-looping host is only up for short windows."""
        if self._session is not None:
            return True
        deadline = time.monotonic() + seconds
        while not self._context.stop.is_set():
            if await self.listening():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self._context.policy.watch_interval)
        return False

    async def drop(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if self._context.stopping_now:
            # Stopping at once: closing would wait for the command the worker is blocked in.
            # The remote shell ends with the host's idle timeout; resume verifies the host.
            return
        with contextlib.suppress(errors.TransportError):
            await session.close()
