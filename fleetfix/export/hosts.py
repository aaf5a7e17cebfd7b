"""One host's story: first diagnosis and its evidence, what was done, how it was fixed.

Only whitelisted fields leave here. An action's `detail` (a script's output) and `params`, a
facts row's free-form fields and anything else a host or a script wrote are never copied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from fleetfix.export.model import (
    ActionLine,
    Bugcheck,
    ChannelFileEvidence,
    Evidence,
    HostReport,
)
from fleetfix.export.stats import seconds_to_recover
from fleetfix.export.text import scrub
from fleetfix.models import HostState
from fleetfix.probe.facts import ProbeOutputError, parse_facts
from fleetfix.probe.rules import ChannelVerdict, judge_channel_file
from fleetfix.store.records import (
    ActionRecord,
    FactsRecord,
    HostRecord,
    RunRecord,
    TransitionRecord,
)

DIAGNOSED = frozenset(
    {HostState.UNREACHABLE, HostState.HEALTHY, HostState.AFFECTED, HostState.BOOT_LOOP}
)
SAFE_MODE_PACK = "safe-mode-cycle"
# Steps only the safe-mode cycle takes: a resumed run may have lost its pack name.
_SAFE_MODE_STEPS = frozenset({"enter-safe-mode", "reboot-to-safe-mode", "wait-for-safe-mode"})


def host_report(
    host: HostRecord,
    *,
    history: Sequence[TransitionRecord],
    actions: Sequence[ActionRecord],
    facts: Sequence[FactsRecord],
    runs: Mapping[int, RunRecord],
    since: datetime | None,
) -> HostReport:
    diagnosis = next((r for r in history if r.to_state in DIAGNOSED), None)
    shown = [a for a in actions if since is None or a.intent_at >= since]
    return HostReport(
        name=host.name,
        tags=tuple(sorted(host.tags, key=str.casefold)),
        diagnosis=None if diagnosis is None else diagnosis.to_state,
        diagnosed_at=None if diagnosis is None else diagnosis.at,
        diagnosis_reason="" if diagnosis is None else scrub(diagnosis.reason),
        evidence=_evidence(facts, before=None if diagnosis is None else diagnosis.at),
        actions=tuple(_action_line(a, runs) for a in shown),
        fixed_by=_fixed_by(host, history, actions, runs),
        state=host.state,
        state_since=host.since,
        seconds_to_recover=seconds_to_recover(host, history),
        actors=_actors(history, actions, runs),
    )


def _action_line(action: ActionRecord, runs: Mapping[int, RunRecord]) -> ActionLine:
    run = runs.get(action.run_id)
    return ActionLine(
        started_at=action.intent_at,
        finished_at=action.outcome_at,
        step=action.step,
        attempt=action.attempt,
        result=action.status,
        actor="" if run is None else run.actor,
    )


def _evidence(facts: Sequence[FactsRecord], *, before: datetime | None) -> Evidence | None:
    """The probe behind the first diagnosis: the newest facts at or before it, else the first."""
    if not facts:
        return None
    chosen = facts[0]
    if before is not None:
        chosen = next((f for f in reversed(facts) if f.collected_at <= before), facts[0])
    try:
        probe = parse_facts(chosen.facts)
    except ProbeOutputError:
        return None
    files = tuple(
        ChannelFileEvidence(
            name=file.name,
            verdict=verdict.value,
            last_write_utc=file.last_write_utc,
            sha256=file.sha256,
        )
        for file in sorted(probe.channel_files, key=lambda f: f.name)
        if (verdict := judge_channel_file(file)) is not ChannelVerdict.GOOD
    )
    codes = Counter(
        f"0x{event.bugcheck_code:X}"
        for event in probe.crash_events
        if event.bugcheck_code is not None
    )
    bugchecks = tuple(Bugcheck(code=code, events=n) for code, n in sorted(codes.items()))
    return Evidence(collected_at=chosen.collected_at, channel_files=files, bugchecks=bugchecks)


def _fixed_by(
    host: HostRecord,
    history: Sequence[TransitionRecord],
    actions: Sequence[ActionRecord],
    runs: Mapping[int, RunRecord],
) -> str | None:
    if host.state is not HostState.RECOVERED or not history:
        return None
    if history[-1].from_state is HostState.NEEDS_HANDS_ON:
        return "by hand"
    safe_mode = any(
        a.step in _SAFE_MODE_STEPS or (a.run_id in runs and runs[a.run_id].pack == SAFE_MODE_PACK)
        for a in actions
    )
    return "safe-mode cycle" if safe_mode else "remote"


def _actors(
    history: Sequence[TransitionRecord],
    actions: Sequence[ActionRecord],
    runs: Mapping[int, RunRecord],
) -> tuple[str, ...]:
    # The import's actor only put the host on a list; everyone after it acted on the host.
    names = {r.actor for r in history if r.from_state is not None}
    names |= {runs[a.run_id].actor for a in actions if a.run_id in runs}
    return tuple(sorted(names))
