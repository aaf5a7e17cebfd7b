"""What a remediation pack is, as the engine sees it: frozen values read from `pack.toml`.

A pack holds no Python: its behaviour lives in PowerShell scripts, and this module only says
which script runs when, with which flags. The flags (destructive, idempotent, reboots) are
what the engine needs for intents, retries and dry runs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fleetfix.errors import FleetfixError

#: The variable the transports' fixed prologue fills from the base64 JSON blob
#: (fleetfix/transports/script.py). Scripts read their parameters as `$Params.Name`;
#: `$FleetfixParams` holds the raw blob and is not meant for scripts.
PARAMS_VARIABLE = "Params"


class PackError(FleetfixError):
    """A pack that cannot be loaded or used: a bad manifest, a missing script, an unknown id.
    The message names the file and, where there is one, the key."""

    title = "remediation pack error"

    def __init__(self, message: str, *, file: Path | None = None, key: str | None = None) -> None:
        where = "" if file is None else f"{file}"
        if key is not None:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.key = key


class ParameterType(enum.StrEnum):
    """Types a pack parameter may have; each travels as its JSON counterpart."""

    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING_LIST = "string-list"


class Action(enum.StrEnum):
    """Built-in steps the engine performs itself: they watch the host rather than run on it."""

    REBOOT = "reboot"
    WAIT_FOR_BOOT = "wait-for-boot"
    WAIT_FOR_SAFE_MODE = "wait-for-safe-mode"


class StepKind(enum.StrEnum):
    SCRIPT = "script"  # a PowerShell script from the pack's folder
    ACTION = "action"  # one of `Action`
    # Another pack's steps, run in place (safe-mode-cycle's inner fix). The inner pack gets
    # the outer pack's values for the parameters both declare (`inner_parameters`), else its
    # own defaults.
    PACK = "pack"


ParameterValue = str | int | float | bool | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: ParameterType
    default: ParameterValue | None
    description: str = ""
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True, slots=True)
class Script:
    """A script of a pack. `text` is read when the pack loads, so a pack that was valid when
    loaded cannot change underneath a running wave."""

    path: Path
    text: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    kind: StepKind
    destructive: bool
    idempotent: bool
    reboots: bool
    timeout: float
    retries: int
    script: Script | None = None
    action: Action | None = None
    run_pack: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Escalation:
    """Where a host goes when this pack cannot fix it. `on` lists the `reason` values a
    script's JSON may carry that call for the escalation pack (e.g. "access_denied");
    any other failure escalates only if `on_any_failure`."""

    pack: str
    on: tuple[str, ...] = ()
    on_any_failure: bool = False


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    title: str
    version: str
    description: str
    folder: Path
    parameters: tuple[Parameter, ...]
    detect: Script
    steps: tuple[Step, ...]
    verify: Script | None
    escalation: Escalation | None
    builtin: bool = False

    @property
    def destructive(self) -> bool:
        return any(step.destructive for step in self.steps)

    @property
    def reboots(self) -> bool:
        return any(step.reboots for step in self.steps)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def scripts(self) -> tuple[Script, ...]:
        """Every script the pack runs, detect first."""
        found = [self.detect, *(s.script for s in self.steps if s.script is not None)]
        if self.verify is not None:
            found.append(self.verify)
        return tuple(found)

    def resolve_parameters(self, given: Mapping[str, object] | None = None) -> dict[str, object]:
        """Defaults overlaid with `given`, each value checked against its declared type.
        The result is what the transport serialises into the parameter blob."""
        given = dict(given or {})
        unknown = sorted(set(given) - {p.name for p in self.parameters})
        if unknown:
            raise PackError(f"unknown parameter(s) {', '.join(unknown)}", key=f"pack {self.id}")
        resolved: dict[str, object] = {}
        for parameter in self.parameters:
            value = given.get(parameter.name, parameter.default)
            if value is None:
                raise PackError(f"parameter {parameter.name} is required", key=f"pack {self.id}")
            resolved[parameter.name] = _as_json(coerce(parameter, value, where=self.id))
        return resolved


def coerce(parameter: Parameter, value: object, *, where: str) -> ParameterValue:
    """`value` as the parameter's type. Accepts the strings a command line gives ("5",
    "true", "a,b"), since `--param Name=value` is how operators set them."""
    try:
        return check_value(parameter, value)
    except ValueError as exc:
        raise PackError(f"parameter {parameter.name}: {exc}", key=where) from None


def check_value(parameter: Parameter, value: object) -> ParameterValue:
    """Like `coerce`, raising a plain ValueError for callers that add their own context."""
    try:
        result = _coerce(parameter.type, value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not of type {parameter.type}") from None
    if parameter.choices and result not in parameter.choices:
        raise ValueError(f"{result!r} is not one of {', '.join(parameter.choices)}")
    return result


def _coerce(kind: ParameterType, value: object) -> ParameterValue:
    if kind is ParameterType.BOOL:
        return _to_bool(value)
    if kind is ParameterType.STRING_LIST:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise TypeError(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(value)
    if kind is ParameterType.INT:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if kind is ParameterType.FLOAT:
        return float(value)
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise TypeError(value)


def _as_json(value: ParameterValue) -> object:
    return list(value) if isinstance(value, tuple) else value


def inner_parameters(inner: Pack, outer_resolved: Mapping[str, object]) -> dict[str, object]:
    """Parameters for a `run_pack` step's pack: the outer values of the names it declares."""
    shared = {name: value for name, value in outer_resolved.items() if inner.parameter(name)}
    return inner.resolve_parameters(shared)
