"""The recovery engine (`FleetRun`) against a real lab fleet on loopback, through the real
clients, with a real incident database. The lab's ground truth (truth.py) is the answer key
for where each host must end; its per-host command history is the witness of what reached
a host and what did not.

Faults are switched on by watching the lab host's own history (a script has arrived) rather
than the engine's events, so the moment a fault strikes does not depend on how the event loop
interleaves the engine, the observer and the lab's servers.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from fleetfix.engine import FleetRun, RunPolicy, Share
from fleetfix.engine.events import (
    BreakerTripped,
    Event,
    HostDone,
    Planned,
    RetryScheduled,
    RunFinished,
    StepFinished,
    WaveStarted,
    WindowCaught,
)
from fleetfix.inventory import load_inventory
from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.boot import CommandRecord
from fleetfix.lab.fleet import Lab
from fleetfix.lab.host import LabHost
from fleetfix.lab.truth import Condition, HostTruth
from fleetfix.models import Host, HostState
from fleetfix.packs import Pack, load_packs
from fleetfix.probe import probe_script
from fleetfix.probe.rules import TimestampRule
from fleetfix.store import ActionRecord, Store, open_reader
from tests.integration.test_transport_support import PASSWORD, options

pytestmark = pytest.mark.integration

S = HostState
C = Condition


# --- a lab, a store, a run ------------------------------------------------------------------


async def start_lab(
    directory: Path, *, hosts: int, scenario: str = "crowdstrike-291", seed: int = 7,
    time_scale: float = 40.0,
) -> Lab:  # fmt: skip
    return await Lab.start(
        hosts=hosts, scenario=scenario, seed=seed, time_scale=time_scale, directory=directory,
        password=PASSWORD, ssh_port=0, winrm_port=0, winrms_port=0,
    )  # fmt: skip


@pytest.fixture
async def service_lab(tmp_path: Path) -> AsyncIterator[Lab]:
    """Ten hosts that all boot fine: every host answers, so the order of work is the test."""
    running = await start_lab(tmp_path / "lab", hosts=10, scenario="service-outage",
                              seed=11, time_scale=1000.0)  # fmt: skip
    yield running
    await running.stop()


def lab_hosts(lab: Lab) -> list[Host]:
    return list(load_inventory(Path(lab.paths()["inventory_csv"])).hosts)


def truths(lab: Lab) -> dict[str, HostTruth]:
    return {truth.name: truth for truth in lab.fleet.truths}


def open_store(path: Path, hosts: list[Host]) -> Store:
    store = Store.open(path)
    store.import_hosts(hosts, source="lab inventory", actor="pytest")
    return store


async def drive(
    lab: Lab,
    store: Store,
    hosts: list[Host],
    policy: RunPolicy,
    *,
    packs: Mapping[str, Pack] | None = None,
    password: str = PASSWORD,
    on_event: Callable[[Event], None] | None = None,
) -> list[Event]:
    run = FleetRun(
        hosts, policy=policy, store=store, packs=packs or load_packs(),
        options_for=lambda _host: options(lab, password=password), actor="pytest",
    )  # fmt: skip
    seen: list[Event] = []
    async for event in run.events():
        seen.append(event)
        if on_event is not None:
            on_event(event)
    return seen


def finished(events: list[Event]) -> RunFinished:
    found = [e for e in events if isinstance(e, RunFinished)]
    assert len(found) == 1, found
    return found[0]


def final_states(events: list[Event]) -> dict[str, HostState]:
    return {e.host: e.state for e in events if isinstance(e, HostDone)}


def actions(store: Store, host: str) -> list[ActionRecord]:
    with open_reader(store.path) as reader:
        return [a for a in reader.actions() if a.host == host]


# --- what reached a host --------------------------------------------------------------------

_ENCODED = re.compile(r"-EncodedCommand\s+(\S+)", re.IGNORECASE)


def script_of(record: CommandRecord) -> str:
    """The PowerShell a history record carried (on stdin or as -EncodedCommand)."""
    if record.stdin:
        return record.stdin
    found = _ENCODED.search(record.command)
    if found is None:
        return record.command
    return base64.b64decode(found.group(1)).decode("utf-16-le")


def carried(record: CommandRecord, script_text: str) -> bool:
    """Whether the record ran this script (the engine wraps it in a fixed param block)."""
    return textwrap.dedent(script_text).strip() in script_of(record)


def runs_of(host: LabHost, script_text: str) -> int:
    return sum(carried(r, script_text) for r in host.history)


async def when_run(host: LabHost, script_text: str, count: int) -> None:
    """Returns once `host` has received `script_text` `count` times."""
    while runs_of(host, script_text) < count:
        await asyncio.sleep(0.005)


# --- tiny packs written for a test ----------------------------------------------------------

PACKS_README = "Test packs."


def write_pack(root: Path, pack_id: str, *, steps: Iterable[dict[str, Any]],
               scripts: Mapping[str, str]) -> Path:  # fmt: skip
    """A pack folder: detect.ps1 and verify.ps1 always, plus each step's script."""
    folder = root / pack_id
    folder.mkdir(parents=True)
    lines = [f'id = "{pack_id}"', f'title = "{pack_id}"', 'version = "1.0.0"',
             'description = "A pack written by a test."', "",
             "[detect]", 'script = "detect.ps1"', "timeout = 60", ""]  # fmt: skip
    for step in steps:
        lines.append("[[steps]]")
        for key, value in step.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
            lines.append(f"{key} = {shown}")
        lines.append("")
    lines += ["[verify]", 'script = "verify.ps1"', "timeout = 60", ""]
    (folder / "pack.toml").write_text("\n".join(lines), encoding="utf-8")
    for name, text in scripts.items():
        (folder / name).write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
    return root


NEEDS_FIX = """
    # Test pack detect: always needs remediation.
    $report = [pscustomobject]@{ compliant = $false; reason = 'test: needs the fix' }
    $report | ConvertTo-Json -Compress
    exit 1
"""
ALWAYS_FAILS = """
    # Test pack step: fails every time, on every host.
    $report = [pscustomobject]@{ ok = $false; reason = 'test: this step always fails' }
    $report | ConvertTo-Json -Compress
    exit 1
"""
MARKER = "C:\\ProgramData\\fleetfix-test\\marker.txt"
MARKER_DETECT = f"""
    # Test pack detect: compliant once the marker file exists.
    if (Test-Path -Path '{MARKER}') {{
        $report = [pscustomobject]@{{ compliant = $true; reason = 'marker present' }}
        $report | ConvertTo-Json -Compress
        exit 0
    }}
    [pscustomobject]@{{ compliant = $false; reason = 'marker missing' }} | ConvertTo-Json -Compress
    exit 1
"""
MARKER_VERIFY = f"""
    # Test pack verify: the marker file exists.
    $ok = Test-Path -Path '{MARKER}'
    [pscustomobject]@{{ ok = $ok; reason = 'marker checked' }} | ConvertTo-Json -Compress
    if ($ok) {{ exit 0 }} else {{ exit 1 }}
"""
# Writes the marker, then takes 400 lab seconds (0.4 s at the lab's time scale of 1000) to
# answer: time for a fault to strike while the answer is on its way.
MARKER_WRITE = f"""
    # Test pack step: writes the marker, then answers slowly.
    New-Item -Path 'C:\\ProgramData\\fleetfix-test' -ItemType Directory -Force | Out-Null
    Add-Content -Path '{MARKER}' -Value 'written'
    Start-Sleep -Seconds 400
    $report = [pscustomobject]@{{ ok = $true; reason = 'marker written'; changed = $true }}
    $report | ConvertTo-Json -Compress
    exit 0
"""


def failing_pack(root: Path) -> dict[str, Pack]:
    write_pack(root, "always-fails",
               steps=[{"name": "fail", "script": "fail.ps1", "destructive": True,
                       "idempotent": True, "reboots": False, "timeout": 60}],
               scripts={"detect.ps1": NEEDS_FIX, "fail.ps1": ALWAYS_FAILS,
                        "verify.ps1": ALWAYS_FAILS})  # fmt: skip
    return load_packs([root])


def marker_pack(root: Path, *, idempotent: bool) -> dict[str, Pack]:
    write_pack(root, "write-marker",
               steps=[{"name": "write", "script": "write.ps1", "destructive": True,
                       "idempotent": idempotent, "reboots": False, "timeout": 60}],
               scripts={"detect.ps1": MARKER_DETECT, "write.ps1": MARKER_WRITE,
                        "verify.ps1": MARKER_VERIFY})  # fmt: skip
    return load_packs([root])


# --- crowdstrike-291 end to end -------------------------------------------------------------

# 12 hosts, seed 7: 2 healthy, 2 affected_up, 1 tamper-protected, 4 boot_loop_window,
# 2 boot_loop_unreachable, 1 bitlocker_recovery (20/15/10/30/15/10% of 12, rounded).
OUTAGE_HOSTS = 12
HANDS_ON_AFTER = 20.0
OUTAGE_POLICY = RunPolicy(
    pack="crowdstrike-291", concurrency=12, hands_on_after=HANDS_ON_AFTER, watch_interval=0.05,
    retry_initial=0.2, retry_max_wait=2.0, retry_deadline=20.0, reboot_timeout=30.0,
    connect_timeout=3.0, probe_timeout=30.0,
)  # fmt: skip

# Where each condition may end. Boot-loop windows and healing are random by design (30-80% of
# boots answer, 2-10% heal): such a host is recovered through a caught window, handed over if
# no window came within HANDS_ON_AFTER, or healthy if it healed before anyone touched it.
ALLOWED = {
    C.HEALTHY: {S.HEALTHY},
    C.AFFECTED_UP: {S.RECOVERED},
    C.AFFECTED_TAMPER_PROTECTED: {S.RECOVERED},
    C.BOOT_LOOP_WINDOW: {S.RECOVERED, S.NEEDS_HANDS_ON, S.HEALTHY},
    C.BOOT_LOOP_UNREACHABLE: {S.NEEDS_HANDS_ON},
    C.BITLOCKER_RECOVERY: {S.NEEDS_HANDS_ON},
}


@pytest.mark.slow
async def test_crowdstrike_run_ends_each_host_where_its_truth_says_and_a_rerun_touches_none(
    tmp_path: Path,
) -> None:
    lab = await start_lab(tmp_path / "lab", hosts=OUTAGE_HOSTS)
    try:
        hosts = lab_hosts(lab)
        answer_key = truths(lab)
        assert Counter(t.condition for t in answer_key.values()) == {
            C.HEALTHY: 2, C.AFFECTED_UP: 2, C.AFFECTED_TAMPER_PROTECTED: 1,
            C.BOOT_LOOP_WINDOW: 4, C.BOOT_LOOP_UNREACHABLE: 2, C.BITLOCKER_RECOVERY: 1,
        }  # fmt: skip
        with open_store(tmp_path / "i.db", hosts) as store:
            events = await drive(lab, store, hosts, OUTAGE_POLICY)
            states = final_states(events)
            assert set(states) == set(answer_key)
            for name, truth in answer_key.items():
                assert states[name] in ALLOWED[truth.condition], (name, truth, states[name])
                record = store.host(name)
                assert record is not None and record.state is states[name]

            # Tamper protection denies the delete in normal mode: the safe-mode cycle did it.
            for name, truth in answer_key.items():
                if truth.condition is C.AFFECTED_TAMPER_PROTECTED:
                    steps = [a.step for a in actions(store, name) if a.status == "ok"]
                    assert "safe-mode-cycle/reboot-to-safe-mode" in steps, steps
                    assert "safe-mode-cycle/wait-for-safe-mode" in steps, steps
                    assert ("safe-mode-cycle/inner-fix/crowdstrike-291/delete-bad-channel-files"
                            in steps), steps  # fmt: skip
                    assert steps[-1] == "safe-mode-cycle/verify", steps

            # Windows caught are reported, and only boot-looping hosts have windows.
            caught = [e for e in events if isinstance(e, WindowCaught)]
            assert finished(events).windows_caught == len(caught)
            assert {e.host for e in caught} <= {
                n for n, t in answer_key.items() if t.condition is C.BOOT_LOOP_WINDOW
            }
            for name in answer_key:
                silent_at_start = any(
                    t.reason == "answered after being silent" for t in transitions(store, name)
                )
                if states[name] is S.RECOVERED and silent_at_start:
                    assert name in {e.host for e in caught}, name
            assert finished(events).status == "finished"

            # A second run: recovered and healthy hosts are left alone, not even probed.
            recovered = [n for n, s in states.items() if s is S.RECOVERED]
            healthy = [n for n, s in states.items() if s is S.HEALTHY]
            assert len(recovered) >= 3 and len(healthy) >= 2
            before = {n: lab.host(n).commands_received for n in recovered + healthy}
            again = await drive(lab, store, hosts,
                                RunPolicy(**{**OUTAGE_POLICY.as_dict(), "hands_on_after": 1.0,
                                             "canary": None, "wave_size": None,
                                             "rule": OUTAGE_POLICY.rule}))  # fmt: skip
            second = {e.host: e for e in again if isinstance(e, HostDone)}
            for name in recovered:
                assert lab.host(name).commands_received == before[name], name
                assert second[name].state is S.RECOVERED
                assert second[name].reason == "recovered already: not touched"
            for name in healthy:
                assert lab.host(name).commands_received == before[name], name
                assert second[name].state is S.HEALTHY
                assert second[name].reason.startswith("healthy already: not touched")
            # Asked to, a run probes healthy hosts again (a second bad update, say).
            await drive(lab, store, [h for h in hosts if h.name in healthy],
                        dataclasses.replace(OUTAGE_POLICY, recheck_healthy=True,
                                            canary=None, wave_size=None))  # fmt: skip
            for name in healthy:
                assert lab.host(name).commands_received > before[name], name
    finally:
        await lab.stop()


def transitions(store: Store, host: str) -> list[Any]:
    with open_reader(store.path) as reader:
        return list(reader.transitions(host))


# --- dry run --------------------------------------------------------------------------------


def machine_state(host: LabHost) -> tuple[object, ...]:
    """What a fix would change: files (with content and time), BCD, services, registry."""
    machine = host.machine
    files = sorted((f.path, f.data, f.last_write_utc) for f in machine.files)
    bcd = (repr(machine.bcd.boot_manager), repr(machine.bcd.loader))
    services = sorted((s.name, int(s.status), int(s.start_type)) for s in machine.services.all())
    volumes = repr(machine.bitlocker)
    return (files, bcd, services, volumes, repr(machine.registry))


async def test_dry_run_sends_only_probe_and_detect_and_changes_no_machine(tmp_path: Path) -> None:
    # Real time: a boot-looping host changes itself only every minute or two, so the hosts
    # that do not reboot during the test can be compared whole.
    lab = await start_lab(tmp_path / "lab", hosts=OUTAGE_HOSTS, time_scale=1.0)
    try:
        hosts = lab_hosts(lab)
        answer_key = truths(lab)
        packs = load_packs()
        pack = packs["crowdstrike-291"]
        before = {h.name: (h.boot_generation, machine_state(h)) for h in lab.fleet.hosts}
        with open_store(tmp_path / "i.db", hosts) as store:
            policy = RunPolicy(pack="crowdstrike-291", dry_run=True, concurrency=12,
                               hands_on_after=2.0, watch_interval=0.05,
                               connect_timeout=3.0)  # fmt: skip
            events = await drive(lab, store, hosts, policy)
            with open_reader(store.path) as reader:
                destructive = [a for a in reader.actions() if a.destructive]
        assert finished(events).status == "finished"
        assert destructive == []
        planned = {e.host: e for e in events if isinstance(e, Planned)}
        assert set(planned) == set(answer_key)  # every host got a plan line
        affected_up = [n for n, t in answer_key.items()
                       if t.condition in (C.AFFECTED_UP, C.AFFECTED_TAMPER_PROTECTED)]  # fmt: skip
        for name in affected_up:
            assert any("delete-bad-channel-files" in line for line in planned[name].plan)
        reached = 0
        for host in lab.fleet.hosts:
            for record in host.history:
                reached += 1
                assert carried(record, probe_script()) or carried(record, pack.detect.text), (
                    host.name, script_of(record)[:300],
                )  # fmt: skip
            generation, state = before[host.name]
            if host.boot_generation == generation:
                assert machine_state(host) == state, host.name
            else:  # it crashed on its own during the test: the lab's doing, never a reachable host
                assert answer_key[host.name].boot_loop or answer_key[host.name].never_reachable
        assert reached >= 2 * len(affected_up)  # the up hosts were probed and detected
        up = [n for n, t in answer_key.items() if not t.boot_loop and not t.never_reachable]
        assert all(lab.host(n).boot_generation == before[n][0] for n in up)
    finally:
        await lab.stop()


# --- breakers -------------------------------------------------------------------------------


async def test_failure_breaker_stops_new_hosts_after_the_trip(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)
    packs = failing_pack(tmp_path / "packs")
    policy = RunPolicy(pack="always-fails", concurrency=1, max_fail_percent=20.0,
                       connect_timeout=3.0)  # fmt: skip
    with open_store(tmp_path / "i.db", hosts) as store:
        events = await drive(service_lab, store, hosts, policy, packs=packs)
        with open_reader(store.path) as reader:
            run = next(r for r in reader.runs() if r.command == "run")
    # One wave of 10: two failures are 20% (not above it); the third trips the breaker.
    done = [e.host for e in events if isinstance(e, HostDone)]
    assert [final_states(events)[n] for n in done] == [S.FAILED] * 3
    tripped = [e for e in events if isinstance(e, BreakerTripped)]
    assert [t.breaker for t in tripped] == ["failures"]
    assert finished(events).status == "stopped_by_breaker"
    assert run.finished_at is None  # left open for --resume
    # The order is the priority order; nobody after the third host received anything.
    from fleetfix.engine.order import order_hosts

    ordered = [h.name for h in order_hosts(hosts, policy.priority_tag)]
    assert done == ordered[:3]
    fail_script = packs["always-fails"].steps[0].script
    assert fail_script is not None
    for name in ordered[:3]:
        assert runs_of(service_lab.host(name), fail_script.text) >= 1
    for name in ordered[3:]:
        assert service_lab.host(name).history == (), name
        record = service_lab.host(name)
        assert record.commands_received == 0


async def test_auth_breaker_stops_after_the_limit_without_retrying(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)
    policy = RunPolicy(pack="sensor-health", concurrency=1, auth_failure_limit=3,
                       connect_timeout=3.0, retry_initial=0.1)  # fmt: skip
    with open_store(tmp_path / "i.db", hosts) as store:
        events = await drive(service_lab, store, hosts, policy, password="wrong-Passw0rd")
        with open_reader(store.path) as reader:
            tried = {h.name: reader.reachability(h.name) for h in hosts}
    tripped = [e for e in events if isinstance(e, BreakerTripped)]
    assert [t.breaker for t in tripped] == ["auth"]
    assert "rejected by 3 hosts" in tripped[0].reason
    assert "wrong-Passw0rd" not in repr([e.as_dict() for e in events])
    contacted = {name for name, rows in tried.items() if rows}
    assert len(contacted) == policy.auth_failure_limit
    # One attempt per host: a rejected password is never tried again.
    assert all(len(tried[name]) == 1 for name in contacted)
    assert not [e for e in events if isinstance(e, RetryScheduled)]
    assert set(final_states(events).values()) == {S.FAILED}
    assert finished(events).status == "stopped_by_breaker"
    assert all(service_lab.host(h.name).history == () for h in hosts)


# --- retries and steps that must not run twice ----------------------------------------------


async def cut_off(lab: Lab, name: str, script_text: str, *, lasting: float) -> None:
    """From the moment the script arrives at `name`: its answer is cut off mid-way (RESET)
    and every new request is dropped (DROP) for `lasting` seconds, then the faults clear.
    (A reset during a reconnect would cut a 401 challenge in half instead, which the client
    takes for a rejected password: not the error this exercises.)"""
    host = lab.host(name)
    await when_run(host, script_text, 1)
    lab.set_fault(name, Fault(FaultKind.RESET))
    lab.set_fault(name, Fault(FaultKind.DROP, rate=1.0))
    try:
        await asyncio.sleep(lasting)
    finally:
        lab.clear_faults(name, None)


async def drive_with_faults(
    lab: Lab, store: Store, hosts: list[Host], policy: RunPolicy, packs: Mapping[str, Pack],
    script_text: str, *, lasting: float,
) -> list[Event]:  # fmt: skip
    faults = asyncio.ensure_future(cut_off(lab, hosts[0].name, script_text, lasting=lasting))
    try:
        return await drive(lab, store, hosts, policy, packs=packs)
    finally:
        if not faults.done():
            faults.cancel()  # the step never arrived: the assertions say so
        lab.clear_faults(hosts[0].name, None)


async def test_a_dropped_idempotent_step_is_retried_and_every_attempt_is_recorded(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)[:1]
    name = hosts[0].name
    packs = marker_pack(tmp_path / "packs", idempotent=True)
    script = packs["write-marker"].steps[0].script
    assert script is not None
    policy = RunPolicy(pack="write-marker", concurrency=1, connect_timeout=3.0,
                       retry_initial=0.05, retry_max_wait=0.3, retry_deadline=20.0)  # fmt: skip
    with open_store(tmp_path / "i.db", hosts) as store:
        events = await drive_with_faults(service_lab, store, hosts, policy, packs, script.text,
                                         lasting=1.5)  # fmt: skip
        steps = [a for a in actions(store, name) if a.step == "write-marker/write"]
    assert final_states(events) == {name: S.RECOVERED}
    # The first run was cut off on the way back; the next ones were dropped before reaching
    # the host until the faults cleared; the last one ran and answered.
    assert runs_of(service_lab.host(name), script.text) == 2
    assert [a.attempt for a in steps] == list(range(1, len(steps) + 1))
    assert len(steps) >= 3
    assert [a.status for a in steps] == ["error"] * (len(steps) - 1) + ["ok"]
    for action in steps[:-1]:
        assert re.search(rf"; attempt {action.attempt + 1} in \d+\.\d s$", action.detail), action
        assert action.detail.split(";")[0].strip()  # the error itself, for the sysadmin
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [r.attempt for r in retries] == [a.attempt for a in steps[:-1]]


async def test_a_non_idempotent_step_cut_off_mid_answer_is_verified_not_rerun(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)[:1]
    name = hosts[0].name
    packs = marker_pack(tmp_path / "packs", idempotent=False)
    pack = packs["write-marker"]
    script = pack.steps[0].script
    assert script is not None and pack.verify is not None
    policy = RunPolicy(pack="write-marker", concurrency=1, connect_timeout=3.0,
                       retry_initial=0.1, retry_max_wait=0.5, retry_deadline=20.0)  # fmt: skip
    with open_store(tmp_path / "i.db", hosts) as store:
        events = await drive_with_faults(service_lab, store, hosts, policy, packs, script.text,
                                         lasting=1.0)  # fmt: skip
        done = actions(store, name)
    host = service_lab.host(name)
    assert runs_of(host, script.text) == 1  # never re-run, though it was cut off
    assert runs_of(host, pack.verify.text) >= 1
    writes = [a for a in done if a.step == "write-marker/write"]
    assert [(a.attempt, a.status) for a in writes] == [(1, "error")]
    assert done[-1].step == "write-marker/verify" and done[-1].status == "ok"
    assert final_states(events) == {name: S.RECOVERED}
    assert not [e for e in events if isinstance(e, StepFinished) and e.status == "failed"]


async def test_a_failing_canary_wave_stops_the_run_before_the_rest_is_touched(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)
    packs = failing_pack(tmp_path / "packs")
    policy = RunPolicy(pack="always-fails", concurrency=4, canary=Share(2, percent=False),
                       wave_size=Share(3, percent=False), max_fail_percent=0.0,
                       connect_timeout=3.0)  # fmt: skip
    with open_store(tmp_path / "i.db", hosts) as store:
        events = await drive(service_lab, store, hosts, policy, packs=packs)
    waves = [e for e in events if isinstance(e, WaveStarted)]
    assert [(w.wave, w.hosts, w.canary) for w in waves] == [(1, 2, True)]
    from fleetfix.engine.order import order_hosts

    ordered = [h.name for h in order_hosts(hosts, policy.priority_tag)]
    canary = set(ordered[:2])
    assert set(final_states(events)) == canary
    assert [e.breaker for e in events if isinstance(e, BreakerTripped)] == ["failures"]
    for name in ordered[2:]:
        assert service_lab.host(name).commands_received == 0, name


async def test_waves_after_the_canary_have_the_wave_size(service_lab: Lab, tmp_path: Path) -> None:
    hosts = lab_hosts(service_lab)
    policy = RunPolicy(pack="crowdstrike-291", concurrency=4, canary=Share(1, percent=False),
                       wave_size=Share(40, percent=True), connect_timeout=3.0)  # fmt: skip
    with open_store(tmp_path / "i.db", hosts) as store:
        events = await drive(service_lab, store, hosts, policy)
    sizes = [(e.hosts, e.canary) for e in events if isinstance(e, WaveStarted)]
    # 1 canary, then 40% of the 10 hosts a wave: 4, 4 and the last 1.
    assert sizes == [(1, True), (4, False), (4, False), (1, False)]
    assert len(final_states(events)) == len(hosts)


REBOOTING_FIX = """
    # Test pack step: a fix that restarts the host itself (reboots = true).
    New-Item -Path 'C:\\ProgramData\\fleetfix-test' -ItemType Directory -Force | Out-Null
    Add-Content -Path 'C:\\ProgramData\\fleetfix-test\\marker.txt' -Value 'written'
    # As on Windows, the host goes down a while after it answered (300 lab s: 0.3 s here).
    shutdown.exe /r /t 300
    $report = [pscustomobject]@{ ok = $true; reason = 'restarting'; changed = $true }
    $report | ConvertTo-Json -Compress
    exit 0
"""


async def test_a_step_that_reboots_is_verified_only_after_a_new_boot(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)[:1]
    name = hosts[0].name
    write_pack(tmp_path / "packs", "reboot-fix",
               steps=[{"name": "fix", "script": "fix.ps1", "destructive": True,
                       "idempotent": True, "reboots": True, "timeout": 60}],
               scripts={"detect.ps1": MARKER_DETECT, "fix.ps1": REBOOTING_FIX,
                        "verify.ps1": MARKER_VERIFY})  # fmt: skip
    packs = load_packs([tmp_path / "packs"])
    policy = RunPolicy(pack="reboot-fix", concurrency=1, connect_timeout=3.0,
                       watch_interval=0.02, reboot_timeout=30.0)  # fmt: skip
    with open_store(tmp_path / "i.db", hosts) as store:
        events = await drive(service_lab, store, hosts, policy, packs=packs)
    assert final_states(events) == {name: S.RECOVERED}
    history = service_lab.host(name).history
    fix = next(r for r in history if carried(r, REBOOTING_FIX))
    verify = [r for r in history if carried(r, MARKER_VERIFY)]
    assert verify and all(r.boot_generation > fix.boot_generation for r in verify), (
        fix.boot_generation,
        [r.boot_generation for r in verify],
    )


async def test_bitlocker_protectors_gets_each_hosts_escrowed_ids_from_the_key_providers(
    service_lab: Lab, tmp_path: Path
) -> None:
    from fleetfix.engine.keyids import provider_key_ids
    from fleetfix.keys.config import load_keys_config

    hosts = lab_hosts(service_lab)[:2]
    finder = provider_key_ids(load_keys_config(Path(service_lab.paths()["keys_config"])))
    policy = RunPolicy(pack="bitlocker-protectors", concurrency=2, connect_timeout=3.0)
    with open_store(tmp_path / "i.db", hosts) as store:
        run = FleetRun(hosts, policy=policy, store=store, packs=load_packs(),
                       options_for=lambda _host: options(service_lab), actor="pytest",
                       key_ids_for=finder)  # fmt: skip
        events = [event async for event in run.events()]
        detects = {a.host: a for a in store_actions(store) if a.step.endswith("/detect")}

    def bare(ids: Iterable[object]) -> set[str]:
        return {str(i).strip("{}").upper() for i in ids}

    for host in hosts:
        params = detects[host.name].params
        assert params["KeyProviderConfigured"] is True
        expected = truths(service_lab)[host.name].recovery_key_ids
        escrowed = params["EscrowedKeyIds"]
        assert isinstance(escrowed, list) and bare(escrowed) == bare(expected) != set()
    # Every protector is escrowed and nothing else was asked for: nothing to do.
    assert set(final_states(events).values()) == {S.HEALTHY}


def store_actions(store: Store) -> list[ActionRecord]:
    with open_reader(store.path) as reader:
        return reader.actions()


@pytest.mark.slow
async def test_a_black_holed_host_does_not_hold_up_the_others(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)
    from fleetfix.engine.order import order_hosts

    hung = order_hosts(hosts, "criticality")[0].name  # the first one started
    service_lab.set_fault(hung, Fault(FaultKind.BLACKHOLE))
    # The hung host is done only when its probe times out and the watch gives up on it: about
    # 15 s here. The nine others need under half a second between them on an idle machine, so
    # even a heavily loaded one finishes them first; a wider connect and retry budget keeps a
    # slow answer from one of them from turning into a failure.
    policy = RunPolicy(pack="crowdstrike-291", concurrency=3, connect_timeout=5.0,
                       probe_timeout=12.0, retry_initial=0.2, retry_max_wait=0.5,
                       retry_deadline=10.0, hands_on_after=6.0, watch_interval=0.05)  # fmt: skip
    try:
        with open_store(tmp_path / "i.db", hosts) as store:
            events = await drive(service_lab, store, hosts, policy)
    finally:
        service_lab.clear_faults(hung, None)
    done = [e.host for e in events if isinstance(e, HostDone)]
    assert set(done) == {h.name for h in hosts}
    # Every other host finished while the hung one was still being waited for.
    assert done[-1] == hung, done
    assert final_states(events)[hung] in {S.NEEDS_HANDS_ON, S.FAILED, S.UNREACHABLE}


@pytest.mark.parametrize(
    ("rule", "params", "expected"),
    [(TimestampRule.ADVISORY, {}, "advisory"), (TimestampRule.STRICT, {}, "strict"),
     (TimestampRule.ADVISORY, {"Rule": "strict"}, "strict")],
)  # fmt: skip
async def test_the_runs_time_rule_reaches_the_packs_that_take_one(
    service_lab: Lab, tmp_path: Path, rule: TimestampRule, params: dict[str, object],
    expected: str,
) -> None:  # fmt: skip
    hosts = lab_hosts(service_lab)[:1]
    policy = RunPolicy(pack="crowdstrike-291", rule=rule, params=params, connect_timeout=3.0)
    with open_store(tmp_path / "i.db", hosts) as store:
        await drive(service_lab, store, hosts, policy)
        (detect,) = [a for a in store_actions(store) if a.step == "crowdstrike-291/detect"]
    assert detect.params["Rule"] == expected
