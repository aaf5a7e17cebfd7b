"""One host's recovery, from probe to its final state for this run.

    probe ──answered──> pack detect ──compliant──> healthy (or recovered, if it was being fixed)
      │                     └─needs──> remediating ─> steps ─> verify ─> recovered
      │                                         └─failed─> escalation pack, else failed
      └─silent (unreachable, boot loop)──> watch with TCP checks; on an answer fire the pack's
                                            first step at once, then the rest and verify;
                                            no answer within the policy's time: needs hands-on

A stop request (breaker, Ctrl-C) is honoured between steps: the host is left in the state its
last committed step put it in, which is where a resumed run picks it up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from fleetfix.engine import handover
from fleetfix.engine.context import Link, RunContext
from fleetfix.engine.events import BreakerTripped, HandsOn, Planned, WindowCaught
from fleetfix.engine.packrun import PackResult, PackRunner, pack_parameters
from fleetfix.engine.resume import resume_point
from fleetfix.models import Host, HostState
from fleetfix.packs import Pack, StepKind
from fleetfix.probe.facts import latest_readable
from fleetfix.probe.run import Probed, ProbeOutcome, ProbeStatus, probe_over, record_probe
from fleetfix.store import open_reader
from fleetfix.transports import errors
from fleetfix.transports.runner import status_of

S = HostState
# bitlocker-protectors' parameters that the key providers fill in per host.
ESCROWED, PROVIDED = "EscrowedKeyIds", "KeyProviderConfigured"
#: The audit event that hands a host to a technician, with the instructions and key IDs.
HANDS_ON_EVENT = "host.hands_on"
NOT_TOUCHED = frozenset({S.RECOVERED, S.SKIPPED})
# States from which a host that now verifies clean counts as recovered rather than healthy.
_BEING_FIXED = frozenset({S.REMEDIATING, S.AWAITING_REBOOT, S.NEEDS_HANDS_ON, S.FAILED})

Release = Callable[[], None]
_DROPPED = frozenset({ProbeStatus.CONNECTION_LOST, ProbeStatus.TIMEOUT})


class HostFlow:
    def __init__(self, context: RunContext, host: Host, *, release: Release) -> None:
        self.context = context
        self.host = host
        self.link = Link(context, host)
        self.runner = PackRunner(context, self.link, host)
        # Called when the host no longer needs a worker slot (it is only being watched).
        self.release = release
        self.pack: Pack = context.packs[context.policy.pack]
        self.params: Mapping[str, object] = pack_parameters(self.pack, context.policy.pack_params())

    @property
    def state(self) -> HostState:
        return self.context.state_of(self.host)

    async def run(self) -> tuple[HostState, str]:
        """The host's state when the run is done with it, and why."""
        current = self.state
        if current in NOT_TOUCHED:
            return current, f"{current} already: not touched"
        if current is S.HEALTHY and not self.context.policy.recheck_healthy:
            return current, "healthy already: not touched (--recheck-healthy probes it again)"
        self.params = await self.escrow_params(self.pack, self.params)
        try:
            earlier = self.context.earlier.get(self.host.name.casefold())
            if earlier:
                return await self.resume()
            return await self.fresh()
        finally:
            await self.link.drop()

    # --- a host seen for the first time in this run ---------------------------------------

    async def fresh(self) -> tuple[HostState, str]:
        outcome = await self.probe()
        if outcome.status is ProbeStatus.AUTH_FAILED:
            self.auth_failed()
            return self.fail(f"credentials rejected: {outcome.error}")
        if outcome.status in _DROPPED:
            # It answered and then went away or hung: what a boot loop looks like up close.
            if self.context.policy.dry_run:  # watching would fire the first step at once
                return self.plan_watch()
            return await self.watch()
        if outcome.diagnosis is None:
            return self.fail(f"probe {outcome.status}: {outcome.error}")
        diagnosed = outcome.diagnosis.state
        if diagnosed in {S.UNREACHABLE, S.BOOT_LOOP}:
            if self.context.policy.dry_run:
                return self.plan_watch()
            return await self.watch()
        return await self.remediate()

    async def probe(self) -> ProbeOutcome:
        started = time.monotonic()
        try:
            probed = await probe_over(await self.link.session(),
                                      timeout=self.context.policy.probe_timeout)  # fmt: skip
        except errors.TransportError as exc:
            await self.link.drop()
            probed = Probed(ProbeStatus(str(status_of(exc))), None, error=exc.reason)
        return record_probe(self.context.probe, self.host, probed,
                            duration=time.monotonic() - started)  # fmt: skip

    async def remediate(self) -> tuple[HostState, str]:
        detected = await self.runner.detect(self.pack, self.params)
        if not detected.ok:
            return self.fail(detected.reason)
        if detected.compliant:
            target = S.RECOVERED if self.state in _BEING_FIXED else S.HEALTHY
            if self.context.policy.dry_run:
                return self.plan([f"nothing to do: {detected.reason}"])
            self.context.move(self.host, target, detected.reason)
            return self.state, detected.reason
        if self.context.policy.dry_run:
            return self.plan(self.describe(self.pack))
        self.context.move(self.host, S.AFFECTED, detected.reason)
        self.context.move(self.host, S.REMEDIATING, f"running {self.pack.id}")
        return await self.finish(await self.steps_and_verify(self.pack, self.params, start=0))

    async def steps_and_verify(
        self, pack: Pack, params: Mapping[str, object], *, start: int
    ) -> PackResult:
        done = await self.runner.steps(pack, params, start=start)
        if not done.ok:
            return done
        return await self.runner.verify(pack, params)

    async def finish(self, result: PackResult, *, escalated: bool = False) -> tuple[HostState, str]:
        """The host's end after its pack: recovered, escalated, handed over or failed."""
        if result.ok:
            self.context.move(self.host, S.RECOVERED, result.reason)
            return self.state, result.reason
        if result.stopped:
            return self.state, result.reason
        if result.escalate_to and not escalated and result.escalate_to in self.context.packs:
            escalation = self.context.packs[result.escalate_to]
            self.context.move(self.host, S.REMEDIATING,
                              f"{result.reason}: escalated to {escalation.id}")  # fmt: skip
            params = await self.escrow_params(
                escalation, pack_parameters(escalation, self.context.policy.pack_params())
            )
            return await self.finish(await self.runner.whole(escalation, params), escalated=True)
        if result.hands_on:
            return await self.hands_on(result.reason)
        return self.fail(result.reason)

    # --- boot loops and silent hosts -------------------------------------------------------

    async def watch(self) -> tuple[HostState, str]:
        """Cheap TCP checks until the host answers, then the fix at once (its windows may be
        seconds long); nothing within the policy's time: a technician is needed."""
        self.release()
        policy = self.context.policy
        started = time.monotonic()
        deadline = started + policy.hands_on_after
        while time.monotonic() < deadline:
            if self.context.stop.is_set():
                return self.state, "run stopping: still watching for a window"
            if await self.link.listening():
                fired = await self.fire(time.monotonic() - started)
                if fired is not None:
                    return fired
            await asyncio.sleep(policy.watch_interval)
        return await self.hands_on(f"no answer for {_duration(policy.hands_on_after)} of watching")

    async def fire(self, waited: float) -> tuple[HostState, str] | None:
        """The host answered: its pack's first step now, in one round trip when it is a safe
        (idempotent) script; else the full probe-and-detect path. None: the window closed
        before anything ran, keep watching."""
        first = self.pack.steps[0] if self.pack.steps else None
        if first is None or first.kind is not StepKind.SCRIPT or not first.idempotent:
            try:
                await self.link.session()
            except errors.TransportError:
                return None
            return await self.fresh_after_window()
        self.context.move(self.host, S.BOOT_LOOP, "answered after being silent")
        self.context.move(self.host, S.REMEDIATING, f"window: {self.pack.id}/{first.name} at once")
        name = f"{self.pack.id}/{first.name}"
        result = await self.runner.script_step(self.pack, first, self.params, name=name)
        if not result.ok and "unreachable" in result.reason and not result.escalate_to:
            return None  # never reached the host: the window closed first
        # The fix reached the host inside a window, whatever it then reported.
        self.context.windows_caught += 1
        self.context.emit(WindowCaught(host=self.host.name, waited=waited))
        if result.ok:
            result = await self.steps_and_verify(self.pack, self.params, start=1)
        return await self.finish(result)

    async def fresh_after_window(self) -> tuple[HostState, str]:
        outcome = await self.probe()
        if outcome.status is ProbeStatus.AUTH_FAILED:
            self.auth_failed()
            return self.fail(f"credentials rejected: {outcome.error}")
        if outcome.diagnosis is None or outcome.diagnosis.state in {S.UNREACHABLE, S.BOOT_LOOP}:
            return await self.watch()
        return await self.remediate()

    async def escrow_params(self, pack: Pack, params: Mapping[str, object]) -> Mapping[str, object]:
        """For a pack that asks which key protectors are escrowed (bitlocker-protectors), the
        IDs the configured key providers hold for this host, unless the operator passed them.
        KeyProviderConfigured only when every provider answered: a provider that is down must
        not make its keys look unescrowed."""
        wanted = pack.parameter(ESCROWED) is not None and pack.parameter(PROVIDED) is not None
        given = {ESCROWED, PROVIDED} & set(self.context.policy.params)
        finder = self.context.key_ids_for
        if not wanted or given or finder is None:
            return params
        loop = asyncio.get_running_loop()
        found, note = await loop.run_in_executor(None, finder, self.host.name)
        return {**params, ESCROWED: list(found), PROVIDED: note is None}

    # --- endings -------------------------------------------------------------------------

    async def hands_on(self, why: str) -> tuple[HostState, str]:
        loop = asyncio.get_running_loop()
        key_ids = list(await loop.run_in_executor(None, self.known_key_ids))
        note = None
        if self.context.key_ids_for is not None:
            found, note = await loop.run_in_executor(None, self.context.key_ids_for, self.host.name)
            key_ids += [i for i in found if i not in key_ids]
        left = await loop.run_in_executor(None, self.left_in)
        instructions = handover.instructions(self.host.name, why, pack_id=self.pack.id,
                                             left=left, note=note)  # fmt: skip
        # On the record before the state moves: a TUI following this run from the store shows
        # the technician these words and IDs (never a key) as soon as the host joins the queue.
        details = {"run_id": self.context.run_id, "why": why, "instructions": instructions,
                   "key_ids": key_ids, "left_in": left}  # fmt: skip
        self.context.store.audit(HANDS_ON_EVENT, actor=self.context.actor, host=self.host.name,
                                 details=details)  # fmt: skip
        self.context.move(self.host, S.NEEDS_HANDS_ON, why)
        self.context.emit(HandsOn(host=self.host.name, instructions=instructions,
                                  key_ids=tuple(key_ids)))  # fmt: skip
        return self.state, why

    def left_in(self) -> list[str]:
        """What this run's steps left changed on the host (safe boot, BitLocker suspended)."""
        with open_reader(self.context.store.path) as reader:
            mine = reader.actions(run_id=self.context.run_id, host=self.host.name)
        return handover.left_in(mine)

    def known_key_ids(self) -> tuple[str, ...]:
        """Recovery-password protector IDs from the host's latest facts (IDs, never keys)."""
        with open_reader(self.context.store.path) as reader:
            facts = latest_readable([r.facts for r in reader.facts(self.host.name)])
        if facts is None:
            return ()
        return tuple(i for volume in facts.bitlocker for i in volume.recovery_key_ids)

    def fail(self, why: str) -> tuple[HostState, str]:
        self.context.move(self.host, S.FAILED, why)
        breakers = self.context.breakers
        if breakers.host_failed():
            self.context.emit(BreakerTripped(breaker="failures", reason=breakers.reason))
            self.context.stop.set()
        return self.state, why

    def auth_failed(self) -> None:
        breakers = self.context.breakers
        if breakers.auth_failed(self.context.credential_of(self.host)):
            self.context.emit(BreakerTripped(breaker="auth", reason=breakers.reason))
            self.context.stop.set()

    def plan(self, steps: list[str]) -> tuple[HostState, str]:
        self.context.emit(Planned(host=self.host.name, state=self.state, plan=tuple(steps)))
        return self.state, "dry run: " + "; ".join(steps)

    def plan_watch(self) -> tuple[HostState, str]:
        first = self.pack.steps[0].name
        return self.plan(["watch for a reachable window (TCP checks)",
                          f"then {self.pack.id}: {first} at once"])  # fmt: skip

    def describe(self, pack: Pack) -> list[str]:
        lines = [f"{pack.id} detect: needs remediation"]
        for step in pack.steps:
            flags = [f for f, on in (("destructive", step.destructive),
                                     ("reboots", step.reboots)) if on]  # fmt: skip
            what = step.run_pack or (step.action and str(step.action)) or "script"
            lines.append(f"{step.name} ({what}{', ' + ', '.join(flags) if flags else ''})")
        if pack.verify is not None:
            lines.append(f"{pack.id} verify")
        return lines

    # --- resuming after fleetfix itself stopped -------------------------------------------

    async def resume(self) -> tuple[HostState, str]:
        point = await resume_point(self.context, self.runner, self.host, self.pack, self.params)
        if point is None:
            return await self.fresh()
        if point.outcome is not None:
            if point.outcome.ok:
                self.context.move(self.host, S.RECOVERED, point.outcome.reason)
                return self.state, point.outcome.reason
            return await self.finish(point.outcome)
        self.context.move(
            self.host, S.REMEDIATING, f"resumed at {point.pack.id} step {point.start + 1}"
        )
        result = await self.steps_and_verify(point.pack, point.params, start=point.start)
        return await self.finish(result, escalated=point.pack.id != self.pack.id)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:.0f} min"
