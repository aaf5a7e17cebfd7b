"""What a cmdlet is (its parameters) and what it gets when called (a `Call`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from fleetfix.lab.shell.ps.values import ErrorRecord, PSRuntimeError, iterate, to_bool

if TYPE_CHECKING:
    from fleetfix.lab.machine import Machine
    from fleetfix.lab.shell.ps.interpreter import Interpreter
    from fleetfix.lab.shell.ps.session import Session

COMMON_PARAMETERS = ("ErrorAction", "WarningAction", "ErrorVariable", "OutVariable")
COMMON_SWITCHES = ("Verbose", "Debug", "WhatIf", "Confirm")


@dataclass(frozen=True, slots=True)
class Cmdlet:
    name: str
    run: Callable[[Call], None]
    # Parameters that take a value; the first `positional` of them also bind by position.
    parameters: tuple[str, ...] = ()
    positional: int = 0
    switches: tuple[str, ...] = ()
    # A parameter that collects every remaining positional argument (Write-Host a b c).
    rest: str | None = None
    aliases: tuple[str, ...] = ()

    def all_names(self) -> tuple[str, ...]:
        return (*self.parameters, *self.switches, *COMMON_PARAMETERS, *COMMON_SWITCHES)

    def is_switch(self, name: str) -> bool:
        return name in self.switches or name in COMMON_SWITCHES


_REGISTRY: dict[str, Cmdlet] = {}


def cmdlet(
    name: str,
    *,
    parameters: tuple[str, ...] = (),
    positional: int = 0,
    switches: tuple[str, ...] = (),
    rest: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable[[Callable[[Call], None]], Callable[[Call], None]]:
    def register(run: Callable[[Call], None]) -> Callable[[Call], None]:
        spec = Cmdlet(name, run, parameters, positional, switches, rest, aliases)
        for key in (name, *aliases):
            _REGISTRY[key.lower()] = spec
        return run

    return register


def find_cmdlet(name: str) -> Cmdlet | None:
    return _REGISTRY.get(name.lower())


@dataclass(slots=True)
class Call:
    interp: Interpreter
    cmdlet: Cmdlet
    params: dict[str, Any]
    input: list[Any]
    has_input: bool
    output: list[Any] = field(default_factory=list)
    failed: bool = False
    # "null" (2>$null), "output" (2>&1) or None: where this command's errors go.
    error_redirect: str | None = None

    @property
    def session(self) -> Session:
        return self.interp.session

    @property
    def machine(self) -> Machine:
        return self.interp.session.machine

    def has(self, name: str) -> bool:
        return name in self.params

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def switch(self, name: str) -> bool:
        return to_bool(self.params.get(name, False))

    def values(self, name: str) -> list[Any]:
        """A parameter as a list, or the pipeline input when the parameter is absent."""
        if name in self.params:
            return list(iterate(self.params[name]))
        return list(self.input)

    def emit(self, value: Any) -> None:
        self.output.append(value)

    def emit_all(self, values: Any) -> None:
        self.output.extend(iterate(values))

    def error_action(self) -> str:
        action = self.params.get("ErrorAction")
        if action is None:
            action = self.session.preference("ErrorActionPreference")
        return str(action).lower()

    def error(self, record: ErrorRecord) -> None:
        """A non-terminating error, handled as -ErrorAction / $ErrorActionPreference say."""
        self.failed = True
        self.session.mark_failed()
        record.command = record.command or self.cmdlet.name
        action = self.error_action()
        if action == "stop":
            raise PSRuntimeError(record, script_terminating=True)
        if action == "ignore":
            return
        if action == "silentlycontinue" or self.error_redirect == "null":
            self.session.error_history.append(record)
            return
        if self.error_redirect == "output":
            self.session.error_history.append(record)
            self.output.append(record)
            return
        self.interp.write_error(record)

    def fail(self, record: ErrorRecord) -> NoReturn:
        """A terminating error: ends the statement (or the script under Stop)."""
        record.command = record.command or self.cmdlet.name
        raise PSRuntimeError(record, script_terminating=self.error_action() == "stop")

    def warn(self, text: str) -> None:
        action = str(self.params.get("WarningAction", self.session.preference("WarningPreference")))
        if action.lower() in ("silentlycontinue", "ignore"):
            return
        if self.interp.at_top_level():
            self.interp.flush_console()
        self.session.write_warning(text)
