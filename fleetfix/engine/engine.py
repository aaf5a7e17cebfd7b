"""The recovery engine: one coroutine that takes a fleet from "down" to "recovered or handed to
a technician" and yields typed events as it goes. The CLI is one observer of those events, the
TUI another; neither drives the hosts themselves.

Waves run one after another (the canary first); within a wave at most `concurrency` hosts are
worked on at once, and a host that is only being watched (boot loop) gives its slot back, so a
slow or silent host never holds up the others. A breaker or a stop request ends the starting of
new hosts; hosts in flight finish their current step and are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fleetfix.engine.breakers import Breakers
from fleetfix.engine.context import RunContext
from fleetfix.engine.events import (
    Event,
    HostDone,
    Progress,
    RunContinued,
    RunFinished,
    RunPaused,
    RunStarted,
    WaveStarted,
)
from fleetfix.engine.flow import HostFlow
from fleetfix.engine.keyids import KeyIdFinder
from fleetfix.engine.order import order_hosts, plan_waves
from fleetfix.engine.policy import RunPolicy
from fleetfix.errors import ConfigError
from fleetfix.models import Host, HostState, Transport
from fleetfix.packs import Pack, PackError
from fleetfix.probe.run import ProbeContext
from fleetfix.store import ActionRecord, Store, open_reader
from fleetfix.transports.base import ConnectOptions
from fleetfix.transports.runner import RunOptions

S = HostState
#: States in which the run is done with a host.
FINAL_STATES = frozenset({S.HEALTHY, S.RECOVERED, S.FAILED, S.NEEDS_HANDS_ON, S.SKIPPED})
_PROGRESS_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class Resume:
    """A stopped run to continue: its id, and its actions per host (case-folded name)."""

    run_id: int
    earlier: Mapping[str, tuple[ActionRecord, ...]]
    done: frozenset[str]  # hosts the stopped run had already finished with


def find_resumable(store: Store, run_id: int | None) -> tuple[int, RunPolicy, Resume]:
    """The run to resume (the latest unfinished `run` when `run_id` is None), the policy it
    recorded, and where each of its hosts stood."""
    with open_reader(store.path) as reader:
        runs = [r for r in reader.runs() if r.command == "run"]
        if run_id is None:
            open_runs = [r for r in runs if r.finished_at is None]
            if not open_runs:
                raise ConfigError("no unfinished `fleetfix run` in this database to resume")
            run = open_runs[-1]
        else:
            found = next((r for r in runs if r.id == run_id), None)
            if found is None:
                raise ConfigError(f"no run {run_id} in this database")
            run = found
            if run.finished_at is not None:
                raise ConfigError(f"run {run_id} finished at {run.finished_at:%Y-%m-%d %H:%M:%S}"
                                  " UTC; start a new run instead")  # fmt: skip
        grouped: dict[str, list[ActionRecord]] = {}
        for action in reader.actions(run_id=run.id):
            grouped.setdefault(action.host.casefold(), []).append(action)
        # A host whose last action has no outcome is not done even in a final state: the
        # probe can call it healthy before its detect ran, and resume must close that intent.
        in_flight = {host for host, actions in grouped.items() if actions[-1].outcome_at is None}
        done = frozenset(
            t.host.casefold() for t in reader.transitions()
            if t.run_id == run.id and t.to_state in FINAL_STATES
        ) - in_flight  # fmt: skip
    policy = RunPolicy.from_dict(run.options)
    earlier = {host: tuple(actions) for host, actions in grouped.items()}
    return run.id, policy, Resume(run.id, earlier, done)


class FleetRun:
    """One `fleetfix run`. Iterate `events()` to drive it; `request_stop()` asks it to stop
    starting hosts (Ctrl-C); cancelling the iteration stops at once (a second Ctrl-C).
    `pause()` holds back new hosts until `proceed()`, without ending the run."""

    def __init__(
        self,
        hosts: Sequence[Host],
        *,
        policy: RunPolicy,
        store: Store,
        packs: Mapping[str, Pack],
        options_for: Callable[[Host], ConnectOptions],
        actor: str,
        transport: Transport | None = None,
        resume: Resume | None = None,
        key_ids_for: KeyIdFinder | None = None,
    ) -> None:
        if policy.pack not in packs:
            known = ", ".join(sorted(packs)) or "none"
            raise PackError(f"no pack {policy.pack!r} (known: {known}); see fleetfix packs list")
        self.hosts = list(hosts)
        self.policy = policy
        self.store = store
        self.packs = packs
        self.options_for = options_for
        self.actor = actor
        self.transport = transport
        self.resume = resume
        self.key_ids_for = key_ids_for
        self._stop = asyncio.Event()
        # Set while hosts may start; cleared by pause(). Hosts in flight never wait on it: a
        # host half-way through a safe-mode cycle must not be left in safe mode by a pause.
        self._go = asyncio.Event()
        self._go.set()
        self._paused_at: float | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._done: Counter[str] = Counter()
        self.run_id: int | None = None

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    def pause(self, *, actor: str | None = None) -> bool:
        """Start no new host until `proceed()`; False if already paused. Audited."""
        if self.paused:
            return False
        who = actor or self.actor
        self._go.clear()
        self._paused_at = time.monotonic()
        self.store.audit("run.paused", actor=who, details={"run_id": self.run_id})
        self._queue.put_nowait(RunPaused(actor=who))
        return True

    def proceed(self, *, actor: str | None = None) -> bool:
        """Let new hosts start again after `pause()`; False if not paused. Audited."""
        if not self.paused:
            return False
        who = actor or self.actor
        assert self._paused_at is not None  # set by pause(), with the event cleared
        paused_for = time.monotonic() - self._paused_at
        self._go.set()
        self._paused_at = None
        details = {"run_id": self.run_id, "paused_seconds": round(paused_for, 1)}
        self.store.audit("run.continued", actor=who, details=details)
        self._queue.put_nowait(RunContinued(actor=who, paused_for=paused_for))
        return True

    async def _may_start(self) -> bool:
        """Wait out a pause; False when the run was stopped meanwhile (or before)."""
        while not self._go.is_set() and not self._stop.is_set():
            waiters = {asyncio.ensure_future(self._go.wait()),
                       asyncio.ensure_future(self._stop.wait())}  # fmt: skip
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        return not self._stop.is_set()

    async def events(self) -> AsyncIterator[Event]:
        driver = asyncio.ensure_future(self._drive())
        try:
            while True:
                getter = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getter, driver}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                    continue
                getter.cancel()
                while not self._queue.empty():
                    yield self._queue.get_nowait()
                break
            driver.result()  # an engine bug surfaces here, not as a silent end
        finally:
            if not driver.done():
                driver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await driver

    async def _drive(self) -> None:
        policy, store = self.policy, self.store
        pack = self.packs[policy.pack]
        pack.resolve_parameters(policy.params)  # a bad --param fails before any host is touched
        if self.resume is not None:
            run_id = self.resume.run_id
            store.audit("run.resumed", actor=self.actor, details={"run_id": run_id})
        else:
            run_id = store.begin_run(command="run", actor=self.actor, pack=pack.id,
                                     options=policy.as_dict())  # fmt: skip
            details = {"run_id": run_id, "hosts": len(self.hosts), **policy.as_dict()}
            store.audit("run.started", actor=self.actor, details=details)
        self.run_id = run_id
        done_before = self.resume.done if self.resume is not None else frozenset()
        hosts = [h for h in self.hosts if h.name.casefold() not in done_before]
        waves = plan_waves(order_hosts(hosts, policy.priority_tag),
                           canary=policy.canary, wave_size=policy.wave_size)  # fmt: skip
        executor = ThreadPoolExecutor(policy.concurrency, thread_name_prefix="fleetfix-run")
        context = self._context(run_id, executor)
        self._queue.put_nowait(RunStarted(
            run_id=run_id, pack=pack.id, hosts=len(hosts), waves=tuple(len(w) for w in waves),
            dry_run=policy.dry_run, resumed=self.resume is not None))  # fmt: skip
        started = time.monotonic()
        ticker = asyncio.ensure_future(self._tick(len(hosts), started))
        tasks: list[asyncio.Task[None]] = []
        cancelled = False
        try:
            for number, wave in enumerate(waves, start=1):
                if context.stop.is_set():
                    break
                context.breakers.start_wave(len(wave))
                canary = number == 1 and policy.canary is not None
                self._queue.put_nowait(WaveStarted(wave=number, hosts=len(wave), canary=canary))
                tasks += await self._wave(context, wave)
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            cancelled = context.stopping_now = True
            raise
        finally:
            ticker.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if cancelled:
                # Stop at once (a second Ctrl-C): a worker blocked in a remote command is not
                # waited for; its intent is committed and a resumed run verifies the host.
                executor.shutdown(wait=False, cancel_futures=True)
            else:
                await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        status = self._finish(context, run_id)
        finished = RunFinished(
            run_id=run_id, status=status, counts=dict(self._done),
            windows_caught=context.windows_caught, duration=time.monotonic() - started,
        )  # fmt: skip
        self._queue.put_nowait(finished)

    def _finish(self, context: RunContext, run_id: int) -> str:
        details = {"run_id": run_id, "counts": dict(self._done),
                   "windows_caught": context.windows_caught}  # fmt: skip
        if context.breakers.tripped is not None:
            # Left unfinished on purpose: fix the cause, then `--resume` continues this run.
            self.store.audit("run.stopped", actor=self.actor,
                             details={**details, "breaker": context.breakers.tripped,
                                      "reason": context.breakers.reason})  # fmt: skip
            return "stopped_by_breaker"
        if self._stop.is_set():
            self.store.audit("run.interrupted", actor=self.actor, details=details)
            return "interrupted"
        self.store.finish_run(run_id, status="finished")
        self.store.audit("run.finished", actor=self.actor, details=details)
        return "finished"

    def _context(self, run_id: int, executor: ThreadPoolExecutor) -> RunContext:
        policy = self.policy
        probe_run = RunOptions(concurrency=policy.concurrency, timeout=policy.probe_timeout,
                               connect_timeout=policy.connect_timeout, transport=self.transport,
                               auth_failure_limit=policy.auth_failure_limit)  # fmt: skip
        probe = ProbeContext(self.store, self.options_for, probe_run, policy.rule, self.actor,
                             run_id, executor, frozenset())  # fmt: skip
        return RunContext(
            store=self.store, policy=policy, packs=self.packs, run_id=run_id, actor=self.actor,
            probe=probe, emit=self._queue.put_nowait,
            breakers=Breakers(policy.auth_failure_limit, policy.max_fail_percent),
            credential_of=lambda host: host.tag_value("credential") or "",
            stop=self._stop,
            earlier=self.resume.earlier if self.resume is not None else {},
            key_ids_for=self.key_ids_for,
        )  # fmt: skip

    async def _wave(self, context: RunContext, wave: Sequence[Host]) -> list[asyncio.Task[None]]:
        """Start the wave's hosts, at most `concurrency` at once; return once every one of them
        has finished or is only being watched (their tasks go on)."""
        slots = asyncio.Semaphore(self.policy.concurrency)
        released: list[asyncio.Event] = []
        tasks: list[asyncio.Task[None]] = []
        for host in wave:
            await slots.acquire()
            if not await self._may_start():
                slots.release()
                break
            freed = asyncio.Event()
            released.append(freed)

            def release(freed: asyncio.Event = freed) -> None:
                if not freed.is_set():
                    freed.set()
                    slots.release()

            tasks.append(asyncio.ensure_future(self._host(context, host, release)))
        await asyncio.gather(*(freed.wait() for freed in released))
        return tasks

    async def _host(self, context: RunContext, host: Host, release: Callable[[], None]) -> None:
        try:
            flow = HostFlow(context, host, release=release)
            state, reason = await flow.run()
            self._done[str(state)] += 1
            self._queue.put_nowait(HostDone(host=host.name, state=state, reason=reason))
        finally:
            release()

    async def _tick(self, total: int, started: float) -> None:
        names = [host.name for host in self.hosts]
        while True:
            await asyncio.sleep(_PROGRESS_EVERY)
            done = sum(self._done.values())
            elapsed = max(time.monotonic() - started, 1e-6)
            rate = done / elapsed * 60
            eta = (total - done) / (rate / 60) if rate > 0 else None
            # This run's hosts only: a --limit or resumed run shares the database with others.
            with open_reader(self.store.path) as reader:
                ours = reader.state_counts(among=names).counts
            counts = {str(state): n for state, n in ours.items() if n}
            self._queue.put_nowait(Progress(counts=counts, done=done, total=total,
                                            rate_per_minute=rate, eta_seconds=eta))  # fmt: skip
