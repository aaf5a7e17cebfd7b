"""Running a pack on one host: detect, the steps in order, verify; reboots watched until the
host is back with a new boot time (and in the mode the step asked for).

Actions are named `<pack>/<step>` (an inner pack's as `<outer>/<step>/<inner>/<step>`), so a
resumed run can tell from the store where each host stood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetfix.engine.attempts import run_recorded
from fleetfix.engine.context import Link, RunContext
from fleetfix.engine.reboot import BootState, current_boot, restart, wait_for_boot
from fleetfix.models import Host
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
from fleetfix.probe.facts import latest_readable
from fleetfix.store import open_reader
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
        self.boot_before: BootState | None = None

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
            return PackResult(False, f"{pack.id} detect: {_reason(attempted.error)}",
                              hands_on=attempted.silent)  # fmt: skip
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
            return PackResult(False, f"{pack.id} verify: {_reason(attempted.error)}",
                              hands_on=attempted.silent)  # fmt: skip
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
        if step.reboots:
            # The boot before the script restarts the host: the wait after it must see a
            # newer one, not the old boot still answering while Windows shuts down.
            self.boot_before = await current_boot(self.context, self.link) or self.known_boot()
        attempted = await run_recorded(
            self.context, self.link, self.host, step=name, script=step.script, params=params,
            destructive=step.destructive, repeatable=repeatable, retries=step.retries,
        )  # fmt: skip
        if attempted.result is None:
            if attempted.maybe_ran and not repeatable:
                return await self.verify_instead(pack, params, name)
            # A host that went silent mid-pack is left as it is, for a technician.
            return PackResult(False, f"{name}: {_reason(attempted.error)}",
                              hands_on=attempted.silent)  # fmt: skip
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

    async def reboot(self, name: str) -> PackResult:
        ok, detail, before = await restart(self.context, self.link, self.host, name)
        # Gone before it said its boot time: the probe's is the one a new boot must beat.
        self.boot_before = before or self.known_boot()
        return PackResult(ok, f"{name}: {detail}", hands_on=not ok)

    def known_boot(self) -> BootState | None:
        """The boot time and mode of the host's latest recorded facts, if any."""
        with open_reader(self.context.store.path) as reader:
            facts = latest_readable([r.facts for r in reader.facts(self.host.name)])
        if facts is None or facts.last_boot is None:
            return None
        return BootState(facts.last_boot, str(facts.safe_mode))

    async def wait_for_boot(self, name: str, *, safe: bool, timeout: float) -> PackResult:
        ok, detail = await wait_for_boot(
            self.context, self.link, self.host, name, before=self.boot_before, safe=safe,
            timeout=timeout,
        )  # fmt: skip
        stopped = detail.startswith("stopped")
        return PackResult(ok, f"{name}: {detail}", hands_on=not ok and not stopped,
                          stopped=stopped)  # fmt: skip


def _reason(error: errors.TransportError | None) -> str:
    return "no answer" if error is None else f"{error.status}: {error.reason}"


def pack_parameters(pack: Pack, given: Mapping[str, object]) -> dict[str, object]:
    """`pack`'s defaults overlaid with the operator's --param values it declares: an
    escalation pack keeps its own defaults (safe-mode-cycle does not require the sensor to
    run in safe mode, whatever the pack it came from requires)."""
    return pack.resolve_parameters({k: v for k, v in given.items() if pack.parameter(k)})
