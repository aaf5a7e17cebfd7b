"""Running a PowerShell script the way powershell.exe does, and PSRP pipelines.

Exit codes (modelled on Windows PowerShell 5.1 with -Command / -EncodedCommand):
`exit N` gives N; an uncaught script-terminating error (throw, -ErrorAction Stop) gives 1;
otherwise 1 if the last statement failed ($? false, which includes a native program that
exited non-zero) and 0 if it succeeded. A script that does not parse gives 1 and runs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetfix.lab.machine import Machine

# Statements register themselves with the interpreter on import.
from fleetfix.lab.shell.ps import statements as _statements  # noqa: F401 - importing registers the statement handlers
from fleetfix.lab.shell.ps.blocks import named_blocks, run_named_blocks
from fleetfix.lab.shell.ps.cmdlets.base import Call, find_cmdlet
from fleetfix.lab.shell.ps.commands import Argument, bind, run_command
from fleetfix.lab.shell.ps.errors_text import clixml, render_error
from fleetfix.lab.shell.ps.formatting import format_for_console
from fleetfix.lab.shell.ps.interpreter import Interpreter
from fleetfix.lab.shell.ps.native import not_recognized
from fleetfix.lab.shell.ps.parser import parse
from fleetfix.lab.shell.ps.session import ControlFlow, ExitFlow, Session, StreamItem
from fleetfix.lab.shell.ps.values import ErrorRecord, PSRuntimeError
from fleetfix.lab.shell.ps.wire import from_wire


@dataclass(frozen=True, slots=True)
class ScriptRun:
    stdout: str
    stderr: str
    exit_code: int
    lab_seconds: float
    # Where [Console]::OutputEncoding changed the output code page: (stdout offset, code page).
    codepage_changes: tuple[tuple[int, int], ...] = ()


def new_interpreter(machine: Machine, *, codepage: int = 437) -> Interpreter:
    session = Session(machine, output_codepage=codepage)
    session.formatter = format_for_console
    interp = Interpreter(session)
    interp.run_command = run_command
    return interp


def run_script(
    machine: Machine, source: str, *, clixml_errors: bool, codepage: int = 437
) -> ScriptRun:
    interp = new_interpreter(machine, codepage=codepage)
    try:
        return _run_script(interp, source, clixml_errors=clixml_errors)
    finally:
        interp.session.finish()


def _run_script(interp: Interpreter, source: str, *, clixml_errors: bool) -> ScriptRun:
    session = interp.session
    exit_code: int | None = None
    try:
        interp.run_script(source)
    except ExitFlow as flow:
        exit_code = flow.code
    except ControlFlow:
        pass  # `return`, `break` or `continue` outside a function or loop ends the script
    except PSRuntimeError as error:
        if not error.reported:
            interp.write_error(error.record)
        exit_code = 1
    interp.flush_console()
    if exit_code is None:
        exit_code = 0 if session.last_succeeded else 1
    stdout, stderr, changes = _render(session, clixml_errors=clixml_errors)
    return ScriptRun(stdout, stderr, exit_code, session.lab_seconds, changes)


# Host-UI streams as the console labels them.
_PREFIXES = {"warning": "WARNING", "verbose": "VERBOSE", "debug": "DEBUG"}


def _render(
    session: Session, *, clixml_errors: bool
) -> tuple[str, str, tuple[tuple[int, int], ...]]:
    stdout: list[str] = []
    # (stdout offset, code page) where [Console]::OutputEncoding changed the output code page.
    changes: list[tuple[int, int]] = []
    stderr_plain: list[str] = []
    serialized: list[tuple[str, str]] = []
    for item in session.streams:
        if item.stream == "codepage":
            changes.append((sum(len(text) for text in stdout), int(item.text)))
        elif item.stream == "output":
            stdout.append(item.text)
        elif item.stream == "native_stderr":
            stderr_plain.append(item.text)
        elif item.stream in _PREFIXES:
            if clixml_errors:
                serialized.append((item.stream, item.text + "\r\n"))
            else:
                stdout.append(f"{_PREFIXES[item.stream]}: {item.text}\r\n")
        elif item.record is not None:
            text = render_error(item.record)
            if clixml_errors:
                serialized.append(("Error", text))
            else:
                stderr_plain.append(text)
    stderr = "".join(stderr_plain)
    if serialized:
        stderr += clixml(serialized)
    return "".join(stdout), stderr, tuple(changes)


@dataclass(frozen=True, slots=True)
class PipelineRun:
    output: list[Any]
    # What was written beside the output, in order, each knowing how many output objects
    # came before it: error records (non-terminating: the pipeline completes) and warning,
    # verbose and debug lines.
    records: list[StreamItem]
    # The terminating error (throw, -ErrorAction Stop, an unknown command) that ended it.
    failure: ErrorRecord | None
    lab_seconds: float
    # `exit N` in a PSRP script: Windows tells the client through a SetShouldExit host call.
    exit_code: int | None = None


# What a PSRP pipeline sends besides output and its final state.
_PIPELINE_STREAMS = frozenset({"error", "warning", "verbose", "debug"})


@dataclass(frozen=True, slots=True)
class PipelineStep:
    name: str
    is_script: bool
    parameters: Mapping[str, Any]
    arguments: Sequence[Any]


def run_steps(
    machine: Machine, steps: Sequence[PipelineStep], input_objects: Sequence[Any]
) -> PipelineRun:
    """A PSRP pipeline: each step is a script or a cmdlet with parameters given as objects.
    A terminating error ends it; what the failing step wrote before that is still output."""
    interp = new_interpreter(machine)
    try:
        return _run_steps(interp, steps, input_objects)
    finally:
        interp.session.finish()


def _run_steps(
    interp: Interpreter, steps: Sequence[PipelineStep], input_objects: Sequence[Any]
) -> PipelineRun:
    session = interp.session
    items = list(input_objects)
    failure: ErrorRecord | None = None
    exit_code: int | None = None
    try:
        with interp.capture():
            for index, step in enumerate(steps):
                produced: list[Any] = []
                try:
                    _run_step(interp, step, items, produced, last=index == len(steps) - 1)
                finally:
                    items = produced
    except ExitFlow as flow:
        exit_code = flow.code
    except ControlFlow:
        pass  # return or break outside a loop ends the pipeline
    except PSRuntimeError as error:
        # Windows sends a terminating error in the Failed state only, not as a record too.
        failure = error.record
    records = [
        item
        for item in session.streams
        if item.stream in _PIPELINE_STREAMS and (item.record is None or item.record is not failure)
    ]
    # `exit 1` alone is no error over PSRP: Windows reports it through SetShouldExit only.
    return PipelineRun(items, records, failure, session.lab_seconds, exit_code)


def _run_step(
    interp: Interpreter, step: PipelineStep, items: list[Any], out: list[Any], *, last: bool
) -> None:
    # Steps run one after another here, so a record written before the last step starts
    # comes before all of the pipeline's output.
    interp.session.pipeline_output = out if last else None
    if step.is_script:
        _run_script_step(interp, step, items, out, last=last)
        return
    spec = find_cmdlet(step.name)
    if spec is None:
        raise not_recognized(step.name)
    arguments = [Argument(k, from_wire(v)) for k, v in step.parameters.items()]
    arguments += [Argument(None, from_wire(v)) for v in step.arguments]
    call = Call(interp, spec, bind(spec, arguments), items, bool(items), output=out)
    spec.run(call)


def _run_script_step(
    interp: Interpreter, step: PipelineStep, items: list[Any], out: list[Any], *, last: bool
) -> None:
    script = parse(step.name)
    interp.session.push_scope({"input": items})
    try:
        with interp.capture() as sink:
            if last:
                interp.session.pipeline_output = sink
            try:
                for child in script.root.children:
                    if child.type == "param_block":
                        named = {k: from_wire(v) for k, v in step.parameters.items()}
                        positional = [from_wire(v) for v in step.arguments]
                        interp.bind_param_block(child, named, positional)
                    elif child.type == "statement_list":
                        blocks = named_blocks(child)
                        if blocks is None:
                            interp.run_statements(child)
                        else:
                            run_named_blocks(interp, blocks, items)
            finally:
                out.extend(sink)
    finally:
        interp.session.pop_scope()


__all__ = ["ErrorRecord", "PipelineRun", "PipelineStep", "ScriptRun", "run_script", "run_steps"]
