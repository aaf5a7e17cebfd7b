"""Running a pack on one host: detect, the steps in order, verify; reboots watched until the
host is back with a new boot time (and in the mode the step asked for).

Actions are named `<pack>/<step>` (an inner pack's as `<outer>/<step>/<inner>/<step>`), so a
resumed run can tell from the store where each host stood.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from fleetfix.engine.attempts import MAYBE_RAN, run_recorded
from fleetfix.engine.context import Link, RunContext
from fleetfix.engine.events import StepFinished, StepStarted
from fleetfix.models import Host, HostState
from fleetfix.packs import (
    Action,
    Detection,
    Pack,
    StepKind,
    escalation_for,
    inner_parameters,
    read_detection,
    read_report,
)
from fleetfix.packs.model import Step
from fleetfix.probe.facts import ProbeFacts, SafeMode
from fleetfix.probe.run import ProbeStatus, probe_over, record_probe
from fleetfix.transports import errors

# Windows restarts at once and drops the connection; that drop is the expected answer.
RESTART_SCRIPT = "Restart-Computer -Force"
_RESTART_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class PackResult:
    ok: bool
    reason: str
    escalate_to: str | None = None
    hands_on: bool = False  # the host is left for a technician (did not come back, unsafe)
    stopped: bool = False  # the run is stopping: the host is left where it is, to resume
    compliant: bool = False  # detect found nothing to do


class PackRunner:
    """One host's pack work. `boot_before` is the host's boot time when the last reboot was
    requested: the wait steps compare against it."""

    def __init__(self, context: RunContext, link: Link, host: Host) -> None:
        self.context = context
        self.link = link
        self.host = host
        self.boot_before: datetime | None = None

    # --- whole packs --------------------------------------------------------------------

    async def detect(
        self, pack: Pack, params: Mapping[str, object], *, prefix: str = ""
    ) -> PackResult:
        attempted = await run_recorded(
            self.context, self.link, self.host, step=f"{prefix}{pack.id}/detect",
            script=pack.detect, params=params, destructive=False, repeatable=True,
            answers=frozenset({0, 1}),  # Intune: 1 means "needs remediation", an answer
        )  # fmt: skip
        if attempted.result is None:
            return PackResult(False, f"{pack.id} detect: {_reason(attempted.error)}")
        detection, report = read_detection(attempted.result.stdout, attempted.result.exit_code)
        if detection is Detection.COMPLIANT:
            return PackResult(True, f"{pack.id} detect: nothing to fix", compliant=True)
        if detection is Detection.FAILED:
            return PackResult(False, f"{pack.id} detect failed: {report.reason}")
        return PackResult(True, f"{pack.id} detect: needs remediation")

    async def steps(
        self, pack: Pack, params: Mapping[str, object], *, start: int = 0, prefix: str = ""
    ) -> PackResult:
        for index in range(start, len(pack.steps)):
            if self.context.stop.is_set():
                return PackResult(False, f"stopped before {pack.id}/{pack.steps[index].name}",
                                  stopped=True)  # fmt: skip
            result = await self.step(pack, pack.steps[index], params, prefix=prefix)
            if not result.ok:
                return result
        return PackResult(True, f"{pack.id}: all steps done")

    async def verify(
        self, pack: Pack, params: Mapping[str, object], *, prefix: str = ""
    ) -> PackResult:
        if pack.verify is None:
            return PackResult(True, f"{pack.id}: no verify script")
        attempted = await run_recorded(
            self.context, self.link, self.host, step=f"{prefix}{pack.id}/verify",
            script=pack.verify, params=params, destructive=False, repeatable=True,
        )  # fmt: skip
        if attempted.result is None:
            return PackResult(False, f"{pack.id} verify: {_reason(attempted.error)}")
        report = read_report(attempted.result.stdout, attempted.result.exit_code)
        if report.ok:
            return PackResult(True, f"{pack.id} verified")
        return PackResult(False, f"{pack.id} verify: {report.reason}",
                          escalate_to=escalation_for(pack, report))  # fmt: skip

    async def whole(
        self, pack: Pack, params: Mapping[str, object], *, prefix: str = ""
    ) -> PackResult:
        """Detect, steps, verify: an inner pack, or an escalation's fresh start."""
        detected = await self.detect(pack, params, prefix=prefix)
        if not detected.ok or detected.compliant:
            return detected
        done = await self.steps(pack, params, prefix=prefix)
        if not done.ok:
            return done
        return await self.verify(pack, params, prefix=prefix)

    # --- one step -----------------------------------------------------------------------

    async def step(
        self, pack: Pack, step: Step, params: Mapping[str, object], *, prefix: str = ""
    ) -> PackResult:
        name = f"{prefix}{pack.id}/{step.name}"
        if step.kind is StepKind.ACTION:
            assert step.action is not None
            if step.action is Action.REBOOT:
                return await self.reboot(name)
            return await self.wait_for_boot(
                name, safe=step.action is Action.WAIT_FOR_SAFE_MODE,
                timeout=min(step.timeout, self.context.policy.reboot_timeout),
            )  # fmt: skip
        if step.kind is StepKind.PACK:
            assert step.run_pack is not None
            inner = self.context.packs[step.run_pack]
            return await self.whole(inner, inner_parameters(inner, params), prefix=f"{name}/")
        return await self.script_step(pack, step, params, name=name)

    async def script_step(
        self, pack: Pack, step: Step, params: Mapping[str, object], *, name: str
    ) -> PackResult:
        assert step.script is not None
        repeatable = step.idempotent or not step.destructive
        attempted = await run_recorded(
            self.context, self.link, self.host, step=name, script=step.script, params=params,
            destructive=step.destructive, repeatable=repeatable, retries=step.retries,
        )  # fmt: skip
        if attempted.result is None:
            if attempted.maybe_ran and not repeatable:
                return await self.verify_instead(pack, params, name)
            return PackResult(False, f"{name}: {_reason(attempted.error)}")
        report = read_report(attempted.result.stdout, attempted.result.exit_code)
        if not report.ok:
            return PackResult(False, f"{name}: {report.reason}",
                              escalate_to=escalation_for(pack, report))  # fmt: skip
        if step.reboots:
            # The script restarts the host itself: watch it come back like a reboot step.
            return await self.wait_for_boot(f"{name}/wait", safe=False,
                                            timeout=self.context.policy.reboot_timeout)  # fmt: skip
        return PackResult(True, f"{name}: done")

    async def verify_instead(
        self, pack: Pack, params: Mapping[str, object], name: str
    ) -> PackResult:
        """A destructive, non-idempotent step may have run before the connection dropped: it
        is never repeated blindly. If the host verifies, it ran; otherwise a human decides."""
        verified = await self.verify(pack, params)
        if verified.ok:
            return PackResult(True, f"{name}: the connection dropped mid-step; verify passed")
        return PackResult(False, f"{name}: the connection dropped mid-step and verify did not "
                                 "pass; not repeating a step that must not run twice",
                          hands_on=True)  # fmt: skip

    # --- reboots ------------------------------------------------------------------------

    async def boot_time(self) -> ProbeFacts | None:
        """The host's facts now (one probe round trip, kept as facts history)."""
        started = time.monotonic()
        try:
            session = await self.link.session()
            probed = await probe_over(session, timeout=self.context.policy.probe_timeout)
        except errors.TransportError:
            await self.link.drop()
            return None
        record_probe(self.context.probe, self.host, probed, duration=time.monotonic() - started)
        return probed.facts if probed.status is ProbeStatus.OK else None

    async def reboot(self, name: str) -> PackResult:
        context = self.context
        facts = await self.boot_time()
        if facts is None or facts.last_boot is None:
            return PackResult(False, f"{name}: could not read the boot time before restarting")
        self.boot_before = facts.last_boot
        action = context.store.record_intent(
            run_id=context.run_id, host=self.host.name, step=name, destructive=True,
            params={"boot_before": facts.last_boot.isoformat()},
        )  # fmt: skip
        context.emit(StepStarted(host=self.host.name, step=name, attempt=1, destructive=True))
        context.move(self.host, HostState.AWAITING_REBOOT, f"{name}: restart requested")
        try:
            await self.link.run(RESTART_SCRIPT, params=None, timeout=_RESTART_TIMEOUT)
        except MAYBE_RAN:
            pass  # the host went down under the command: what a restart looks like
        except errors.TransportError as exc:
            context.store.record_outcome(action, status="error", detail=_reason(exc))
            context.emit(StepFinished(host=self.host.name, step=name, attempt=1, status="error",
                                      detail=_reason(exc)))  # fmt: skip
            return PackResult(False, f"{name}: {_reason(exc)}")
        await self.link.drop()
        context.store.record_outcome(action, status="ok", detail="restart requested")
        context.emit(StepFinished(host=self.host.name, step=name, attempt=1, status="ok",
                                  detail="restart requested"))  # fmt: skip
        return PackResult(True, f"{name}: restart requested")

    async def wait_for_boot(self, name: str, *, safe: bool, timeout: float) -> PackResult:
        context, policy = self.context, self.context.policy
        wanted = "safe mode" if safe else "a normal boot"
        before = self.boot_before
        action = context.store.record_intent(
            run_id=context.run_id, host=self.host.name, step=name, destructive=False,
            params={"boot_before": None if before is None else before.isoformat()},
        )  # fmt: skip
        context.emit(StepStarted(host=self.host.name, step=name, attempt=1, destructive=False))
        deadline = time.monotonic() + timeout
        seen_mode: SafeMode | None = None
        while time.monotonic() < deadline:
            if context.stop.is_set():
                context.store.record_outcome(action, status="interrupted", detail="run stopping")
                return PackResult(False, f"stopped while waiting for {wanted}", stopped=True)
            facts = await self.boot_time()
            if facts is not None and _rebooted(facts, before):
                seen_mode = facts.safe_mode
                if (seen_mode is not SafeMode.NORMAL) == safe:
                    detail = f"back in {wanted} (booted {facts.last_boot:%H:%M:%S} host time)"
                    context.store.record_outcome(action, status="ok", detail=detail)
                    context.emit(StepFinished(host=self.host.name, step=name, attempt=1,
                                              status="ok", detail=detail))  # fmt: skip
                    context.move(self.host, HostState.REMEDIATING, f"{name}: {detail}")
                    return PackResult(True, f"{name}: {detail}")
                break
            await asyncio.sleep(policy.watch_interval)
        if seen_mode is not None:
            detail = f"came back in {seen_mode} mode, not {wanted}"
        else:
            detail = f"did not come back with a new boot time within {timeout:g} s"
        context.store.record_outcome(action, status="failed", detail=detail)
        context.emit(StepFinished(host=self.host.name, step=name, attempt=1, status="failed",
                                  detail=detail))  # fmt: skip
        return PackResult(False, f"{name}: {detail}", hands_on=True)


def _rebooted(facts: ProbeFacts, before: datetime | None) -> bool:
    if facts.last_boot is None:
        return False
    return before is None or facts.last_boot > before


def _reason(error: errors.TransportError | None) -> str:
    return "no answer" if error is None else f"{error.status}: {error.reason}"


def pack_parameters(pack: Pack, given: Mapping[str, object]) -> dict[str, object]:
    """`pack`'s defaults overlaid with the operator's --param values it declares: an
    escalation pack keeps its own defaults (safe-mode-cycle does not require the sensor to
    run in safe mode, whatever the pack it came from requires)."""
    return pack.resolve_parameters({k: v for k, v in given.items() if pack.parameter(k)})
