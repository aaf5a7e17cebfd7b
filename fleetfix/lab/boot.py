"""What one boot of a simulated host does to its machine: the crash test, self-healing, and the
System log entries a crash loop and a planned restart leave behind (FACTS.md); and the records
a host keeps about its boots and commands (status snapshot, command history).

`LabHost` (host.py) decides *when* things happen; this module decides *what* they write.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetfix.lab.api import Service
from fleetfix.lab.machine import (
    BAD_CHANNEL_HEADER,
    CROWDSTRIKE_DIR,
    GOOD_CONTENT_TIME,
    SENSOR_DRIVER,
    BootMode,
    EventLevel,
    Machine,
    ServiceStartMode,
    add_channel_file,
)
from fleetfix.lab.machine.eventlog import (
    bugcheck_1001_message,
    kernel_power_41_message,
    unexpected_shutdown_6008_message,
)

CHANNEL_291_PATTERN = f"{CROWDSTRIKE_DIR}\\C-00000291*.sys"
MINIDUMP_DIR = "C:\\Windows\\Minidump"
MINIDUMPS_KEPT = 50
PAGE_FAULT_IN_NONPAGED_AREA = 0x50
SYSTEM_THREAD_EXCEPTION_NOT_HANDLED = 0x7E


class BootState(enum.StrEnum):
    """Where a host is in its boot cycle, as a technician at its console would see it."""

    UP = "up"  # Windows is running (in `boot_mode`)
    BOOTING = "booting"  # firmware, boot loader, kernel, services: nothing answers yet
    CRASHED = "crashed"  # blue screen, writing the dump; restarts by itself
    DOWN = "down"  # shut down; waits for power_on()
    BITLOCKER_RECOVERY = "bitlocker_recovery"  # waits for the recovery key at the console
    RECOVERY_MENU = "recovery_menu"  # WinRE "Choose an option": waits for console_boot()


@dataclass(frozen=True, slots=True)
class BootProfile:
    """How one host behaves when it boots. Scenarios draw these per host from a seeded rng."""

    boot_seconds: float = 90.0
    # From the blue screen to the boot loader again: dump, firmware, POST.
    crash_restart_seconds: float = 20.0
    # Chance, per boot that ends in a crash, that WinRM/SSH answer for `window_seconds` first.
    window_chance: float = 0.0
    window_seconds: float = 5.0
    # Chance, per normal boot with bad content, that the sensor fetches the reverted file first.
    heal_chance: float = 0.0
    # After this many crashes in a row the boot stops at the BitLocker recovery screen (when
    # C: is protected and not suspended); None: the loop never triggers recovery on this host.
    bitlocker_recovery_after: int | None = None
    # After this many crashes in a row WinRE's automatic repair stops at its menu.
    recovery_menu_after: int | None = None
    bugcheck_code: int = PAGE_FAULT_IN_NONPAGED_AREA


@dataclass(frozen=True, slots=True)
class Crash:
    """A bugcheck (or, with code 0, a power cut), remembered until the next boot writes it
    to the System log."""

    at: datetime
    code: int
    parameters: tuple[int, int, int, int]
    dump_path: str


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One command a host received. Pipelines are recorded by cmdlet and parameter names
    only: parameter values may carry secrets."""

    at: datetime
    transport: str | None
    command: str
    exit_code: int
    boot_generation: int
    # A script fed over stdin (too long for cmd.exe's command line): without it the history
    # would show `powershell -Command -` and not which script ran.
    stdin: str = ""
    # What it printed (commands only; pipeline output is objects): the only witness of what a
    # script did, e.g. which files remediate.ps1 deleted.
    stdout: str = ""


@dataclass(frozen=True, slots=True)
class HostStatus:
    """A snapshot for `lab status` and `lab inspect`."""

    name: str
    address: str
    state: BootState
    boot_mode: BootMode | None  # None unless up
    boot_generation: int
    uptime_seconds: float | None
    last_boot: datetime | None
    crashes: int
    heals: int
    listening: tuple[Service, ...]
    waits_for_console: bool
    # The key ID the BitLocker recovery screen shows, while it shows one.
    recovery_key_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "state": str(self.state),
            "boot_mode": None if self.boot_mode is None else str(self.boot_mode),
            "boot_generation": self.boot_generation,
            "uptime_seconds": self.uptime_seconds,
            "last_boot": None if self.last_boot is None else self.last_boot.isoformat(),
            "crashes": self.crashes,
            "heals": self.heals,
            "listening": [str(s) for s in self.listening],
            "waits_for_console": self.waits_for_console,
            "recovery_key_id": self.recovery_key_id,
        }


def has_bad_channel_file(machine: Machine) -> bool:
    """True when a channel 291 file with the bad content is on disk: the sensor loads it."""
    return any(
        entry.data.startswith(BAD_CHANNEL_HEADER)
        for entry in machine.files.glob(CHANNEL_291_PATTERN)
        if not entry.is_directory
    )


_STARTED_AT_BOOT = (ServiceStartMode.BOOT, ServiceStartMode.SYSTEM, ServiceStartMode.AUTOMATIC)


def sensor_driver_loads(machine: Machine, mode: BootMode) -> bool:
    """Whether a boot in `mode` loads csagent. Its Start value in the registry decides
    (HKLM\\SYSTEM\\CurrentControlSet\\Services\\csagent, 1 on a Falcon host): 0-2 load it,
    4 (what the faulty-driver pack's disable-driver sets) does not, and 3 only as the
    dependency of a service started at boot (CSFalconService). Safe mode does not load it,
    which is why safe mode was the field fix."""
    if mode.is_safe:
        return False
    driver = machine.services.get(SENSOR_DRIVER)
    if driver is None:
        return False
    start = machine.boot_start_mode(driver)
    if start is ServiceStartMode.MANUAL:
        dependants = machine.services.dependents(driver.name)
        return any(machine.boot_start_mode(d) in _STARTED_AT_BOOT for d in dependants)
    return start in _STARTED_AT_BOOT


def will_crash(machine: Machine, mode: BootMode) -> bool:
    return sensor_driver_loads(machine, mode) and has_bad_channel_file(machine)


def heal(machine: Machine, *, at: datetime) -> None:
    """The network came up before the crash and the sensor fetched the reverted content."""
    for entry in machine.files.glob(CHANNEL_291_PATTERN):
        if entry.data.startswith(BAD_CHANNEL_HEADER):
            machine.files.remove(entry.path)
    # Before 05:27 UTC no good content existed yet; a lab that starts earlier still heals but
    # stamps the file with the revert time so scripts judging by time see good content.
    add_channel_file(machine, bad=False, at=max(at, GOOD_CONTENT_TIME))


def bugcheck(machine: Machine, *, code: int, at: datetime, rng: random.Random) -> Crash:
    """The host blue-screens: a minidump is written and the crash is remembered."""
    parameters = _bugcheck_parameters(code, rng)
    dump_path = f"{MINIDUMP_DIR}\\{at:%m%d%y}-{rng.randrange(10000, 99999)}-01.dmp"
    machine.files.write_file(dump_path, b"PAGEDU64" + bytes(248), last_write_utc=at)
    return Crash(at, code, parameters, dump_path)


def trim_minidumps(machine: Machine) -> None:
    """Windows keeps the newest 50 minidumps (MinidumpsCount): a long loop must not grow the
    lab's memory forever. Costs a scan of the file system, so hosts call it now and then."""
    dumps = sorted(machine.files.glob(f"{MINIDUMP_DIR}\\*.dmp"), key=lambda e: e.last_write_utc)
    for old in dumps[:-MINIDUMPS_KEPT]:
        machine.files.remove(old.path)


def _bugcheck_parameters(code: int, rng: random.Random) -> tuple[int, int, int, int]:
    driver_base = 0xFFFFF80000000000 | (rng.getrandbits(28) << 12)
    faulting_ip = driver_base + 0xE35A1
    if code == SYSTEM_THREAD_EXCEPTION_NOT_HANDLED:
        # Access violation in csagent.sys, exception record and context record.
        stack = 0xFFFF800000000000 | (rng.getrandbits(32) << 4)
        return (0xC0000005, faulting_ip, stack + 0x9E8, stack + 0x230)
    # Read of an invalid address (the out-of-bounds read in channel file 291 parsing).
    return (0xFFFF840500000000 | rng.getrandbits(12) << 4 | 0x4, 0x0, faulting_ip, 0x2)


def write_boot_events(
    machine: Machine, *, at: datetime, boot_seconds: float, crash: Crash | None
) -> None:
    """The System log entries written early in a boot: the previous crash (41, 6008, 1001)
    if there was one, then the event log start (6005) and uptime (6013)."""
    log = machine.system_log
    if crash is not None:
        bugcheck_properties = tuple(
            (f"BugcheckParameter{i}", value) for i, value in enumerate(crash.parameters, 1)
        )
        log.write(
            event_id=41,
            provider_name="Microsoft-Windows-Kernel-Power",
            time_created=at,
            level=EventLevel.CRITICAL,
            message=kernel_power_41_message(),
            # BugcheckCode is decimal in the event data: 80 for 0x50, 126 for 0x7E.
            properties=(("BugcheckCode", crash.code), *bugcheck_properties),
        )
        log.write(
            event_id=6008,
            provider_name="EventLog",
            time_created=at,
            level=EventLevel.ERROR,
            message=unexpected_shutdown_6008_message(at=crash.at),
            properties=(
                ("param1", f"{crash.at:%H:%M:%S}"),
                ("param2", f"{crash.at:%m/%d/%Y}"),
            ),
        )
    log.write(
        event_id=6005,
        provider_name="EventLog",
        time_created=at,
        level=EventLevel.INFORMATION,
        message="The Event log service was started.",
    )
    log.write(
        event_id=6013,
        provider_name="EventLog",
        time_created=at,
        level=EventLevel.INFORMATION,
        message=f"The system uptime is {int(boot_seconds)} seconds.",
        properties=(("param5", str(int(boot_seconds))),),
    )
    # A power cycle is unclean but no bugcheck: 41 and 6008 only, no dump, no 1001.
    if crash is not None and crash.code != 0:
        summary = bugcheck_1001_message(code=crash.code, parameters=crash.parameters)
        log.write(
            event_id=1001,
            provider_name="Microsoft-Windows-WER-SystemErrorReporting",
            time_created=at,
            level=EventLevel.ERROR,
            message=summary,
            properties=(
                ("param1", f"0x{crash.code:08x}"),
                ("param2", crash.dump_path),
                ("param3", f"{crash.at:%m%d%y}-01"),
            ),
        )


def write_planned_restart(
    machine: Machine, *, at: datetime, reason: str, user: str, restart: bool
) -> None:
    """1074: who asked for a restart or shutdown, and why."""
    action = "restart" if restart else "power off"
    # What Windows writes when the caller gave no reason (shutdown /r without /c, /d).
    reason = reason or "No title for this reason could be found"
    process = "C:\\Windows\\system32\\shutdown.exe"
    machine.system_log.write(
        event_id=1074,
        provider_name="User32",
        time_created=at,
        level=EventLevel.INFORMATION,
        message=(
            f"The process {process} ({machine.hostname}) has initiated the {action} of "
            f"computer {machine.hostname} on behalf of user {user} for the following reason: "
            f"{reason}"
        ),
        properties=(
            ("param1", f"{process} ({machine.hostname})"),
            ("param2", machine.hostname),
            ("param3", reason),
            ("param4", "0x80000000"),
            ("param5", action),
            ("param6", ""),
            ("param7", user),
        ),
    )


def write_clean_stop(machine: Machine, *, at: datetime) -> None:
    machine.system_log.write(
        event_id=6006,
        provider_name="EventLog",
        time_created=at,
        level=EventLevel.INFORMATION,
        message="The Event log service was stopped.",
    )
