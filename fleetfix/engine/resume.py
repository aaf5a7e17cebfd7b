"""Where a resumed run picks a host up, from the actions the stopped run committed.

The last action decides. An intent without an outcome means fleetfix stopped while the step
may or may not have reached the host: the intent is closed as `interrupted`, and the host is
verified before anything is repeated. If it verifies, it is recovered and nothing runs again.
Otherwise: a reboot counts as done when the host's boot time is newer than the one recorded
with it; a wait is waited again; an idempotent step runs again; a destructive step that is not
idempotent is never repeated and the host goes to a technician.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from fleetfix.engine.context import RunContext
from fleetfix.engine.packrun import PackResult, PackRunner, pack_parameters
from fleetfix.engine.reboot import BootState, current_boot
from fleetfix.models import Host
from fleetfix.packs import Action, Pack, StepKind
from fleetfix.store import ActionRecord


@dataclass(frozen=True, slots=True)
class ResumePoint:
    pack: Pack
    params: Mapping[str, object]
    start: int  # the index of the step to run next
    outcome: PackResult | None = None  # set when the host needs no more steps


async def resume_point(
    context: RunContext, runner: PackRunner, host: Host, top: Pack, params: Mapping[str, object]
) -> ResumePoint | None:
    """None: start the host afresh (probe, detect), which is always safe."""
    earlier = context.earlier.get(host.name.casefold(), ())
    if not earlier:
        return None
    last = earlier[-1]
    parts = last.step.split("/")
    pack = context.packs.get(parts[0])
    if pack is None or len(parts) < 2:
        return None
    pack_params = (
        params if pack.id == top.id else pack_parameters(pack, context.policy.pack_params())
    )
    index = next((i for i, s in enumerate(pack.steps) if s.name == parts[1]), None)
    if last.outcome_at is None:
        context.store.record_outcome(
            last.id, status="interrupted",
            detail="fleetfix stopped before the outcome was known; verified on resume",
        )  # fmt: skip
        verified = await runner.verify(pack, pack_params)
        if verified.ok:
            return ResumePoint(pack, pack_params, len(pack.steps),
                               PackResult(True, f"resumed: {verified.reason}"))  # fmt: skip
    if index is None:  # detect or verify: both are read-only, start over
        return None
    step = pack.steps[index]
    _restore_boot_time(runner, last, earlier)
    if last.outcome_at is not None:
        return ResumePoint(pack, pack_params, index + 1 if last.status == "ok" else index)
    if step.kind is StepKind.ACTION and step.action is Action.REBOOT:
        # The restart's outcome (and so the boot time before it) was never written. The
        # host's clock cannot be compared with ours, but its mode can: a host that was in
        # normal mode and answers from safe mode (or the other way round) has restarted.
        now = await current_boot(context, runner.link)
        was_safe = _mode_before(earlier) == "safe"
        rebooted = now is not None and (now.mode != "normal") != was_safe
        runner.boot_before = now if rebooted else None
        return ResumePoint(pack, pack_params, index + 1 if rebooted else index)
    if step.kind is StepKind.SCRIPT and step.destructive and not step.idempotent:
        why = (f"{pack.id}/{step.name} was interrupted and verify did not pass; it must not "
               "run twice")  # fmt: skip
        return ResumePoint(pack, pack_params, index, PackResult(False, why, hands_on=True))
    return ResumePoint(pack, pack_params, index)


def _restore_boot_time(
    runner: PackRunner, last: ActionRecord, earlier: tuple[ActionRecord, ...]
) -> None:
    """The boot state recorded with the latest restart (its outcome) or wait (its params),
    for the wait that follows."""
    del last
    for action in reversed(earlier):
        for source in (action.params, _json(action.detail)):
            state = BootState.from_dict(source)
            if state is not None:
                runner.boot_before = state
                return


def _mode_before(earlier: tuple[ActionRecord, ...]) -> str:
    """The mode the host was last seen to boot into in this run: safe or normal."""
    mode = "normal"
    for action in earlier:
        if action.status == "ok" and action.step.endswith("/wait-for-safe-mode"):
            mode = "safe"
        elif action.status == "ok" and action.step.endswith("/wait-for-boot"):
            mode = "normal"
    return mode


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None
