"""Calls into the host that also say which transport carried them.

`SimHost.execute` and `run_pipeline` take no transport label, but `LabHost` accepts an extra
`transport=` keyword and records it in the command history, so `lab inspect` can tell WinRS
from PSRP from SSH. Hosts that do not take the keyword (test doubles) are called without it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, Protocol, cast

from fleetfix.lab.api import Completed, PipelineCommand, PipelineResult, SimHost


class _RecordsTransport(Protocol):
    def execute(
        self, command_line: str, *, stdin: bytes = b"", codepage: int = 437, transport: str | None
    ) -> Completed: ...

    def run_pipeline(
        self,
        commands: Sequence[PipelineCommand],
        *,
        input_objects: Sequence[Any] = (),
        transport: str | None,
    ) -> PipelineResult: ...


@functools.cache
def _takes_transport(host_type: type) -> bool:
    execute = getattr(host_type, "execute", None)
    return execute is not None and "transport" in inspect.signature(execute).parameters


def execute(
    host: SimHost, command_line: str, *, stdin: bytes, codepage: int, transport: str
) -> Completed:
    if _takes_transport(type(host)):
        recording = cast(_RecordsTransport, host)
        return recording.execute(command_line, stdin=stdin, codepage=codepage, transport=transport)
    return host.execute(command_line, stdin=stdin, codepage=codepage)


def run_pipeline(
    host: SimHost,
    commands: Sequence[PipelineCommand],
    *,
    input_objects: Sequence[Any],
    transport: str,
) -> PipelineResult:
    if _takes_transport(type(host)):
        recording = cast(_RecordsTransport, host)
        return recording.run_pipeline(commands, input_objects=input_objects, transport=transport)
    return host.run_pipeline(commands, input_objects=input_objects)
