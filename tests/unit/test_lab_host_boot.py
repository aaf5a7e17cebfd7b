"""The boot state machine of a LabHost: crash loops, their evidence, safe mode, healing,
which services answer when, and the BitLocker recovery screen."""

from __future__ import annotations

from fleetfix.lab.api import Service
from fleetfix.lab.boot import (
    CHANNEL_291_PATTERN,
    MINIDUMPS_KEPT,
    SYSTEM_THREAD_EXCEPTION_NOT_HANDLED,
    BootProfile,
    BootState,
    has_bad_channel_file,
)
from fleetfix.lab.host import LabHost
from fleetfix.lab.machine import (
    GOOD_CONTENT_TIME,
    BootMode,
    RegistryValueKind,
    ServiceStartMode,
    ServiceStatus,
)
from tests.unit.test_lab_host_support import Lab, lab, record_states
from tests.unit.test_lab_shell_support import encoded_command

__all__ = ["lab"]  # the fixture is used by name

SAFEBOOT_NETWORK = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SafeBoot\\Network"
CSAGENT_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\csagent"
LOOP = BootProfile(boot_seconds=90, crash_restart_seconds=20)


async def crash_loop(lab: Lab, host: LabHost, *, crashes: int) -> None:
    host.restart(reason="Application: Maintenance (Planned)", delay=0)
    await lab.until(lambda: host.status().crashes >= crashes, what=f"{crashes} crashes")


async def test_bad_channel_file_makes_the_host_crash_loop_with_bugcheck_0x50(lab: Lab) -> None:
    host = lab.host(profile=LOOP, bad_channel_file=True)
    await crash_loop(lab, host, crashes=3)
    log = host.machine.system_log
    kernel_power = log.query(ids=[41])
    assert len(kernel_power) >= 2
    assert all(dict(e.properties)["BugcheckCode"] == 80 for e in kernel_power)
    assert dict(kernel_power[0].properties)["BugcheckParameter3"] != 0
    bugchecks = log.query(ids=[1001])
    assert bugchecks and all(dict(e.properties)["param1"] == "0x00000050" for e in bugchecks)
    assert "0x00000050" in bugchecks[0].message
    assert len(log.query(ids=[6008])) == len(kernel_power)
    # The loop began with a planned restart, which left its own evidence.
    assert [e.id for e in log.query(ids=[1074, 6006])] == [6006, 1074]
    assert host.machine.files.glob("C:\\Windows\\Minidump\\*.dmp")


async def test_bugcheck_0x7e_is_logged_as_126(lab: Lab) -> None:
    profile = BootProfile(bugcheck_code=SYSTEM_THREAD_EXCEPTION_NOT_HANDLED)
    host = lab.host(profile=profile, bad_channel_file=True)
    await crash_loop(lab, host, crashes=2)
    event = host.machine.system_log.query(ids=[41])[0]
    assert dict(event.properties)["BugcheckCode"] == 126
    assert dict(event.properties)["BugcheckParameter1"] == 0xC0000005


async def test_a_crash_looping_host_never_answers_without_a_window(lab: Lab) -> None:
    host = lab.host(profile=LOOP, bad_channel_file=True)
    states = record_states(host, lab)
    await crash_loop(lab, host, crashes=4)
    assert BootState.UP not in [state for state, _ in states]
    assert not host.is_listening(Service.WINRM)


async def test_reachable_windows_answer_before_each_crash(lab: Lab) -> None:
    profile = BootProfile(window_chance=1.0, window_seconds=5)
    host = lab.host(profile=profile, bad_channel_file=True)
    answered: list[bool] = []

    def probe(changed: LabHost) -> None:
        if changed is host and changed.state is BootState.UP:
            answered.append(changed.is_listening(Service.WINRM))

    lab.context.subscribe(probe)
    await crash_loop(lab, host, crashes=3)
    assert len(answered) >= 2
    assert all(answered)


async def test_boot_generation_grows_by_one_each_time_the_host_goes_down(lab: Lab) -> None:
    host = lab.host(profile=LOOP, bad_channel_file=True)
    states = record_states(host, lab)
    start = host.boot_generation
    await crash_loop(lab, host, crashes=3)
    generations = [g for state, g in states if state is BootState.CRASHED]
    # One planned restart, then one bump per crash.
    assert generations[:3] == [start + 2, start + 3, start + 4]


async def test_safe_mode_chosen_at_the_console_stops_the_crash(lab: Lab) -> None:
    host = lab.host(profile=LOOP, bad_channel_file=True)
    await crash_loop(lab, host, crashes=2)
    host.console_boot(BootMode.SAFE_MINIMAL)
    await lab.until(lambda: host.state is BootState.UP, what="safe mode boot")
    crashes = host.status().crashes
    await lab.pass_lab_time(1_000)
    status = host.status()
    assert (status.state, status.boot_mode, status.crashes) == (
        BootState.UP,
        BootMode.SAFE_MINIMAL,
        crashes,
    )
    assert host.machine.services.get("csagent") is not None
    assert has_bad_channel_file(host.machine)


async def test_removing_the_bad_file_in_safe_mode_then_a_normal_boot_recovers(lab: Lab) -> None:
    host = lab.host(profile=LOOP, bad_channel_file=True)
    await crash_loop(lab, host, crashes=2)
    host.console_boot(BootMode.SAFE_NETWORK)
    await lab.until(lambda: host.state is BootState.UP, what="safe mode boot")
    for entry in host.machine.files.glob(CHANNEL_291_PATTERN):
        host.machine.files.remove(entry.path)
    host.restart(reason="channel file removed", delay=5)
    await lab.until(lambda: host.machine.boot_mode is BootMode.NORMAL, what="normal boot")
    await lab.until(lambda: host.state is BootState.UP, what="host up")
    crashes = host.status().crashes
    await lab.pass_lab_time(1_000)
    assert host.state is BootState.UP
    assert host.status().crashes == crashes
    assert host.is_listening(Service.WINRM)


async def test_bcdedit_safeboot_is_honoured_on_a_requested_restart(lab: Lab) -> None:
    host = lab.host(profile=LOOP, bad_channel_file=True)
    host.machine.bcd.loader.elements["safeboot"] = "network"
    host.restart(reason="safe mode cycle", delay=0)
    await lab.until(lambda: host.machine.boot_mode is BootMode.SAFE_NETWORK, what="safe boot")
    assert host.state is BootState.UP
    assert host.status().crashes == 0


async def test_a_healing_chance_of_one_heals_on_the_first_boot(lab: Lab) -> None:
    host = lab.host(profile=BootProfile(heal_chance=1.0), bad_channel_file=True)
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.boot_generation == 1 and host.state is BootState.UP, what="boot")
    assert host.status().heals == 1
    assert host.status().crashes == 0
    assert not has_bad_channel_file(host.machine)
    assert all(
        e.last_write_utc >= GOOD_CONTENT_TIME for e in host.machine.files.glob(CHANNEL_291_PATTERN)
    )


async def boots_until_healed(lab: Lab, *, seed: int) -> int:
    host = lab.host(profile=BootProfile(heal_chance=0.25), bad_channel_file=True, seed=seed)
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.status().heals == 1, what="healing")
    assert host.state is BootState.UP
    return host.status().crashes


async def test_healing_follows_the_seeded_rng(lab: Lab) -> None:
    first = [await boots_until_healed(lab, seed=seed) for seed in range(6)]
    again = [await boots_until_healed(lab, seed=seed) for seed in range(6)]
    assert first == again
    # A 25% chance per boot: some hosts need several crashes, not all heal at once.
    assert max(first) > 0


async def test_winrm_answers_in_normal_mode_and_ssh_too(lab: Lab) -> None:
    host = lab.host()
    assert host.is_listening(Service.WINRM)
    assert host.is_listening(Service.SSH)
    host.machine.services.stop("WinRM", force=True)
    assert not host.is_listening(Service.WINRM)


async def safe_boot(lab: Lab, host: LabHost, mode: BootMode) -> None:
    host.console_boot(mode)
    await lab.until(
        lambda: host.state is BootState.UP and host.machine.boot_mode is mode, what=f"{mode}"
    )


async def test_safe_mode_with_networking_starts_winrm_only_when_listed(lab: Lab) -> None:
    host = lab.host()
    await safe_boot(lab, host, BootMode.SAFE_NETWORK)
    assert not host.is_listening(Service.WINRM)
    host.machine.registry.set_value(f"{SAFEBOOT_NETWORK}\\WinRM", "", "Service")
    await safe_boot(lab, host, BootMode.SAFE_NETWORK)
    assert host.is_listening(Service.WINRM)
    # sshd follows the same rule and is not listed.
    assert not host.is_listening(Service.SSH)


async def test_safe_mode_minimal_answers_nothing_even_when_winrm_is_listed(lab: Lab) -> None:
    host = lab.host()
    host.machine.registry.set_value(f"{SAFEBOOT_NETWORK}\\WinRM", "", "Service")
    await safe_boot(lab, host, BootMode.SAFE_MINIMAL)
    assert not host.is_listening(Service.WINRM)
    assert not host.is_listening(Service.SSH)


async def test_nothing_answers_while_booting(lab: Lab) -> None:
    host = lab.host(profile=BootProfile(boot_seconds=5_000))
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.state is BootState.BOOTING, what="booting")
    assert not host.is_listening(Service.WINRM)
    assert not host.is_listening(Service.SSH)


async def test_shutdown_waits_for_power_on(lab: Lab) -> None:
    host = lab.host()
    assert not host.power_on()
    host.shutdown(reason="test", delay=0)
    await lab.until(lambda: host.state is BootState.DOWN, what="powered off")
    await lab.pass_lab_time(500)
    assert host.state is BootState.DOWN
    assert host.status().waits_for_console
    assert host.power_on()
    await lab.until(lambda: host.state is BootState.UP, what="powered on")


async def test_a_service_stopped_before_a_reboot_runs_again_after_it(lab: Lab) -> None:
    host = lab.host()
    spooler = host.machine.services.get("Spooler")
    assert spooler is not None
    spooler.status = ServiceStatus.STOPPED
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.boot_generation == 1 and host.state is BootState.UP, what="up")
    assert spooler.status is ServiceStatus.RUNNING


async def test_a_long_crash_loop_keeps_a_bounded_number_of_minidumps(lab: Lab) -> None:
    host = lab.host(
        profile=BootProfile(boot_seconds=1, crash_restart_seconds=1), bad_channel_file=True
    )
    await crash_loop(lab, host, crashes=MINIDUMPS_KEPT * 3)
    dumps = host.machine.files.glob("C:\\Windows\\Minidump\\*.dmp")
    assert MINIDUMPS_KEPT <= len(dumps) < 2 * MINIDUMPS_KEPT


async def test_a_crash_looping_host_boots_once_csagent_start_is_4_in_the_registry(
    lab: Lab,
) -> None:
    # A 10-minute window (60 ms real): the default 5 s is 0.5 ms at this time scale, which a
    # scheduler that runs late on a busy machine steps over, UP and crash in one go.
    profile = BootProfile(
        boot_seconds=90, crash_restart_seconds=20, window_chance=1.0, window_seconds=600
    )
    host = lab.host(profile=profile, bad_channel_file=True)
    await crash_loop(lab, host, crashes=2)
    await lab.until(lambda: host.state is BootState.UP, what="a reachable window")
    # In the window before the next crash, what disabling the driver by hand looks like.
    disable = f"Set-ItemProperty -Path '{CSAGENT_KEY}' -Name Start -Value 4"
    assert host.execute(encoded_command(disable)).exit_code == 0
    generation = host.boot_generation
    await lab.until(
        lambda: host.boot_generation > generation and host.state is BootState.UP,
        what="the boot after Start was set to 4",
    )
    crashes = host.status().crashes
    await lab.pass_lab_time(3_600)
    status = host.status()
    assert (status.state, status.boot_mode, status.crashes) == (
        BootState.UP, BootMode.NORMAL, crashes,
    )  # fmt: skip
    assert has_bad_channel_file(host.machine)  # still there: nothing loaded it
    shown = host.execute(encoded_command("Get-Service csagent, CSFalconService | "
                                         "ForEach-Object { \"$($_.Name) $($_.Status) "
                                         "$($_.StartType)\" }"))  # fmt: skip
    assert shown.stdout.split(b"\r\n")[:2] == [
        b"csagent Stopped Disabled", b"CSFalconService Stopped Automatic",
    ]  # fmt: skip


async def test_csagent_start_1_from_the_registry_keeps_the_loop_going(lab: Lab) -> None:
    host = lab.host(profile=LOOP, bad_channel_file=True)
    key = host.machine.registry.key(CSAGENT_KEY)
    start = None if key is None else key.value("Start")
    assert start is not None and (start.kind, start.data) == (RegistryValueKind.DWORD, 1)
    driver = host.machine.services.get("csagent")
    assert driver is not None
    # What the running system believes does not matter at boot; the registry does.
    driver.start_type = ServiceStartMode.DISABLED
    await crash_loop(lab, host, crashes=2)
    assert driver.start_type is ServiceStartMode.SYSTEM
