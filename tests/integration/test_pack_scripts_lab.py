"""Contract: every shipped script runs on a real lab host the way a transport sends it
(fixed parameter prologue, `powershell.exe -EncodedCommand` or stdin), prints one JSON object
as its last line, exits by the Intune convention, and changes the host as it says, and
nothing else: file listings before and after prove that only bad channel files in
drivers\\CrowdStrike are ever deleted."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetfix.keys.model import KeyId
from fleetfix.lab.boot import BootProfile, BootState, has_bad_channel_file
from fleetfix.lab.clock import LabClock
from fleetfix.lab.fleet import Lab as RunningLab
from fleetfix.lab.host import LabContext, LabHost
from fleetfix.lab.machine import (
    BootMode,
    EscrowTarget,
    KeyProtector,
    KeyProtectorType,
    Machine,
    ProtectionStatus,
    RegistryValueKind,
    ServiceStartMode,
    ServiceStatus,
    WindowsService,
    add_channel_file,
)
from fleetfix.lab.truth import Condition
from fleetfix.models import HostState, Transport
from fleetfix.packs import (
    Pack,
    escalation_for,
    inner_parameters,
    load_packs,
    pack_from_intune,
    read_detection,
    read_report,
)
from fleetfix.packs.report import Detection
from fleetfix.probe import probe_script
from fleetfix.probe.collect import collect_facts
from fleetfix.probe.facts import parse_probe_output
from fleetfix.probe.rules import diagnose
from fleetfix.transports.script import command_for, decode_output, last_line_json, with_params
from fleetfix.transports.selection import make_transport
from tests.integration.test_transport_support import (
    ALL_TRANSPORTS,
    PASSWORD,
    executor,
    inventory_host,
    options,
)

__all__ = ["executor"]  # a fixture used by name

pytestmark = pytest.mark.integration

CS = "C:\\Windows\\System32\\drivers\\CrowdStrike"
BAD_FILE = f"{CS}\\C-00000291-00000000-00000032.sys"
GOOD_FILE = f"{CS}\\C-00000291-00000000-00000033.sys"
BAD_HEADER = bytes.fromhex("AAAAAAAA01002301")
PACKS = load_packs()
TIME_SCALE = 10_000.0  # a 90-second boot takes 9 ms
PATIENCE = 30_000.0  # lab seconds before a wait gives up


@dataclass(frozen=True)
class Ran:
    exit_code: int
    report: dict[str, Any]
    stdout: str


@dataclass
class Lab:
    context: LabContext

    def host(self, *, bad_file: bool = True, tamper: bool = False) -> LabHost:
        clock = self.context.clock
        machine = Machine.default(
            hostname="PACS-WS-0001",
            rng=random.Random(11),
            administrator_password="Lab-Passw0rd!",
            at=clock.start - timedelta(hours=5),
        )
        machine.tamper_protection = tamper
        if bad_file:
            add_channel_file(machine, bad=True)
        return LabHost(
            name="PACS-WS-0001",
            address="127.77.0.1",
            machine=machine,
            context=self.context,
            profile=BootProfile(),
            rng=random.Random(11),
        )

    async def until(self, condition: Callable[[], bool], *, what: str) -> None:
        deadline = self.context.clock.elapsed() + PATIENCE
        while not condition():
            if self.context.clock.elapsed() > deadline:
                raise AssertionError(f"never happened: {what}")
            await asyncio.sleep(0.001)

    async def pass_lab_time(self, lab_seconds: float) -> None:
        target = self.context.clock.elapsed() + lab_seconds
        await self.until(lambda: self.context.clock.elapsed() >= target, what="time to pass")
        self.context.scheduler.run_due()


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    context = LabContext.create(LabClock(time_scale=TIME_SCALE))
    runner = asyncio.create_task(context.scheduler.run())
    try:
        yield Lab(context)
    finally:
        runner.cancel()
    assert context.scheduler.errors == []


def run(host: LabHost, script: str, params: Mapping[str, object] | None = None) -> Ran:
    """As a transport runs it: prologue + script, on the command line or over stdin."""
    command, stdin = command_for(with_params(script, params))
    assert command.startswith("powershell.exe -NoProfile -NonInteractive")
    done = host.execute(command, stdin=stdin, codepage=65001)
    stdout = decode_output(done.stdout)
    report = last_line_json(stdout)
    assert report is not None, (stdout, decode_output(done.stderr))
    return Ran(done.exit_code, report, stdout)


def script_text(pack: Pack, name: str) -> str:
    return next(s.text for s in pack.scripts() if s.path.name == name)


def run_pack_script(host: LabHost, pack: Pack, name: str, **given: object) -> Ran:
    return run(host, script_text(pack, name), pack.resolve_parameters(given))


def service(host: LabHost, name: str) -> WindowsService:
    found = host.machine.services.get(name)
    assert found is not None, f"the default lab machine has no {name}"
    return found


def files_of(host: LabHost) -> dict[str, bytes]:
    return {e.path: e.data for e in host.machine.files if not e.is_directory}


def deleted(before: dict[str, bytes], host: LabHost) -> set[str]:
    return set(before) - set(files_of(host))


async def reboot(lab: Lab, host: LabHost, *, mode: BootMode) -> None:
    """The engine's built-in reboot + wait-for-boot / wait-for-safe-mode actions."""
    generation = host.boot_generation
    assert host.execute("shutdown /r /t 0").exit_code == 0
    await lab.until(
        lambda: (
            host.boot_generation > generation
            and host.state is BootState.UP
            and host.machine.boot_mode is mode
        ),
        what=f"boot into {mode}",
    )


# --- every script, smoke ------------------------------------------------------------------

REQUIRED = {"restart-service": {"Services": ["Spooler"]}}
EVERY_SCRIPT = [(p.id, s.path.name) for p in PACKS.values() for s in p.scripts()]


@pytest.mark.parametrize(("pack_id", "script"), sorted(set(EVERY_SCRIPT)))
async def test_every_shipped_script_runs_and_reports_json(
    lab: Lab, pack_id: str, script: str
) -> None:
    host = lab.host()
    pack = PACKS[pack_id]
    ran = run_pack_script(host, pack, script, **REQUIRED.get(pack_id, {}))
    # faulty-driver refuses (exit 2) to act without a folder and a criterion.
    assert ran.exit_code in ((0, 1, 2) if pack_id == "faulty-driver" else (0, 1))
    assert ran.stdout.strip().splitlines()[-1].startswith("{")


async def test_probe_runs_and_diagnoses_an_affected_host(lab: Lab) -> None:
    host = lab.host()
    ran = run(host, probe_script(), {"CrashWindowHours": 24})
    assert ran.exit_code == 0
    facts = parse_probe_output(ran.stdout)
    assert facts.host_name == "PACS-WS-0001"
    assert facts.problems == ()
    assert {f.name for f in facts.channel_files} == {
        "C-00000291-00000000-00000032.sys",
        "C-00000291-00000000-00000033.sys",
    }
    assert {s.name for s in facts.services} >= {"CSFalconService", "csagent", "WinRM"}
    diagnosis = diagnose(facts)
    assert diagnosis.state is HostState.AFFECTED
    assert diagnosis.reason == "1 bad channel file (04:09 UTC)"
    password = host.machine.bitlocker[0].recovery_passwords[0].recovery_password
    assert password not in ran.stdout
    assert facts.bitlocker[0].recovery_key_ids == (
        host.machine.bitlocker[0].recovery_passwords[0].key_protector_id,
    )


async def test_probe_shows_bugchecks_of_a_driver_nobody_wrote_a_pack_for(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    for crashes in range(1, 4):
        host.crash()
        await lab.until(
            lambda: host.status().crashes == crashes and host.state is BootState.UP,  # noqa: B023 - awaited before `crashes` changes
            what="boot after crash",
        )
    facts = parse_probe_output(run(host, probe_script()).stdout)
    assert [e.bugcheck_code for e in facts.crash_events if e.event_id == 41] == [0x50] * 3
    diagnosis = diagnose(facts)
    assert diagnosis.state is HostState.AFFECTED
    assert diagnosis.reason == "no bad channel file; 3 bugchecks 0x50 in the last hour"


# --- crowdstrike-291 ------------------------------------------------------------------------

CS291 = PACKS["crowdstrike-291"]


async def test_crowdstrike_291_deletes_only_the_bad_file_and_verifies(lab: Lab) -> None:
    host = lab.host()
    # Decoys: the bad header in the wrong folder, and under another channel's name.
    decoy_driver = "C:\\Windows\\System32\\drivers\\C-00000291-00000000-00000032.sys"
    decoy_channel = f"{CS}\\C-00000290-00000000-00000001.sys"
    when = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
    for path in (decoy_driver, decoy_channel):
        host.machine.files.write_file(path, BAD_HEADER + bytes(64), last_write_utc=when)
    before = files_of(host)
    detect = run_pack_script(host, CS291, "detect.ps1")
    assert (detect.exit_code, detect.report["bad_files"]) == (1, [BAD_FILE.rsplit("\\")[-1]])
    fixed = run_pack_script(host, CS291, "remediate.ps1")
    assert fixed.exit_code == 0
    assert fixed.report["ok"] and fixed.report["changed"] and not fixed.report["escalate"]
    assert deleted(before, host) == {BAD_FILE}
    assert run_pack_script(host, CS291, "verify.ps1").exit_code == 0
    assert run_pack_script(host, CS291, "detect.ps1").exit_code == 0
    again = run_pack_script(host, CS291, "remediate.ps1")  # idempotent, as declared
    assert (again.exit_code, again.report["changed"]) == (0, False)
    assert [r.exit_code for r in host.history] == [1, 0, 0, 0, 0]


async def test_crowdstrike_291_reports_access_denied_for_escalation(lab: Lab) -> None:
    host = lab.host(tamper=True)
    before = files_of(host)
    ran = run_pack_script(host, CS291, "remediate.ps1")
    assert ran.exit_code == 1
    assert (ran.report["reason"], ran.report["escalate"]) == ("access_denied", True)
    assert ran.report["denied"] == [BAD_FILE.rsplit("\\")[-1]]
    assert escalation_for(CS291, read_report(ran.stdout, ran.exit_code)) == "safe-mode-cycle"
    assert deleted(before, host) == set()
    assert run_pack_script(host, CS291, "verify.ps1").exit_code == 1


@pytest.mark.parametrize(("rule", "removed"), [("strict", True), ("advisory", False)])
async def test_timestamp_rule_decides_a_0530_file(lab: Lab, rule: str, removed: bool) -> None:
    host = lab.host(bad_file=False)
    late = datetime(2024, 7, 19, 5, 30, tzinfo=UTC)
    path = f"{CS}\\C-00000291-00000000-00000040.sys"
    host.machine.files.write_file(path, BAD_HEADER + bytes(64), last_write_utc=late)
    before = files_of(host)
    ran = run_pack_script(host, CS291, "remediate.ps1", Rule=rule)
    assert ran.exit_code == 0
    assert deleted(before, host) == ({path} if removed else set())


# --- safe-mode-cycle ----------------------------------------------------------------------


async def test_safe_mode_cycle_fixes_a_tamper_protected_host(lab: Lab) -> None:
    host = lab.host(tamper=True)
    cycle = PACKS["safe-mode-cycle"]
    before = files_of(host)
    assert run_pack_script(host, cycle, "detect.ps1").exit_code == 1
    entered = run_pack_script(host, cycle, "enter.ps1")
    assert entered.exit_code == 0, entered.report
    assert entered.report["bitlocker_suspended"] == ["C:"]
    assert set(entered.report["changes"]) == {
        "winrm_listed_for_safe_mode",
        "bitlocker_suspended",
        "safeboot_network_set",
    }
    # The engine removes the bad file in safe mode by WinRM, so protection must not block boot.
    await reboot(lab, host, mode=BootMode.SAFE_NETWORK)
    in_safe_mode = diagnose(parse_probe_output(run(host, probe_script()).stdout))
    assert (in_safe_mode.state, in_safe_mode.reason) == (
        HostState.AFFECTED,
        "1 bad channel file (04:09 UTC); running in safe mode (network)",
    )
    # The inner-fix step: crowdstrike-291 with the parameters the cycle hands down.
    inner = inner_parameters(CS291, cycle.resolve_parameters({}))
    fixed = run(host, script_text(CS291, "remediate.ps1"), inner)
    assert fixed.exit_code == 0, fixed.report
    assert run(host, script_text(CS291, "verify.ps1"), inner).exit_code == 0
    left = run_pack_script(host, cycle, "leave.ps1")
    assert left.exit_code == 0, left.report
    await reboot(lab, host, mode=BootMode.NORMAL)
    verified = run_pack_script(host, cycle, "verify.ps1")
    assert verified.exit_code == 0, verified.report
    assert deleted(before, host) == {BAD_FILE}
    await lab.pass_lab_time(500)  # a host with bad content would have crashed by now
    assert host.state is BootState.UP and host.status().crashes == 0
    # Each suspension lasted one reboot: protection is back on.
    assert host.machine.bitlocker[0].protection_status is ProtectionStatus.ON


@pytest.mark.parametrize(("rule", "removed"), [("strict", True), ("advisory", False)])
async def test_safe_mode_cycle_judges_a_0530_file_by_the_inner_fixs_rule(
    lab: Lab, rule: str, removed: bool
) -> None:
    host = lab.host(bad_file=False)
    cycle = PACKS["safe-mode-cycle"]
    late = datetime(2024, 7, 19, 5, 30, tzinfo=UTC)
    name = "C-00000291-00000000-00000040.sys"
    host.machine.files.write_file(f"{CS}\\{name}", BAD_HEADER + bytes(64), last_write_utc=late)
    detected = run_pack_script(host, cycle, "detect.ps1", Rule=rule)
    assert (detected.exit_code, detected.report["bad_files"]) == (
        (1, [name]) if removed else (0, [])
    )
    before = files_of(host)
    inner = inner_parameters(CS291, cycle.resolve_parameters({"Rule": rule}))
    fixed = run(host, script_text(CS291, "remediate.ps1"), inner)
    assert fixed.exit_code == 0, fixed.report
    assert deleted(before, host) == ({f"{CS}\\{name}"} if removed else set())
    # What the inner fix kept on purpose is not "left over" for the cycle's verify.
    verified = run_pack_script(host, cycle, "verify.ps1", Rule=rule)
    assert verified.exit_code == 0, verified.report
    assert (verified.report["rule"], verified.report["remaining"]) == (rule, [])


@pytest.mark.parametrize("rule", ["strict", "advisory"])
async def test_safe_mode_cycle_flags_a_0409_file_under_either_rule(lab: Lab, rule: str) -> None:
    host = lab.host()
    cycle = PACKS["safe-mode-cycle"]
    name = BAD_FILE.rsplit("\\")[-1]
    detected = run_pack_script(host, cycle, "detect.ps1", Rule=rule)
    assert (detected.exit_code, detected.report["bad_files"]) == (1, [name])
    verified = run_pack_script(host, cycle, "verify.ps1", Rule=rule)
    assert (verified.exit_code, verified.report["reason"]) == (1, "bad_files_left")
    assert verified.report["remaining"] == [name]


async def test_safe_mode_cycle_defaults_to_the_strict_rule(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    late = datetime(2024, 7, 19, 5, 30, tzinfo=UTC)
    name = "C-00000291-00000000-00000040.sys"
    host.machine.files.write_file(f"{CS}\\{name}", BAD_HEADER + bytes(64), last_write_utc=late)
    verified = run(host, script_text(PACKS["safe-mode-cycle"], "verify.ps1"))  # no $Params
    assert (verified.exit_code, verified.report["rule"]) == (1, "strict")
    assert verified.report["remaining"] == [name]


# --- restart-service ----------------------------------------------------------------------


@pytest.fixture
def real_time_lab() -> Lab:
    """Lab time at real speed. A script's own time (Start-Sleep, waits) costs nothing in
    real time either way, but at 10,000x a millisecond of interpreting is 10 lab seconds,
    which would hide the moment the SCM takes to notice an ended process."""
    return Lab(LabContext.create(LabClock(time_scale=1.0)))


async def test_restart_service_starts_a_crashed_service_and_verifies(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    service(host, "Spooler").status = ServiceStatus.STOPPED
    pack = PACKS["restart-service"]
    assert run_pack_script(host, pack, "detect.ps1", Services=["Spooler"]).exit_code == 1
    ran = run_pack_script(host, pack, "restart.ps1", Services=["Spooler"], TimeoutSeconds=5)
    assert ran.exit_code == 0, ran.report
    assert ran.report["services"][0]["status"] == "Running"
    assert run_pack_script(host, pack, "verify.ps1", Services=["Spooler"]).exit_code == 0


async def test_restart_service_ends_the_process_of_a_service_hung_in_stop_pending(
    real_time_lab: Lab,
) -> None:
    host = real_time_lab.host(bad_file=False)
    service(host, "Spooler").status = ServiceStatus.STOP_PENDING
    pack = PACKS["restart-service"]
    ran = run_pack_script(host, pack, "restart.ps1", Services=["Spooler"], TimeoutSeconds=2)
    assert ran.exit_code == 0, ran
    assert ran.report["ok"] is True
    assert service(host, "Spooler").status is ServiceStatus.RUNNING


def hung_spooler_with_a_dependant(lab: Lab) -> LabHost:
    """Spooler hung in StopPending, Fax (which depends on it) running."""
    host = lab.host(bad_file=False)
    fax = WindowsService("Fax", "Fax", ServiceStatus.RUNNING, ServiceStartMode.MANUAL,
                         depends_on=["Spooler"])  # fmt: skip
    host.machine.services.add(fax)
    service(host, "Spooler").status = ServiceStatus.STOP_PENDING
    return host


async def test_restart_service_waits_for_stopped_and_restarts_dependants_around_a_hang(
    real_time_lab: Lab,
) -> None:
    host = hung_spooler_with_a_dependant(real_time_lab)
    pack = PACKS["restart-service"]
    ran = run_pack_script(host, pack, "restart.ps1", Services=["Spooler"], TimeoutSeconds=10)
    # Start-Service fails while the SCM has not yet noticed the ended process: it waited.
    assert ran.exit_code == 0, ran.report
    assert (ran.report["ok"], ran.report["failed"]) == (True, [])
    (spooler,) = ran.report["services"]
    # The dependant is stopped before the process is ended and started after the service.
    assert spooler["actions"] == [
        "stopped_dependent:Fax", "process_ended", "stopped", "started", "started_dependent:Fax",
    ]  # fmt: skip
    assert spooler["status"] == "Running"
    assert spooler["dependents"] == [{"name": "Fax", "status": "Running"}]
    assert service(host, "Spooler").status is ServiceStatus.RUNNING
    assert service(host, "Fax").status is ServiceStatus.RUNNING
    assert run_pack_script(host, pack, "verify.ps1", Services=["Spooler", "Fax"]).exit_code == 0


async def test_restart_service_gives_up_when_stopped_never_comes_within_the_timeout(
    real_time_lab: Lab,
) -> None:
    host = hung_spooler_with_a_dependant(real_time_lab)
    # Its process is stuck in a kernel call (a hung driver I/O): it ends only an hour later.
    service(host, "Spooler").exit_noticed_after = 3600.0
    pack = PACKS["restart-service"]
    ran = run_pack_script(host, pack, "restart.ps1", Services=["Spooler"], TimeoutSeconds=3)
    assert ran.exit_code == 1
    assert (ran.report["ok"], ran.report["reason"], ran.report["failed"]) == (
        False, "not_running", ["Spooler"],
    )  # fmt: skip
    (spooler,) = ran.report["services"]
    assert spooler["actions"] == ["stopped_dependent:Fax", "process_ended"]
    assert spooler["error"] == "Spooler did not reach Stopped within 3 s (it is StopPending)"
    # Nothing was started on a service still stopping; the dependant is reported as left.
    assert spooler["status"] == "StopPending"
    assert spooler["dependents"] == [{"name": "Fax", "status": "Stopped"}]


async def test_restart_service_never_reports_a_hung_service_as_fixed(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    hung = service(host, "Spooler")
    hung.status = ServiceStatus.STOP_PENDING
    hung.can_stop = False  # its process cannot be ended either: the hang cannot be cleared
    pack = PACKS["restart-service"]
    ran = run_pack_script(host, pack, "restart.ps1", Services=["Spooler"], TimeoutSeconds=2)
    assert ran.exit_code == 1
    assert (ran.report["ok"], ran.report["failed"]) == (False, ["Spooler"])
    assert hung.status is ServiceStatus.STOP_PENDING


# --- bitlocker-protectors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "as_given",
    [str.lower, lambda key_id: str(KeyId.parse(key_id))],  # as fleetfix.keys prints it
    ids=["windows-lower-case", "fleetfix-keys"],
)
async def test_bitlocker_inventory_reports_escrow_and_never_the_password(
    lab: Lab, as_given: Callable[[str], str]
) -> None:
    host = lab.host(bad_file=False)
    pack = PACKS["bitlocker-protectors"]
    protector = host.machine.bitlocker[0].recovery_passwords[0]
    assert "{" not in str(KeyId.parse(protector.key_protector_id))
    known = run_pack_script(
        host,
        pack,
        "detect.ps1",
        KeyProviderConfigured=True,
        EscrowedKeyIds=[as_given(protector.key_protector_id)],
    )
    assert known.exit_code == 0
    (volume,) = known.report["volumes"]
    assert volume["recovery_password_protectors"] == [
        {"key_protector_id": protector.key_protector_id, "escrowed": True}
    ]
    unknown = run_pack_script(host, pack, "detect.ps1", KeyProviderConfigured=True)
    assert unknown.exit_code == 1
    assert unknown.report["problems"] == [f"C: {protector.key_protector_id} not_escrowed"]
    assert protector.recovery_password not in known.stdout + unknown.stdout


async def test_bitlocker_suspend_for_n_reboots_and_refuse_zero(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    pack = PACKS["bitlocker-protectors"]
    volume = host.machine.bitlocker[0]
    refused = run_pack_script(host, pack, "suspend.ps1", Suspend=True, RebootCount=0)
    assert (refused.exit_code, refused.report["reason"]) == (1, "bad_reboot_count")
    assert volume.protection_status is ProtectionStatus.ON
    not_asked = run_pack_script(host, pack, "suspend.ps1")
    assert (not_asked.exit_code, not_asked.report["changed"]) == (0, False)
    ran = run_pack_script(host, pack, "suspend.ps1", Suspend=True, RebootCount=2)
    assert (ran.exit_code, ran.report["suspended"]) == (0, ["C:"])
    assert (volume.protection_status, volume.suspended_reboots_left) == (ProtectionStatus.OFF, 2)


BITLOCKER = PACKS["bitlocker-protectors"]


def bitlocker_step(host: LabHost, name: str, given: Mapping[str, object]) -> Ran:
    """A step or verify as the engine runs it: every script gets the pack's whole parameters."""
    script = BITLOCKER.verify if name == "verify" else None
    text = script.text if script is not None else script_text(BITLOCKER, name)
    return run(host, text, BITLOCKER.resolve_parameters(given))


@pytest.mark.parametrize(
    ("given", "domain", "target"),
    [
        # The provider does not hold the key yet: the list the run started with is stale
        # once the backup is done, and verify must not judge by it.
        ({"KeyProviderConfigured": True, "EscrowedKeyIds": [], "BackupTo": "entra"},
         "WORKGROUP", EscrowTarget.ENTRA_ID),
        ({"BackupTo": "ad"}, "CORP", EscrowTarget.ACTIVE_DIRECTORY),  # no provider
    ],
    ids=["entra-with-provider", "ad-without-provider"],
)  # fmt: skip
async def test_bitlocker_backup_is_recorded_and_verified_on_the_host(
    lab: Lab, given: dict[str, object], domain: str, target: EscrowTarget
) -> None:
    host = lab.host(bad_file=False)
    host.machine.domain = domain
    volume = host.machine.bitlocker[0]
    protector = volume.recovery_passwords[0]
    detected = bitlocker_step(host, "detect.ps1", given)
    assert detected.exit_code == 1, detected.report
    backed_up = bitlocker_step(host, "backup.ps1", given)
    assert backed_up.exit_code == 0, backed_up.report
    assert backed_up.report["backed_up"] == [protector.key_protector_id]
    # The lab's record of the backup (BackupToAAD / Backup-BitLockerKeyProtector).
    assert volume.is_escrowed(protector.key_protector_id, target)
    verified = bitlocker_step(host, "verify", given)
    assert verified.exit_code == 0, verified.report
    (checked,) = verified.report["volumes"][0]["recovery_password_protectors"]
    assert checked["key_protector_id"] == protector.key_protector_id
    assert checked["backed_up_at"]
    # A second run finds nothing to do when no provider says otherwise.
    if not given.get("KeyProviderConfigured"):
        assert bitlocker_step(host, "detect.ps1", given).exit_code == 0
    shown = detected.stdout + backed_up.stdout + verified.stdout
    assert protector.recovery_password not in shown


async def test_bitlocker_failed_backup_fails_verify_and_records_nothing(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    assert host.machine.domain == "WORKGROUP"  # an AD backup needs a domain member
    volume = host.machine.bitlocker[0]
    given = {"BackupTo": "ad"}
    assert bitlocker_step(host, "detect.ps1", given).exit_code == 1
    failed = bitlocker_step(host, "backup.ps1", given)
    assert (failed.exit_code, failed.report["reason"], failed.report["backed_up"]) == (
        1, "backup_failed", [],
    )  # fmt: skip
    assert "not joined to an Active Directory domain" in failed.report["errors"][0]
    assert volume.escrows == []
    assert host.machine.registry.key("HKLM\\SOFTWARE\\fleetfix\\BitLockerBackups\\ad") is None
    verified = bitlocker_step(host, "verify", given)
    assert (verified.exit_code, verified.report["reason"]) == (1, "not_backed_up")
    protector = volume.recovery_passwords[0]
    assert verified.report["problems"] == [f"C: {protector.key_protector_id} not_backed_up"]


async def test_bitlocker_verify_checks_the_protectors_the_host_has_now(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    volume = host.machine.bitlocker[0]
    given = {"BackupTo": "entra"}
    assert bitlocker_step(host, "backup.ps1", given).exit_code == 0
    # A protector added after the backup (a rotated key) has not been backed up.
    added = KeyProtector("{0F0F0F0F-1111-4222-8333-444455556666}",
                         KeyProtectorType.RECOVERY_PASSWORD, "000000-" * 7 + "000000")  # fmt: skip
    volume.key_protectors.append(added)
    verified = bitlocker_step(host, "verify", given)
    assert verified.exit_code == 1
    assert verified.report["problems"] == [f"C: {added.key_protector_id} not_backed_up"]


async def test_bitlocker_detect_asks_for_a_requested_suspend(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    given = {"Suspend": True, "RebootCount": 1}
    detected = bitlocker_step(host, "detect.ps1", given)
    assert (detected.exit_code, detected.report["problems"]) == (1, ["C: protection_on"])
    assert bitlocker_step(host, "verify", given).report["problems"] == ["C: not_suspended"]
    assert bitlocker_step(host, "suspend.ps1", given).exit_code == 0
    assert bitlocker_step(host, "verify", given).exit_code == 0
    assert bitlocker_step(host, "detect.ps1", given).exit_code == 0


# --- sensor-health ------------------------------------------------------------------------


async def test_sensor_health_starts_a_stopped_sensor(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    service(host, "CSFalconService").status = ServiceStatus.STOPPED
    pack = PACKS["sensor-health"]
    before = run_pack_script(host, pack, "detect.ps1")
    assert (before.exit_code, before.report["reason"]) == (1, "CSFalconService_stopped")
    assert run_pack_script(host, pack, "start.ps1").exit_code == 0
    after = run_pack_script(host, pack, "detect.ps1")
    assert after.exit_code == 0, after.report
    assert after.report["good_files"] == [GOOD_FILE.rsplit("\\")[-1]]


async def test_sensor_health_counts_bad_content_as_unhealthy(lab: Lab) -> None:
    ran = run_pack_script(lab.host(), PACKS["sensor-health"], "detect.ps1")
    assert (ran.exit_code, ran.report["reason"]) == (1, "bad_channel_file")


# --- faulty-driver ------------------------------------------------------------------------

FAULTY = PACKS["faulty-driver"]
CSAGENT_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\csagent"
DISABLED_DRIVERS = "HKLM\\SOFTWARE\\fleetfix\\DisabledDrivers"
CS_CRITERIA: dict[str, object] = {
    "Folder": CS,
    "Pattern": "C-00000291*.sys",
    "BadFrom": "2024-07-19T04:09:00Z",
    "BadUntil": "2024-07-19T05:27:00Z",
    "BadHeaderHex": "AAAAAAAA01002301",
}


async def test_faulty_driver_deletes_files_matching_every_criterion(lab: Lab) -> None:
    host = lab.host()
    before = files_of(host)
    assert run_pack_script(host, FAULTY, "detect.ps1", **CS_CRITERIA).exit_code == 1
    ran = run_pack_script(host, FAULTY, "apply.ps1", **CS_CRITERIA)
    assert ran.exit_code == 0, ran.report
    assert deleted(before, host) == {BAD_FILE}
    assert run_pack_script(host, FAULTY, "detect.ps1", **CS_CRITERIA).exit_code == 0


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Folder": "C:\\Windows\\System32"}, "folder_not_under_drivers"),
        ({"Folder": f"{CS}\\..\\..\\.."}, "folder_not_under_drivers"),
        ({"Pattern": "..\\*.sys"}, "bad_pattern"),
        ({"BadFrom": "", "BadUntil": "", "BadHeaderHex": ""}, "no_criterion"),
    ],
)
async def test_faulty_driver_refuses_unsafe_parameters(
    lab: Lab, change: dict[str, object], problem: str
) -> None:
    host = lab.host()
    before = files_of(host)
    ran = run_pack_script(host, FAULTY, "apply.ps1", **{**CS_CRITERIA, **change})
    assert (ran.exit_code, ran.report["reason"]) == (1, "unsafe_parameters")
    assert problem in ran.report["problems"]
    assert deleted(before, host) == set()


def start_of(host: LabHost, driver: str) -> object:
    value = host.machine.registry.key(f"HKLM\\SYSTEM\\CurrentControlSet\\Services\\{driver}")
    found = None if value is None else value.value("Start")
    return None if found is None else found.data


async def test_faulty_driver_disables_a_driver_and_records_the_old_start(lab: Lab) -> None:
    host = lab.host()
    assert start_of(host, "csagent") == 1  # as on a host with the Falcon sensor
    disable = {"Mode": "disable-driver", "DriverService": "csagent"}
    assert run_pack_script(host, FAULTY, "detect.ps1", **disable).exit_code == 1
    ran = run_pack_script(host, FAULTY, "apply.ps1", **disable)
    assert (ran.exit_code, ran.report["previous_start"], ran.report["start"]) == (0, 1, 4)
    assert run_pack_script(host, FAULTY, "detect.ps1", **disable).exit_code == 0
    again = run_pack_script(host, FAULTY, "apply.ps1", **disable)  # idempotent
    assert (again.report["changed"], again.report["previous_start"]) == (False, 1)
    record = host.machine.registry.key(DISABLED_DRIVERS)
    assert record is not None and record.value("csagent") is not None
    assert start_of(host, "csagent") == 4


async def test_faulty_driver_restores_the_recorded_start_and_removes_the_record(
    lab: Lab,
) -> None:
    host = lab.host()
    disabled = run_pack_script(host, FAULTY, "apply.ps1", Mode="disable-driver",
                               DriverService="csagent")  # fmt: skip
    assert (disabled.exit_code, start_of(host, "csagent")) == (0, 4)
    restore = {"Mode": "restore-driver", "DriverService": "csagent"}
    assert run_pack_script(host, FAULTY, "detect.ps1", **restore).exit_code == 1
    ran = run_pack_script(host, FAULTY, "apply.ps1", **restore)
    assert ran.exit_code == 0, ran.report
    assert (ran.report["changed"], ran.report["restored_start"], ran.report["start"]) == (
        True, 1, 1,
    )  # fmt: skip
    assert start_of(host, "csagent") == 1
    record = host.machine.registry.key(DISABLED_DRIVERS)
    assert record is None or record.value("csagent") is None
    assert run_pack_script(host, FAULTY, "detect.ps1", **restore).exit_code == 0
    again = run_pack_script(host, FAULTY, "apply.ps1", **restore)  # idempotent
    assert (again.exit_code, again.report["changed"], again.report["start"]) == (0, False, 1)


@pytest.mark.parametrize("start", [2, 3])
async def test_faulty_driver_refuses_to_disable_a_driver_that_is_not_boot_start(
    lab: Lab, start: int
) -> None:
    host = lab.host()
    host.machine.registry.set_value(CSAGENT_KEY, "Start", start, kind=RegistryValueKind.DWORD)
    disable = {"Mode": "disable-driver", "DriverService": "csagent"}
    detected = run_pack_script(host, FAULTY, "detect.ps1", **disable)
    assert (detected.exit_code, detected.report["problems"]) == (2, ["not_boot_start"])
    ran = run_pack_script(host, FAULTY, "apply.ps1", **disable)
    assert (ran.exit_code, ran.report["reason"], ran.report["problems"]) == (
        1, "unsafe_parameters", ["not_boot_start"],
    )  # fmt: skip
    assert (ran.report["changed"], start_of(host, "csagent")) == (False, start)
    assert host.machine.registry.key(DISABLED_DRIVERS) is None


async def test_faulty_driver_deletes_only_files_whose_sha256_is_listed(lab: Lab) -> None:
    host = lab.host()
    listed = host.machine.files.get(BAD_FILE)
    assert listed is not None
    # Same name pattern, header and time as the listed file: only the hash tells them apart.
    other = f"{CS}\\C-00000291-00000000-00000034.sys"
    host.machine.files.write_file(other, BAD_HEADER + bytes(64),
                                  last_write_utc=listed.last_write_utc)  # fmt: skip
    listed_hash = hashlib.sha256(listed.data).hexdigest().lower()  # Get-FileHash prints upper
    criteria = {"Folder": CS, "Pattern": "C-00000291*.sys", "BadSha256": [listed_hash, "00" * 32]}
    before = files_of(host)
    detected = run_pack_script(host, FAULTY, "detect.ps1", **criteria)
    assert (detected.exit_code, detected.report["details"]["bad_files"]) == (
        1, [BAD_FILE.rsplit("\\")[-1]],
    )  # fmt: skip
    ran = run_pack_script(host, FAULTY, "apply.ps1", **criteria)
    assert ran.exit_code == 0, ran.report
    assert deleted(before, host) == {BAD_FILE}
    assert run_pack_script(host, FAULTY, "detect.ps1", **criteria).exit_code == 0


async def test_faulty_driver_reports_access_denied_and_does_not_escalate(lab: Lab) -> None:
    host = lab.host(tamper=True)
    before = files_of(host)
    ran = run_pack_script(host, FAULTY, "apply.ps1", **CS_CRITERIA)
    assert (ran.exit_code, ran.report["reason"]) == (1, "access_denied")
    assert ran.report["remaining"] == [BAD_FILE.rsplit("\\")[-1]]
    # safe-mode-cycle runs crowdstrike-291 inside, not this pack: nothing to escalate to.
    assert FAULTY.escalation is None and "escalate" not in ran.report
    assert escalation_for(FAULTY, read_report(ran.stdout, ran.exit_code)) is None
    assert deleted(before, host) == set()


async def test_faulty_driver_rechecks_filter_matches_against_the_long_name(lab: Lab) -> None:
    host = lab.host(bad_file=False)
    folder = "C:\\Windows\\System32\\drivers\\VendorX"
    stamp = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
    bad = bytes.fromhex("DEADBEEF") + bytes(60)
    for leaf in ("vxdrv.sys", "vxdrv.sys_old"):
        host.machine.files.write_file(f"{folder}\\{leaf}", bad, last_write_utc=stamp)
    listed = run(host, f"$n = @(Get-ChildItem -LiteralPath '{folder}' -Filter '*.sys' -File | "
                       "ForEach-Object { $_.Name })\n"
                       "[pscustomobject]@{ names = $n } | ConvertTo-Json -Compress")  # fmt: skip
    assert listed.report["names"] == ["vxdrv.sys", "vxdrv.sys_old"]  # as Windows lists them
    criteria = {"Folder": folder, "Pattern": "*.sys", "BadHeaderHex": "DE AD BE EF"}
    before = files_of(host)
    detected = run_pack_script(host, FAULTY, "detect.ps1", **criteria)
    assert detected.report["details"]["bad_files"] == ["vxdrv.sys"]
    ran = run_pack_script(host, FAULTY, "apply.ps1", **criteria)
    assert (ran.exit_code, ran.report["deleted"]) == (0, ["vxdrv.sys"])
    assert deleted(before, host) == {f"{folder}\\vxdrv.sys"}


async def test_faulty_driver_disable_driver_lets_a_crashing_host_boot_and_stay_up(
    lab: Lab,
) -> None:
    # Tamper-protected, so crowdstrike-291 cannot fix it in normal mode while csagent runs.
    host = lab.host(tamper=True)
    disable = {"Mode": "disable-driver", "DriverService": "csagent"}
    ran = run_pack_script(host, FAULTY, "apply.ps1", **disable)
    assert (ran.exit_code, ran.report["previous_start"], ran.report["start"]) == (0, 1, 4)
    await reboot(lab, host, mode=BootMode.NORMAL)
    await lab.pass_lab_time(500)  # with csagent loaded the bad file would have crashed it
    assert host.state is BootState.UP and host.status().crashes == 0
    assert has_bad_channel_file(host.machine)
    # The driver did not load, so it protects nothing: the fix works in normal mode.
    fixed = run_pack_script(host, CS291, "remediate.ps1")
    assert fixed.exit_code == 0, fixed.report
    restore = {"Mode": "restore-driver", "DriverService": "csagent"}
    assert run_pack_script(host, FAULTY, "apply.ps1", **restore).exit_code == 0
    await reboot(lab, host, mode=BootMode.NORMAL)
    await lab.pass_lab_time(500)
    assert host.state is BootState.UP and host.status().crashes == 0
    assert service(host, "csagent").status is ServiceStatus.RUNNING


async def test_a_host_that_keeps_csagent_at_start_1_crashes_on_reboot(lab: Lab) -> None:
    host = lab.host()
    generation = host.boot_generation
    assert host.execute("shutdown /r /t 0").exit_code == 0
    await lab.until(lambda: host.status().crashes > 0, what="the crash on boot")
    assert host.boot_generation > generation


async def test_faulty_driver_will_not_disable_a_driver_it_cannot_record(lab: Lab) -> None:
    host = lab.host()
    ran = run_pack_script(host, FAULTY, "apply.ps1", Mode="disable-driver", DriverService="nope")
    assert (ran.exit_code, ran.report["problems"]) == (1, ["driver_not_found"])


# --- Intune pairs -------------------------------------------------------------------------


async def test_intune_pair_runs_unchanged_and_reports_its_exit_code(
    lab: Lab, tmp_path: Path
) -> None:
    detect = tmp_path / "Detect.ps1"
    detect.write_text(
        "$s = Get-Service -Name Spooler\n"
        "if ($s.Status -ne 'Running') { Write-Output 'Spooler down'; exit 1 }\n"
        "Write-Output 'Spooler fine'\nexit 0\n"
    )
    remediate = tmp_path / "Remediate.ps1"
    remediate.write_text("Start-Service -Name Spooler\nWrite-Output 'started'\n")
    pack = pack_from_intune(detect, remediate, pack_id="spooler", output_dir=tmp_path)
    host = lab.host(bad_file=False)
    service(host, "Spooler").status = ServiceStatus.STOPPED
    down = run(host, pack.detect.text)
    assert (down.exit_code, down.report["exit_code"], down.report["output"]) == (
        1,
        1,
        "Spooler down",
    )
    assert run(host, script_text(pack, "remediate.ps1")).exit_code == 0
    up = run(host, pack.detect.text)
    assert (up.exit_code, up.report["output"]) == (0, "Spooler fine")


# --- through every real transport ---------------------------------------------------------
# The probe and crowdstrike-291 over pywinrm (HTTP, HTTPS), pypsrp and asyncssh against the
# lab's servers: what the engine will do, minus the engine. The probe is too long for a
# command line, so WinRM and SSH carry it over stdin.


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[RunningLab]:
    running = await RunningLab.start(
        hosts=10, scenario="crowdstrike-291", seed=5, time_scale=1000.0,
        directory=tmp_path / "lab", password=PASSWORD, ssh_port=0, winrm_port=0, winrms_port=0,
    )  # fmt: skip
    yield running
    await running.stop()


def affected_host(lab: RunningLab) -> LabHost:
    name = next(t.name for t in lab.fleet.truths if t.condition is Condition.AFFECTED_UP)
    host = lab.fleet.host(name)
    assert host is not None
    return host


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
async def test_probe_detect_fix_verify_over_a_real_transport(
    outage: RunningLab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    lab_host = affected_host(outage)
    host = inventory_host(outage, lab_host.name)
    params = CS291.resolve_parameters({})
    session = await make_transport(kind, options(outage), executor=executor).open(host, timeout=10)
    try:
        facts = await collect_facts(session, timeout=30)
        detected = await session.run(CS291.detect.text, params=params, timeout=30)
        step = CS291.steps[0].script
        assert step is not None
        fixed = await session.run(step.text, params=params, timeout=30)
        assert CS291.verify is not None
        verified = await session.run(CS291.verify.text, params=params, timeout=30)
    finally:
        await session.close()
    diagnosis = diagnose(facts)
    assert (diagnosis.state, diagnosis.reason) == (
        HostState.AFFECTED,
        "1 bad channel file (04:09 UTC)",
    )
    assert read_detection(detected.stdout, detected.exit_code)[0] is Detection.NEEDS_REMEDIATION
    assert read_report(fixed.stdout, fixed.exit_code).ok, fixed
    assert read_report(verified.stdout, verified.exit_code).ok, verified
    assert not has_bad_channel_file(lab_host.machine)
