"""The state of one PowerShell run: variables by scope, functions, streams, lab time used."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetfix.lab.shell.ps.values import ErrorRecord

if TYPE_CHECKING:
    import tree_sitter

    from fleetfix.lab.machine import Machine


class ControlFlow(Exception):  # noqa: N818 - break/return/exit are control flow, not errors
    """Unwinds the interpreter's Python stack for break, continue, return and exit."""


class BreakFlow(ControlFlow):
    pass


class ContinueFlow(ControlFlow):
    pass


class ReturnFlow(ControlFlow):
    pass


class ExitFlow(ControlFlow):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class FunctionDef:
    name: str
    body: tree_sitter.Node  # script_block; nodes carry their own source text
    # `function F([string]$x, $y = 2) {}`: the parenthesised list, bound like a param block.
    parameters: tree_sitter.Node | None = None


_AUTOMATIC: dict[str, Any] = {"null": None, "true": True, "false": False}


def _version_table(machine: Machine) -> Any:
    # Imported here: values has no reason to know sessions, and this keeps the import one-way.
    from fleetfix.lab.shell.ps.values import Hashtable, PSObject

    build = machine.os.build_number
    version = PSObject(
        {"Major": 5, "Minor": 1, "Build": int(build), "Revision": 2582},
        type_name="System.Version",
        text=f"5.1.{build}.2582",
    )
    return Hashtable(
        {
            "PSVersion": version,
            "PSEdition": "Desktop",
            "CLRVersion": "4.0.30319.42000",
            "BuildVersion": f"10.0.{build}.2582",
            "PSRemotingProtocolVersion": "2.3",
        }
    )


@dataclass(slots=True)
class StreamItem:
    """Something for the console in the order it happened: text for stdout, or a record for
    one of the other streams."""

    stream: str  # "output" (already formatted text), "error", "warning", "verbose"
    text: str = ""
    record: ErrorRecord | None = None
    # In a PSRP pipeline: how many output objects were written before this record.
    output_before: int = 0


@dataclass(slots=True)
class Session:
    machine: Machine
    scopes: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    functions: dict[str, FunctionDef] = field(default_factory=dict)
    streams: list[StreamItem] = field(default_factory=list)
    error_history: list[ErrorRecord] = field(default_factory=list)
    last_succeeded: bool = True  # $?
    statement_failed: bool = False
    strict: bool = (
        False  # Set-StrictMode -Version Latest  # whether the running statement has failed so far
    )
    # Formats objects for the console; set by the host so this module needs no formatter.
    formatter: Callable[[list[Any]], str] | None = None
    # The console's output code page: what stdout bytes are encoded in from here on.
    output_codepage: int = 437
    # Where a PSRP pipeline's last step writes its output, so that an error record knows its
    # place among the output objects.
    pipeline_output: list[Any] | None = None
    # Where the machine's command time stood when this session began: a powershell.exe a
    # script starts begins where its caller has got to.
    _started_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._started_at = self.machine.command_seconds
        globals_ = self.scopes[0]
        globals_.setdefault("erroractionpreference", "Continue")
        globals_.setdefault("warningpreference", "Continue")
        globals_.setdefault("verbosepreference", "SilentlyContinue")
        globals_.setdefault("debugpreference", "SilentlyContinue")
        globals_.setdefault("informationpreference", "SilentlyContinue")
        globals_.setdefault("progresspreference", "Continue")
        globals_.setdefault("lastexitcode", 0)
        globals_.setdefault("pshome", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0")
        globals_.setdefault("pid", 4242)
        globals_.setdefault("psversiontable", _version_table(self.machine))

    @property
    def lab_seconds(self) -> float:
        """Lab time this session has used (Start-Sleep, slow commands). Kept on the machine
        while it runs, so that everything there (the SCM, file times) sees the same now."""
        return self.machine.command_seconds - self._started_at

    @lab_seconds.setter
    def lab_seconds(self, value: float) -> None:
        self.machine.command_seconds = self._started_at + value

    def finish(self) -> None:
        """Gives the machine's clock back to where this session began: the caller counts
        `lab_seconds` itself, as the reply's delay or as the duration of the program that
        ran this session, and must not see it twice."""
        self.machine.command_seconds = self._started_at

    def now(self) -> datetime:
        """Lab time as the script sees it: the lab clock plus the time it has slept."""
        return self.machine.now()

    def get_variable(self, name: str) -> tuple[bool, Any]:
        key = name.lower()
        if key in _AUTOMATIC:
            return True, _AUTOMATIC[key]
        if key == "?":
            return True, self.last_succeeded
        if key == "error":
            return True, list(reversed(self.error_history))
        if key.startswith("env:"):
            return self._environment(name[4:])
        for scope in reversed(self.scopes):
            if key in scope:
                return True, scope[key]
        return False, None

    def _environment(self, name: str) -> tuple[bool, Any]:
        for key, value in self.machine.environment.items():
            if key.lower() == name.lower():
                return True, value
        return False, None

    def set_variable(self, name: str, value: Any) -> None:
        key = name.lower()
        for prefix in ("global:", "script:", "local:"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
                if prefix == "global:":
                    self.scopes[0][key] = value
                    return
        if key.startswith("env:"):
            self._set_environment(name[4:], value)
            return
        if key == "null":
            return
        self.scopes[-1][key] = value

    def _set_environment(self, name: str, value: Any) -> None:
        for key in list(self.machine.environment):
            if key.lower() == name.lower():
                del self.machine.environment[key]
        if value is not None and value != "":
            self.machine.environment[name] = str(value)

    def push_scope(self, variables: dict[str, Any] | None = None) -> None:
        self.scopes.append({k.lower(): v for k, v in (variables or {}).items()})

    def pop_scope(self) -> None:
        self.scopes.pop()

    @contextlib.contextmanager
    def bound(self, variables: dict[str, Any]) -> Iterator[None]:
        """Sets automatic variables ($_) in the current scope for a while: catch blocks,
        switch clauses and ForEach-Object blocks run in their caller's scope, so their
        assignments must stay visible after them."""
        scope = self.scopes[-1]
        keys = [k.lower() for k in variables]
        saved = {k: scope[k] for k in keys if k in scope}
        scope.update({k.lower(): v for k, v in variables.items()})
        try:
            yield
        finally:
            for key in keys:
                if key in saved:
                    scope[key] = saved[key]
                else:
                    scope.pop(key, None)

    def preference(self, name: str) -> str:
        found, value = self.get_variable(name)
        return str(value) if found and value is not None else "Continue"

    def mark_failed(self) -> None:
        self.last_succeeded = False
        self.statement_failed = True

    def write_error(self, record: ErrorRecord) -> None:
        self.error_history.append(record)
        self.streams.append(StreamItem("error", record=record, output_before=self._written()))

    def write_message(self, stream: str, text: str) -> None:
        """A warning, verbose or debug line."""
        self.streams.append(StreamItem(stream, text=text, output_before=self._written()))

    def _written(self) -> int:
        return len(self.pipeline_output) if self.pipeline_output is not None else 0

    def set_output_codepage(self, codepage: int) -> None:
        """[Console]::OutputEncoding = ... or a child's `chcp`: later output is encoded in
        `codepage`; what is already written keeps the code page it was written in."""
        self.output_codepage = codepage
        self.streams.append(StreamItem("codepage", text=str(codepage)))

    def write_text(self, text: str) -> None:
        self.streams.append(StreamItem("output", text=text))

    def write_warning(self, text: str) -> None:
        self.write_message("warning", text)
