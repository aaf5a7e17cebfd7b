"""The machine model: paths, recovery passwords, registry, boot modes, BitLocker counts."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetfix.lab.machine import (
    BAD_CHANNEL_HEADER,
    BootMode,
    EventLevel,
    Machine,
    ServiceStatus,
    add_channel_file,
    is_valid_recovery_password,
    new_recovery_password,
)
from fleetfix.lab.machine.files import normalize_path
from tests.unit.test_lab_shell_support import BOOT_TIME, new_machine


def status_of(machine: Machine, name: str) -> ServiceStatus:
    service = machine.services.get(name)
    assert service is not None
    return service.status


SAFEBOOT_NETWORK = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SafeBoot\\Network"


@given(st.integers(min_value=0, max_value=2**32))
def test_recovery_passwords_pass_the_divisible_by_11_check(seed: int) -> None:
    password = new_recovery_password(random.Random(seed))
    assert is_valid_recovery_password(password)
    groups = password.split("-")
    assert len(groups) == 8 and all(int(g) % 11 == 0 and int(g) <= 720885 for g in groups)


@pytest.mark.parametrize(
    "typo",
    [
        "000011-000022-000033-000044-000055-000066-000077-000088".replace("88", "89"),
        "720896-000000-000000-000000-000000-000000-000000-000000",  # 11 x 65536: too big
        "000011-000022-000033-000044-000055-000066-000077",
    ],
)
def test_recovery_password_typos_are_caught(typo: str) -> None:
    assert not is_valid_recovery_password(typo)


def test_the_same_seed_builds_the_same_machine() -> None:
    a, b = new_machine(seed=7), new_machine(seed=7)
    assert a.bitlocker[0].recovery_passwords[0].recovery_password == (
        b.bitlocker[0].recovery_passwords[0].recovery_password
    )
    assert a.bitlocker[0].key_protectors[1].key_protector_id.startswith("{")


def test_recovery_passwords_stay_out_of_reprs() -> None:
    machine = new_machine()
    protector = machine.bitlocker[0].recovery_passwords[0]
    assert protector.recovery_password not in repr(protector)
    assert "Lab-Only" not in repr(machine.users[0])


def test_paths_are_case_insensitive_and_keep_their_first_spelling() -> None:
    machine = new_machine()
    path = add_channel_file(machine, bad=True)
    entry = machine.files.get(path.upper().replace("\\", "/"))
    assert entry is not None and entry.path == path
    assert entry.data.startswith(BAD_CHANNEL_HEADER)
    assert normalize_path("c:/windows//system32/") == "C:\\windows\\system32"


def test_safe_mode_starts_only_the_services_listed_under_safeboot() -> None:
    machine = new_machine()
    machine.apply_boot(BootMode.SAFE_NETWORK, at=BOOT_TIME)
    assert status_of(machine, "WinRM") is ServiceStatus.STOPPED
    assert status_of(machine, "CSFalconService") is ServiceStatus.STOPPED
    machine.registry.set_value(f"{SAFEBOOT_NETWORK}\\WinRM", "", "Service")
    machine.apply_boot(BootMode.SAFE_NETWORK, at=BOOT_TIME)
    assert status_of(machine, "WinRM") is ServiceStatus.RUNNING
    # Minimal safe mode reads its own list, which does not name WinRM.
    machine.apply_boot(BootMode.SAFE_MINIMAL, at=BOOT_TIME)
    assert status_of(machine, "WinRM") is ServiceStatus.STOPPED


def test_tamper_protection_only_guards_the_sensor_folder_in_normal_mode() -> None:
    machine = new_machine()
    path = add_channel_file(machine, bad=True)
    assert machine.is_tamper_protected(path)
    assert not machine.is_tamper_protected("C:\\Windows\\System32\\drivers\\etc\\hosts")
    machine.boot_mode = BootMode.SAFE_MINIMAL
    assert not machine.is_tamper_protected(path)
    machine.boot_mode = BootMode.NORMAL
    machine.tamper_protection = False
    assert not machine.is_tamper_protected(path)


def test_a_suspension_runs_down_with_reboots_and_resumes_protection() -> None:
    machine = new_machine()
    volume = machine.bitlocker[0]
    volume.suspend(reboot_count=2)
    machine.apply_boot(BootMode.NORMAL, at=BOOT_TIME)
    assert volume.suspended_reboots_left == 1
    machine.apply_boot(BootMode.NORMAL, at=BOOT_TIME)
    assert volume.suspended_reboots_left is None
    assert volume.protection_status.display == "On"


def test_a_suspension_with_count_zero_lasts_until_resumed() -> None:
    volume = new_machine().bitlocker[0]
    volume.suspend(reboot_count=0)
    volume.count_reboot()
    assert volume.protection_status.display == "Off"


def test_the_event_log_answers_newest_first_and_filtered() -> None:
    log = new_machine().system_log
    for minutes, event_id in enumerate([41, 6008, 41, 1001]):
        when = BOOT_TIME + timedelta(minutes=minutes)
        level = EventLevel.CRITICAL
        log.write(event_id=event_id, provider_name="p", time_created=when, level=level, message="")
    found = log.query(ids={41, 1001}, start_time=BOOT_TIME + timedelta(minutes=1))
    assert [(r.id, r.time_created - BOOT_TIME) for r in found] == [
        (1001, timedelta(minutes=3)),
        (41, timedelta(minutes=2)),
    ]
    assert len(log.query(max_events=2)) == 2


def test_registry_paths_in_any_notation_name_one_key() -> None:
    registry = new_machine().registry
    registry.set_value("Registry::HKEY_LOCAL_MACHINE\\SOFTWARE\\Lab", "Mode", "x")
    key = registry.key("hklm:\\software\\lab")
    assert key is not None and key.value("mode") is not None
