"""A simulated Windows host: a `Machine` that boots, crash-loops, heals and waits at its
console, driven by lab time. Implements `SimHost` for the protocol servers and `PowerControl`
for the machine's restart and shutdown commands.

Every state change runs inside the fleet's one `LabScheduler`. Events carry the host's step
token when they are scheduled; a later transition bumps the token, so an event that no longer
applies (a window's crash after a technician rebooted the host) does nothing when it fires.

What answers when: in normal mode WinRM and SSH answer while their services (WinRM, sshd)
run. Safe mode with networking starts only the services listed under
HKLM\\SYSTEM\\CurrentControlSet\\Control\\SafeBoot\\Network, so WinRM answers only when its key
is there; we treat sshd the same way (it answers only if `...\\Network\\sshd` exists, which a
stock host lacks). Safe mode minimal has no network at all: nothing answers, listed or not.
"""

from __future__ import annotations

import hmac
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleetfix.errors import LabError
from fleetfix.lab import shell
from fleetfix.lab.api import Completed, Fault, PipelineCommand, PipelineResult, Service
from fleetfix.lab.boot import (
    MINIDUMPS_KEPT,
    BootProfile,
    BootState,
    CommandRecord,
    Crash,
    HostStatus,
    bugcheck,
    heal,
    trim_minidumps,
    will_crash,
    write_boot_events,
    write_clean_stop,
    write_planned_restart,
)
from fleetfix.lab.clock import LabClock, LabScheduler
from fleetfix.lab.machine import BootMode, Machine, ProtectionStatus, ServiceStatus

HostObserver = Callable[["LabHost"], None]

_SERVICE_NAMES = {Service.WINRM: "WinRM", Service.SSH: "sshd"}


class HostDownError(LabError):
    """A server ran a command on a host that is not up: it should have dropped the
    connection when `boot_generation` changed."""

    title = "host is not running"


class FaultList:
    """Faults in force. One instance is shared by every host of a lab for fleet-wide faults."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._faults = list(faults)

    def set(self, faults: Iterable[Fault]) -> None:
        self._faults = list(faults)

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def snapshot(self) -> tuple[Fault, ...]:
        return tuple(self._faults)


@dataclass(slots=True)
class LabContext:
    """What the hosts of one lab share: lab time, the event heap, fleet-wide faults, and who
    wants to hear when a host changes state (the fleet starts and stops listeners on it)."""

    clock: LabClock
    scheduler: LabScheduler
    fleet_faults: FaultList = field(default_factory=FaultList)
    observers: list[HostObserver] = field(default_factory=list)

    @classmethod
    def create(cls, clock: LabClock) -> LabContext:
        return cls(clock, LabScheduler(clock))

    def subscribe(self, observer: HostObserver) -> None:
        self.observers.append(observer)

    def notify(self, host: LabHost) -> None:
        for observer in self.observers:
            observer(host)


class LabHost:
    """One simulated host. Starts up in the mode its machine last booted in."""

    def __init__(
        self,
        *,
        name: str,
        address: str,
        machine: Machine,
        context: LabContext,
        profile: BootProfile | None = None,
        rng: random.Random,
        history_limit: int = 1000,
    ) -> None:
        self._name = name
        self._address = address
        self.machine = machine
        self.profile = profile or BootProfile()
        self._context = context
        # Boot rolls (window, healing, bugcheck parameters) use their own rng so that the
        # commands a client runs cannot change how a seeded host boots.
        self._rng = rng
        self._history: deque[CommandRecord] = deque(maxlen=history_limit)
        self._received = 0  # every command ever recorded, kept or not
        self._faults = FaultList()
        self._state = BootState.UP
        self._token = 0
        self._generation = 0
        self._crashes = 0
        self._crashes_in_a_row = 0
        self._heals = 0
        self._pending_crash: Crash | None = None
        self._console_mode: BootMode | None = None
        self._power_request_pending = False
        self._last_boot: float | None = context.clock.offset_of(machine.last_boot_time)
        machine.clock = context.clock.now
        machine.power = self

    # --- SimHost -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def address(self) -> str:
        return self._address

    @property
    def boot_generation(self) -> int:
        return self._generation

    @property
    def state(self) -> BootState:
        return self._state

    def is_listening(self, service: Service) -> bool:
        # Safe mode without networking has no network stack at all; with networking only the
        # services listed under SafeBoot\Network run, which Machine.apply_boot already did.
        if self._state is not BootState.UP or self.machine.boot_mode is BootMode.SAFE_MINIMAL:
            return False
        found = self.machine.services.get(_SERVICE_NAMES[service])
        return found is not None and found.status is ServiceStatus.RUNNING

    def check_password(self, username: str, password: str) -> bool:
        expected = self.password_for(username)
        if expected is None:
            return False
        return hmac.compare_digest(expected.encode(), password.encode())

    def password_for(self, username: str) -> str | None:
        # `HOST\user`, `.\user` and `user@host` all name the local account `user`.
        user = self.machine.user(username.partition("@")[0])
        return user.password if user is not None and user.enabled else None

    def faults(self) -> Sequence[Fault]:
        return self._faults.snapshot() + self._context.fleet_faults.snapshot()

    def execute(
        self,
        command_line: str,
        *,
        stdin: bytes = b"",
        codepage: int = 437,
        transport: str | None = None,
    ) -> Completed:
        self._require_up()
        generation = self._generation
        result = shell.run_command_line(self.machine, command_line, stdin=stdin, codepage=codepage)
        self._record(
            transport, command_line, result.exit_code, generation, stdin=stdin, stdout=result.stdout
        )
        return result

    def run_pipeline(
        self,
        commands: Sequence[PipelineCommand],
        *,
        input_objects: Sequence[Any] = (),
        transport: str | None = "psrp",
    ) -> PipelineResult:
        self._require_up()
        generation = self._generation
        result = shell.run_pipeline(self.machine, commands, input_objects=input_objects)
        code = result.exit_code if result.exit_code is not None else int(result.had_errors)
        self._record(transport, _describe_pipeline(commands), code, generation)
        return result

    # --- history, faults, status -------------------------------------------------------

    @property
    def history(self) -> tuple[CommandRecord, ...]:
        return tuple(self._history)

    @property
    def commands_received(self) -> int:
        """How many commands the host recorded in all, including any its bounded history
        has since dropped."""
        return self._received

    def set_faults(self, faults: Iterable[Fault]) -> None:
        self._faults.set(faults)

    def add_fault(self, fault: Fault) -> None:
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def status(self) -> HostStatus:
        up = self._state is BootState.UP
        now = self._context.clock.elapsed()
        return HostStatus(
            name=self._name,
            address=self._address,
            state=self._state,
            boot_mode=self.machine.boot_mode if up else None,
            boot_generation=self._generation,
            uptime_seconds=now - self._last_boot if up and self._last_boot is not None else None,
            last_boot=None if self._last_boot is None else self._context.clock.at(self._last_boot),
            crashes=self._crashes,
            heals=self._heals,
            listening=tuple(s for s in Service if self.is_listening(s)),
            waits_for_console=self.waits_for_console,
            recovery_key_id=self._shown_key_id(),
        )

    def _shown_key_id(self) -> str | None:
        if self._state is not BootState.BITLOCKER_RECOVERY:
            return None
        volume = self.machine.volume("C:")
        protectors = [] if volume is None else volume.recovery_passwords
        return protectors[0].key_protector_id if protectors else None

    @property
    def waits_for_console(self) -> bool:
        return self._state in (
            BootState.DOWN,
            BootState.BITLOCKER_RECOVERY,
            BootState.RECOVERY_MENU,
        )

    # --- PowerControl (commands run on the host) ---------------------------------------

    def restart(self, *, reason: str, delay: float) -> None:
        self._request_power(reason=reason, delay=delay, restart=True)

    def shutdown(self, *, reason: str, delay: float) -> None:
        self._request_power(reason=reason, delay=delay, restart=False)

    def _request_power(self, *, reason: str, delay: float, restart: bool) -> None:
        # Windows refuses a second request while one is scheduled (error 1190); the first wins.
        if self._state is not BootState.UP or self._power_request_pending:
            return
        now = self._context.clock.elapsed()
        write_planned_restart(
            self.machine, at=self._at(now), reason=reason, user=self._operator, restart=restart
        )
        self._power_request_pending = True
        self._schedule(now + max(0.0, delay), lambda due: self._planned_stop(due, restart=restart))

    # --- the console ---------------------------------------------------------------------

    def power_on(self) -> bool:
        """Presses the power button: boots a host that is down. False if it was not down."""
        if self._state is not BootState.DOWN:
            return False
        self._begin_boot(self._context.clock.elapsed())
        return True

    def console_power_cycle(self) -> None:
        """Holds the power button, then presses it again: an unclean stop from any state
        (logged by the next boot as 41 with BugcheckCode 0 and 6008), then a boot."""
        now = self._context.clock.elapsed()
        if self._state is not BootState.DOWN and self._pending_crash is None:
            self._pending_crash = Crash(self._at(now), 0, (0, 0, 0, 0), "")
        self._go_down()
        self._begin_boot(now)

    def console_boot(self, mode: BootMode) -> None:
        """A technician picks the mode of the next boot (WinRE startup settings, F8). From
        the recovery menu or a powered-off host the boot starts now; a running host restarts."""
        now = self._context.clock.elapsed()
        self._console_mode = mode
        self._crashes_in_a_row = 0
        if self._state is BootState.RECOVERY_MENU:
            self._load_windows(now)
        elif self._state is BootState.DOWN:
            self._begin_boot(now)
        elif self._state is BootState.UP:
            self._console_restart(now)
        # Booting, crashed or at the BitLocker screen: the choice applies to the next boot.

    def console_enter_recovery_key(self, key: str) -> bool:
        """Types a recovery password at the BitLocker screen. True if it unlocked C:."""
        if self._state is not BootState.BITLOCKER_RECOVERY:
            return False
        # The screen takes digits only and draws the dashes itself.
        typed = _digits(key)
        volume = self.machine.volume("C:")
        known = [] if volume is None else [k.recovery_password for k in volume.recovery_passwords]
        if not typed or not any(hmac.compare_digest(typed, _digits(k)) for k in known):
            return False
        self._crashes_in_a_row = 0
        if self._console_mode is None:
            self._set_state(BootState.RECOVERY_MENU)
        else:
            self._load_windows(self._context.clock.elapsed())
        return True

    # --- setup for scenarios -------------------------------------------------------------

    def crash(self, *, at: float | None = None, restart_after: float | None = None) -> None:
        """Bugchecks the host at lab offset `at` (default now; may be before the lab started)
        and boots it again `restart_after` lab seconds later (default: the profile's)."""
        when = self._context.clock.elapsed() if at is None else at
        self._crash(when, restart_after=restart_after)

    def stop_at_bitlocker_recovery(self, *, crashes: int, at: float | None = None) -> None:
        """Puts the host where a crash loop left it: on the BitLocker recovery screen, its
        last crash (at lab offset `at`, default now) still to be logged by the next boot."""
        when = self._context.clock.elapsed() if at is None else at
        code = self.profile.bugcheck_code
        self._pending_crash = bugcheck(self.machine, code=code, at=self._at(when), rng=self._rng)
        self._go_down()
        self._crashes += crashes
        self._crashes_in_a_row += crashes
        self._set_state(BootState.BITLOCKER_RECOVERY)

    # --- the boot cycle ------------------------------------------------------------------

    def _crash(self, at: float, *, restart_after: float | None = None) -> None:
        code = self.profile.bugcheck_code
        self._pending_crash = bugcheck(self.machine, code=code, at=self._at(at), rng=self._rng)
        self._crashes += 1
        self._crashes_in_a_row += 1
        if self._crashes % MINIDUMPS_KEPT == 0:
            trim_minidumps(self.machine)
        self._go_down()
        self._set_state(BootState.CRASHED)
        delay = self.profile.crash_restart_seconds if restart_after is None else restart_after
        self._schedule(at + delay, self._begin_boot)

    def _planned_stop(self, at: float, *, restart: bool) -> None:
        write_clean_stop(self.machine, at=self._at(at))
        self._go_down()
        if restart:
            self._begin_boot(at)
        else:
            self._set_state(BootState.DOWN)

    def _console_restart(self, at: float) -> None:
        reason = "Restart from the console"
        write_planned_restart(
            self.machine, at=self._at(at), reason=reason, user=self._operator, restart=True
        )
        self._planned_stop(at, restart=True)

    @property
    def _operator(self) -> str:
        # Every lab command runs as the local Administrator, the only account the lab has.
        return f"{self.machine.hostname}\\Administrator"

    def _begin_boot(self, at: float) -> None:
        limit = self.profile.recovery_menu_after
        if self._bitlocker_recovery_due():
            self._set_state(BootState.BITLOCKER_RECOVERY)
        elif limit is not None and self._crashes_in_a_row >= limit:
            self._set_state(BootState.RECOVERY_MENU)
        else:
            self._load_windows(at)

    def _load_windows(self, at: float) -> None:
        self._set_state(BootState.BOOTING)
        self._schedule(at + self.profile.boot_seconds, self._finish_boot)

    def _bitlocker_recovery_due(self) -> bool:
        limit = self.profile.bitlocker_recovery_after
        if limit is None or self._crashes_in_a_row < limit:
            return False
        volume = self.machine.volume("C:")
        # A suspended volume (Suspend-BitLocker -RebootCount n) boots without the screen.
        return volume is not None and volume.protection_status is ProtectionStatus.ON

    def _finish_boot(self, at: float) -> None:
        mode = self._console_mode or _bcd_mode(self.machine)
        self._console_mode = None
        when = self._at(at)
        crashing = will_crash(self.machine, mode)
        if crashing and self._rng.random() < self.profile.heal_chance:
            heal(self.machine, at=when)
            self._heals += 1
            crashing = False
        self.machine.apply_boot(mode, at=when)
        write_boot_events(
            self.machine, at=when, boot_seconds=self.profile.boot_seconds, crash=self._pending_crash
        )
        self._pending_crash = None
        self._last_boot = at
        if not crashing:
            self._crashes_in_a_row = 0
            self._set_state(BootState.UP)
        elif self._rng.random() < self.profile.window_chance:
            # The network came up before csagent parsed the content: a few seconds to reach it.
            self._set_state(BootState.UP)
            self._schedule(at + self.profile.window_seconds, self._crash)
        else:
            self._crash(at)

    def _go_down(self) -> None:
        self._generation += 1

    def _set_state(self, state: BootState) -> None:
        self._state = state
        self._token += 1
        self._power_request_pending = False
        self._context.notify(self)

    def _schedule(self, at: float, step: Callable[[float], None]) -> None:
        token = self._token

        def fire(due: float) -> None:
            if self._token == token:
                step(due)

        self._context.scheduler.call_at(at, fire)

    def _at(self, lab_offset: float) -> datetime:
        return self._context.clock.at(lab_offset)

    def _require_up(self) -> None:
        if self._state is not BootState.UP:
            raise HostDownError(f"{self._name} is {self._state}, not up")

    def _record(
        self,
        transport: str | None,
        command: str,
        exit_code: int,
        generation: int,
        *,
        stdin: bytes = b"",
        stdout: bytes = b"",
    ) -> None:
        at = self._context.clock.now()
        self._received += 1
        self._history.append(
            CommandRecord(
                at,
                transport,
                command,
                exit_code,
                generation,
                stdin.decode("utf-8", errors="replace"),
                stdout.decode("utf-8", errors="replace"),
            )
        )


def _bcd_mode(machine: Machine) -> BootMode:
    safeboot = (machine.bcd.safeboot or "").lower()
    if safeboot == "network":
        return BootMode.SAFE_NETWORK
    if safeboot == "minimal":
        return BootMode.SAFE_MINIMAL
    return BootMode.NORMAL


def _digits(text: str) -> bytes:
    return "".join(c for c in text if c.isdigit()).encode()


def _describe_pipeline(commands: Sequence[PipelineCommand]) -> str:
    parts = []
    for command in commands:
        parts.append(" ".join([command.name, *(f"-{name}" for name in command.parameters)]))
    return " | ".join(parts)
