"""What a technician at a LabHost's console can do, and what the lab's operator sees: the
BitLocker recovery screen, WinRE's menu, credentials, faults and the status snapshot."""

from __future__ import annotations

import json

import pytest

from fleetfix.lab.api import Fault, FaultKind, Service, SimHost
from fleetfix.lab.boot import BootProfile, BootState
from fleetfix.lab.host import HostDownError, LabHost
from fleetfix.lab.machine import BootMode, PowerControl
from tests.unit.test_lab_host_support import PASSWORD, Lab, lab

__all__ = ["lab"]  # the fixture is used by name

BITLOCKER_LOOP = BootProfile(boot_seconds=90, crash_restart_seconds=20, bitlocker_recovery_after=2)


def recovery_password(host: LabHost) -> str:
    volume = host.machine.volume("C:")
    assert volume is not None
    return volume.recovery_passwords[0].recovery_password


async def at_recovery_screen(lab: Lab) -> LabHost:
    host = lab.host(profile=BITLOCKER_LOOP, bad_channel_file=True)
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.state is BootState.BITLOCKER_RECOVERY, what="recovery screen")
    return host


async def test_crash_loop_ends_at_the_bitlocker_screen_which_waits(lab: Lab) -> None:
    host = await at_recovery_screen(lab)
    crashes = host.status().crashes
    await lab.pass_lab_time(2_000)
    assert host.state is BootState.BITLOCKER_RECOVERY
    assert host.status().crashes == crashes == 2
    assert host.status().waits_for_console
    assert not host.is_listening(Service.WINRM)
    volume = host.machine.volume("C:")
    assert volume is not None
    assert host.status().as_dict()["recovery_key_id"] == (
        volume.recovery_passwords[0].key_protector_id
    )


async def test_a_wrong_recovery_key_is_rejected(lab: Lab) -> None:
    host = await at_recovery_screen(lab)
    right = recovery_password(host)
    wrong = "000000-" + right[7:]
    assert wrong != right
    assert not host.console_enter_recovery_key(wrong)
    assert not host.console_enter_recovery_key("")
    assert not host.console_enter_recovery_key(right[:-1])
    assert host.state is BootState.BITLOCKER_RECOVERY


async def test_the_right_key_unlocks_to_the_recovery_menu_then_safe_mode(lab: Lab) -> None:
    host = await at_recovery_screen(lab)
    # Typed as digits only, the way the screen takes them.
    assert host.console_enter_recovery_key(recovery_password(host).replace("-", ""))
    assert host.state is BootState.RECOVERY_MENU
    assert host.status().recovery_key_id is None
    host.console_boot(BootMode.SAFE_NETWORK)
    await lab.until(lambda: host.state is BootState.UP, what="safe mode boot")
    assert host.machine.boot_mode is BootMode.SAFE_NETWORK
    # The previous crash is still written down by the boot that finally got through.
    assert host.machine.system_log.query(ids=[41])


async def test_a_mode_chosen_before_the_key_boots_straight_into_it(lab: Lab) -> None:
    host = await at_recovery_screen(lab)
    host.console_boot(BootMode.SAFE_MINIMAL)
    assert host.state is BootState.BITLOCKER_RECOVERY
    assert host.console_enter_recovery_key(recovery_password(host))
    await lab.until(lambda: host.state is BootState.UP, what="safe mode boot")
    assert host.machine.boot_mode is BootMode.SAFE_MINIMAL


async def test_the_key_is_refused_when_no_recovery_screen_is_shown(lab: Lab) -> None:
    host = lab.host()
    assert not host.console_enter_recovery_key(recovery_password(host))
    assert host.state is BootState.UP


async def test_suspended_bitlocker_boots_past_the_screen(lab: Lab) -> None:
    host = lab.host(profile=BITLOCKER_LOOP, bad_channel_file=True)
    volume = host.machine.volume("C:")
    assert volume is not None
    volume.suspend(reboot_count=15)
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.status().crashes >= 4, what="four crashes")
    assert host.state is not BootState.BITLOCKER_RECOVERY


async def test_automatic_repair_stops_at_the_recovery_menu(lab: Lab) -> None:
    host = lab.host(profile=BootProfile(recovery_menu_after=3), bad_channel_file=True)
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.state is BootState.RECOVERY_MENU, what="recovery menu")
    assert host.status().crashes == 3
    await lab.pass_lab_time(1_000)
    assert host.state is BootState.RECOVERY_MENU


async def test_console_boot_restarts_a_running_host_into_safe_mode(lab: Lab) -> None:
    host = lab.host()
    host.console_boot(BootMode.SAFE_NETWORK)
    assert host.state is BootState.BOOTING
    assert host.boot_generation == 1
    await lab.until(lambda: host.state is BootState.UP, what="safe mode boot")
    assert host.machine.boot_mode is BootMode.SAFE_NETWORK
    # A one-time choice: bcdedit was not touched, so the next boot is normal again.
    assert host.machine.bcd.safeboot is None


def test_local_administrator_authenticates_with_the_lab_password(lab: Lab) -> None:
    host = lab.host()
    assert host.check_password("Administrator", PASSWORD)
    assert host.check_password("PACS-WS-0001\\administrator", PASSWORD)
    assert host.check_password(".\\Administrator", PASSWORD)
    assert host.check_password("Administrator@pacs-ws-0001", PASSWORD)
    assert not host.check_password("Administrator", PASSWORD + "x")
    assert not host.check_password("Guest", PASSWORD)
    assert host.password_for("administrator") == PASSWORD
    assert host.password_for("nobody") is None


def test_faults_are_the_hosts_own_plus_the_fleets(lab: Lab) -> None:
    host = lab.host()
    other = lab.host(name="RIS-WS-0001")
    latency = Fault(FaultKind.LATENCY, seconds=0.5)
    refuse = Fault(FaultKind.REFUSE)
    host.add_fault(latency)
    lab.context.fleet_faults.add(refuse)
    assert list(host.faults()) == [latency, refuse]
    assert list(other.faults()) == [refuse]
    host.set_faults([Fault(FaultKind.DROP, rate=0.5)])
    assert [f.kind for f in host.faults()] == [FaultKind.DROP, FaultKind.REFUSE]
    host.clear_faults()
    lab.context.fleet_faults.clear()
    assert list(host.faults()) == []


async def test_status_is_a_json_able_snapshot(lab: Lab) -> None:
    host = lab.host(profile=BootProfile(), bad_channel_file=True)
    up = host.status().as_dict()
    assert up["state"] == "up"
    assert up["boot_mode"] == "normal"
    assert up["listening"] == ["winrm", "ssh"]
    assert up["uptime_seconds"] >= 5 * 3600
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.status().crashes >= 1, what="a crash")
    down = json.loads(json.dumps(host.status().as_dict()))
    assert down["state"] in ("crashed", "booting")
    assert down["boot_mode"] is None
    assert down["uptime_seconds"] is None
    assert down["listening"] == []


async def test_a_command_on_a_host_that_is_down_is_a_server_bug(lab: Lab) -> None:
    host = lab.host()
    host.shutdown(reason="test", delay=0)
    await lab.until(lambda: host.state is BootState.DOWN, what="powered off")
    with pytest.raises(HostDownError, match="down"):
        host.execute("hostname")


async def test_a_power_cycle_is_an_unclean_stop_without_a_bugcheck(lab: Lab) -> None:
    host = lab.host()
    host.console_power_cycle()
    assert host.state is BootState.BOOTING
    assert host.boot_generation == 1
    await lab.until(lambda: host.state is BootState.UP, what="boot after the power cycle")
    log = host.machine.system_log
    assert dict(log.query(ids=[41])[0].properties)["BugcheckCode"] == 0
    assert log.query(ids=[6008])
    assert not log.query(ids=[1001, 1074, 6006])


async def test_a_power_cycle_does_not_get_past_automatic_repair(lab: Lab) -> None:
    host = lab.host(profile=BootProfile(recovery_menu_after=1), bad_channel_file=True)
    host.restart(reason="test", delay=0)
    await lab.until(lambda: host.state is BootState.RECOVERY_MENU, what="recovery menu")
    host.console_power_cycle()
    # Still one crash in a row: automatic repair stops the boot again at once.
    assert host.state is BootState.RECOVERY_MENU
    assert host.status().crashes == 1


def test_a_lab_host_is_what_servers_and_machines_expect(lab: Lab) -> None:
    # mypy checks these assignments against the protocols; the asserts check the wiring.
    host = lab.host()
    as_seen_by_servers: SimHost = host
    as_seen_by_the_machine: PowerControl = host
    assert as_seen_by_servers.boot_generation == 0
    assert host.machine.power is as_seen_by_the_machine
    assert host.machine.now() >= lab.clock.start
