"""The seam between the lab's protocol servers and its simulated hosts.

Servers (WS-Man/WinRS, PSRP, SSH) hold a `SimHost` and never look inside it. A host is a
synchronous object driven from the lab's one event loop; anything slow is modelled with lab
time (see `LabClock`), never by blocking.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Service(enum.StrEnum):
    """Network services a simulated host can offer."""

    WINRM = "winrm"  # WS-Man on 5985 and 5986, which also carries PSRP
    SSH = "ssh"


class FaultKind(enum.StrEnum):
    """Faults an operator or a test can switch on per host or fleet-wide while the lab runs."""

    LATENCY = "latency"  # every response delayed by `seconds` (real seconds)
    REFUSE = "refuse"  # new connections refused (RST on connect)
    RESET = "reset"  # connection reset in the middle of a response
    BLACKHOLE = "blackhole"  # accepts the connection, never answers
    SLOW_OUTPUT = "slow_output"  # command output trickles out, `seconds` per chunk
    AUTH_FAIL = "auth_fail"  # every authentication fails with 401
    HTTP_500 = "http_500"  # WS-Man answers with an HTTP 500 fault
    DROP = "drop"  # each request dropped (connection closed) with probability `rate`


# Faults that mean nothing without a delay: with 0 seconds they would silently do nothing.
TIMED_FAULTS = frozenset({FaultKind.LATENCY, FaultKind.SLOW_OUTPUT})


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    seconds: float = 0.0
    rate: float = 1.0


@dataclass(frozen=True, slots=True)
class Completed:
    """What a command printed and how it ended. Bytes, because Windows output is not UTF-8
    unless the shell's codepage says so (65001)."""

    stdout: bytes
    stderr: bytes
    exit_code: int
    # How long the command runs in lab seconds; the server delivers the result only after
    # that much lab time has passed, which is how OperationTimeout faults arise.
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class PipelineCommand:
    """One command of a PSRP pipeline: a cmdlet with parameters, or a script."""

    name: str
    is_script: bool = False
    # Named parameters (name -> value) and positional arguments, as the client sent them:
    # values arrive as objects, never as code.
    parameters: Mapping[str, Any] = field(default_factory=dict)
    arguments: Sequence[Any] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class PipelineError:
    """One error record of a PSRP pipeline, in the terms Windows sends it."""

    message: str
    fully_qualified_error_id: str = "RuntimeException"
    category: str = "NotSpecified"  # an ErrorCategory name: ObjectNotFound, InvalidArgument...
    exception_type: str = "System.Management.Automation.RuntimeException"
    target: str = ""
    activity: str = ""  # the command that wrote it, e.g. Get-Item
    # How many output objects the pipeline had written before this record.
    after_output: int = 0


@dataclass(frozen=True, slots=True)
class PipelineMessage:
    """A warning, verbose or debug line a PSRP pipeline wrote."""

    stream: str  # "warning", "verbose" or "debug"
    text: str
    after_output: int = 0  # how many output objects the pipeline had written before it


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """PSRP output, and what the pipeline wrote beside it (`records`, in order).
    Non-terminating errors (`Get-Item C:\\missing`) are records and the pipeline still
    completes; a terminating one (`throw`, -ErrorAction Stop, an unknown command) ends it
    Failed and is the `failure`, as on Windows."""

    output: Sequence[Any]
    records: Sequence[PipelineError | PipelineMessage] = ()
    failure: PipelineError | None = None
    duration: float = 0.0
    # The code of an `exit N` that ended the script, else None. Over PSRP Windows reports it
    # only through the client host's SetShouldExit, never as an error.
    exit_code: int | None = None

    @property
    def errors(self) -> list[PipelineError]:
        """The non-terminating error records."""
        return [record for record in self.records if isinstance(record, PipelineError)]

    @property
    def had_errors(self) -> bool:
        """What pypsrp 0.9's `had_errors` says: the pipeline ended Failed."""
        return self.failure is not None


class SimHost(Protocol):
    """A simulated Windows host, as the protocol servers see it."""

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> str: ...

    @property
    def boot_generation(self) -> int:
        """Grows by one every time the host goes down; a server drops every connection made
        in an older generation, which is how a reboot or crash resets clients mid-command."""
        ...

    def is_listening(self, service: Service) -> bool:
        """True when the host is up and this service answers (safe mode: WinRM only if it is
        listed under SafeBoot\\Network; down, booting or on the recovery screen: nothing)."""
        ...

    def check_password(self, username: str, password: str) -> bool: ...

    def password_for(self, username: str) -> str | None:
        """The password of a local user, which NTLM's server side needs to verify a response."""
        ...

    def faults(self) -> Sequence[Fault]:
        """Faults in force for this host now (its own and fleet-wide ones)."""
        ...

    def execute(
        self,
        command_line: str,
        *,
        stdin: bytes = b"",
        codepage: int = 437,
        transport: str | None = None,
    ) -> Completed:
        """Run a command line as cmd.exe would (WinRS and SSH both start cmd.exe).
        Records it in the host's command history, with the transport that carried it."""
        ...

    def run_pipeline(
        self,
        commands: Sequence[PipelineCommand],
        *,
        input_objects: Sequence[Any] = (),
        transport: str | None = "psrp",
    ) -> PipelineResult:
        """Run a PSRP pipeline. Records it in the host's command history."""
        ...
