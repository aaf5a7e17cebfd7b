"""PowerShell Remoting (PSRP) over the WinRS shell messages, with psrpcore's server side.

psrpcore keeps the protocol state (fragments, capabilities, runspace pool and pipeline
states); this module moves its payloads in and out of WS-Man messages and runs each
pipeline on the host (`SimHost.run_pipeline`) once its input is complete.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import psrpcore
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    HostMethodIdentifier,
    NETException,
    PSInvocationState,
)

from fleetfix.lab.api import (
    PipelineCommand,
    PipelineError,
    PipelineMessage,
    PipelineResult,
    SimHost,
)
from fleetfix.lab.wsman import faults, hostcalls
from fleetfix.lab.wsman.soap import (
    ACTION_COMMAND,
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_RECEIVE,
    ACTION_SEND,
    ACTION_SIGNAL,
    NS_SHELL,
    WsmanRequest,
    envelope,
    tag,
)
from fleetfix.lab.wsman.winrs import STATE_DONE, ReceiveOptions, command_response

RESOURCE_POWERSHELL = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
NS_POWERSHELL = "http://schemas.microsoft.com/powershell"
SIGNAL_STOP = "http://schemas.microsoft.com/powershell/signal/crtl_c"  # sic, Windows' spelling
# Fragments per Stream element: well under the 150 KB envelope clients announce.
_FRAGMENT_BYTES = 32 * 1024


@dataclass(slots=True)
class LabPipeline:
    server: psrpcore.ServerPipeline
    input_objects: list[Any] = field(default_factory=list)
    input_done: bool = False
    ready_at: float | None = None  # loop time when the result may be released
    result: PipelineResult | None = None
    written: bool = False


@dataclass(slots=True)
class PsrpShell:
    shell_id: str
    pool: psrpcore.ServerRunspacePool
    owner: str = ""
    client_ip: str = ""
    # By WinRS CommandId; each LabPipeline's server knows the PSRP pipeline ID.
    pipelines: dict[uuid.UUID, LabPipeline] = field(default_factory=dict)
    # Outgoing payloads per target: None is the runspace pool itself.
    queues: dict[uuid.UUID | None, list[bytes]] = field(default_factory=dict)


class PsrpShells:
    """The runspace pools of one host; they outlive connections but not a reboot."""

    def __init__(self, host: SimHost) -> None:
        self._host = host
        self._shells: dict[str, PsrpShell] = {}

    def clear(self) -> None:
        self._shells.clear()

    def create(self, request: WsmanRequest, *, owner: str, client_ip: str, address: str) -> bytes:
        shell_element = request.body
        creation = (
            None if shell_element is None else shell_element.find(tag(NS_POWERSHELL, "creationXml"))
        )
        if shell_element is None or creation is None:
            raise faults.action_not_supported(request.action)
        shell_id = (shell_element.get("ShellId") or str(uuid.uuid4())).upper()
        shell = PsrpShell(shell_id, psrpcore.ServerRunspacePool(), owner, client_ip)
        self._shells[shell_id] = shell
        self._feed(shell, base64.b64decode(creation.text or ""), None)
        return envelope(
            f"{ACTION_CREATE}Response",
            request.message_id,
            _resource_created(shell_id, address) + _shell_xml(shell),
        )

    def describe(self, shell_id: str) -> str | None:
        """The shell as a WS-Transfer Get shows it (pypsrp's RunspacePool.is_alive), or None
        when there is no such shell."""
        shell = self._shells.get(shell_id.upper())
        if shell is None:
            return None
        return _shell_xml(
            shell,
            extra="<rsp:MemoryUsed>58MB</rsp:MemoryUsed><rsp:ChildProcesses>0</rsp:ChildProcesses>",
        )

    def _shell(self, request: WsmanRequest) -> PsrpShell:
        shell = self._shells.get(request.shell_id.upper())
        if shell is None:
            raise faults.unknown_shell_id(request.shell_id)
        return shell

    @staticmethod
    def _pipeline(shell: PsrpShell, command_id: str | None) -> LabPipeline:
        try:
            return shell.pipelines[uuid.UUID(command_id or "")]
        except (ValueError, KeyError):
            raise faults.unknown_command_id() from None

    def command(self, request: WsmanRequest) -> bytes:
        shell = self._shell(request)
        line = request.body
        if line is None or line.tag != tag(NS_SHELL, "CommandLine"):
            raise faults.action_not_supported(request.action)
        command_id = uuid.UUID(line.get("CommandId") or str(uuid.uuid4()))
        data = base64.b64decode(line.findtext(tag(NS_SHELL, "Arguments"), ""))
        pipeline_id = _message_pipeline_id(data) or command_id
        server = psrpcore.ServerPipeline(shell.pool, pipeline_id)
        shell.pipelines[command_id] = LabPipeline(server)
        self._feed(shell, data, pipeline_id)
        body = command_response(str(command_id).upper())
        return envelope(f"{ACTION_COMMAND}Response", request.message_id, body)

    def send(self, request: WsmanRequest) -> bytes:
        shell = self._shell(request)
        for stream in (
            request.body.iterfind(tag(NS_SHELL, "Stream")) if request.body is not None else ()
        ):
            command_id = stream.get("CommandId")
            pipeline_id = (
                self._pipeline(shell, command_id).server.pipeline_id if command_id else None
            )
            self._feed(shell, base64.b64decode(stream.text or ""), pipeline_id)
        return envelope(f"{ACTION_SEND}Response", request.message_id, "<rsp:SendResponse/>")

    def _feed(self, shell: PsrpShell, data: bytes, pipeline_id: uuid.UUID | None) -> None:
        shell.pool.receive_data(
            psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pipeline_id)
        )
        while (event := shell.pool.next_event()) is not None:
            _react(shell, event)
        _drain(shell)

    async def receive(self, request: WsmanRequest, options: ReceiveOptions) -> bytes:
        shell = self._shell(request)
        desired = (
            request.body.find(tag(NS_SHELL, "DesiredStream")) if request.body is not None else None
        )
        command_id = desired.get("CommandId") if desired is not None else None
        if command_id is None:
            return await self._receive_pool(shell, request, options)
        pipeline = self._pipeline(shell, command_id)
        await self._run_until_released(shell, pipeline, request, options)
        if options.slow_chunk_delay is not None:
            await asyncio.sleep(options.slow_chunk_delay)
        queue = shell.queues.setdefault(pipeline.server.pipeline_id, [])
        taken = _take(queue, slow=options.slow_chunk_delay is not None)
        finished = pipeline.written and not queue
        body = _streams(taken, str(pipeline.server.pipeline_id).upper())
        if finished:
            cid = str(pipeline.server.pipeline_id).upper()
            body += (
                f'<rsp:CommandState CommandId="{cid}" State="{STATE_DONE}">'
                "<rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>"
            )
        return envelope(
            f"{ACTION_RECEIVE}Response",
            request.message_id,
            f"<rsp:ReceiveResponse>{body}</rsp:ReceiveResponse>",
        )

    async def _receive_pool(
        self, shell: PsrpShell, request: WsmanRequest, options: ReceiveOptions
    ) -> bytes:
        queue = shell.queues.setdefault(None, [])
        if not queue:
            # Windows holds a Receive open until there is something to say; here nothing
            # new can arrive for the pool without a client message, so wait and time out.
            await asyncio.sleep(request.operation_timeout)
            raise faults.operation_timeout()
        if options.slow_chunk_delay is not None:
            await asyncio.sleep(options.slow_chunk_delay)
        body = _streams(_take(queue, slow=options.slow_chunk_delay is not None), None)
        return envelope(
            f"{ACTION_RECEIVE}Response",
            request.message_id,
            f"<rsp:ReceiveResponse>{body}</rsp:ReceiveResponse>",
        )

    async def _run_until_released(
        self,
        shell: PsrpShell,
        pipeline: LabPipeline,
        request: WsmanRequest,
        options: ReceiveOptions,
    ) -> None:
        loop = asyncio.get_running_loop()
        if pipeline.ready_at is None and pipeline.input_done:
            self._start(pipeline, options.to_real)
        if pipeline.ready_at is None:
            await asyncio.sleep(request.operation_timeout)
            raise faults.operation_timeout()
        wait = pipeline.ready_at - loop.time()
        if wait > 0:
            await asyncio.sleep(min(wait, request.operation_timeout))
            if loop.time() < pipeline.ready_at:
                raise faults.operation_timeout()
        if not pipeline.written:
            _write_result(pipeline)
            _drain(shell)

    def _start(self, pipeline: LabPipeline, to_real: Callable[[float], float]) -> None:
        metadata = pipeline.server.metadata
        commands = [_pipeline_command(command) for command in getattr(metadata, "commands", [])]
        # Windows sends no PipelineState for Running (the recordings show none); psrpcore's
        # start() would, so the state changes without the message.
        pipeline.server._change_state(PSInvocationState.Running, emit=False)
        pipeline.result = hostcalls.run_pipeline(
            self._host, commands, input_objects=tuple(pipeline.input_objects), transport="psrp"
        )
        pipeline.ready_at = asyncio.get_running_loop().time() + to_real(pipeline.result.duration)

    def signal(self, request: WsmanRequest) -> bytes:
        shell = self._shell(request)
        signal = request.body
        command_id = signal.get("CommandId") if signal is not None else None
        pipeline = self._pipeline(shell, command_id)
        code = signal.findtext(tag(NS_SHELL, "Code"), "") if signal is not None else ""
        if code.strip() == SIGNAL_STOP and pipeline.server.state == PSInvocationState.Running:
            pipeline.server.stop()
            _drain(shell)
        else:
            shell.pipelines = {k: v for k, v in shell.pipelines.items() if v is not pipeline}
            shell.pool.pipeline_table.pop(pipeline.server.pipeline_id, None)
        return envelope(f"{ACTION_SIGNAL}Response", request.message_id, "<rsp:SignalResponse/>")

    def delete(self, request: WsmanRequest) -> bytes:
        shell = self._shell(request)
        del self._shells[shell.shell_id]
        return envelope(f"{ACTION_DELETE}Response", request.message_id, "")


def _react(shell: PsrpShell, event: Any) -> None:
    """Answer what psrpcore leaves to the server: pipeline input and pool requests."""
    pipeline = next(
        (p for p in shell.pipelines.values() if p.server.pipeline_id == event.pipeline_id), None
    )
    if isinstance(event, psrpcore.CreatePipelineEvent) and pipeline is not None:
        pipeline.input_done = event.pipeline.no_input
    elif isinstance(event, psrpcore.PipelineInputEvent) and pipeline is not None:
        pipeline.input_objects.append(event.data)
    elif isinstance(event, psrpcore.EndOfPipelineInputEvent) and pipeline is not None:
        pipeline.input_done = True
    elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
        shell.pool.runspace_availability_response(event.ci, shell.pool.max_runspaces)
    elif isinstance(
        event,
        psrpcore.SetMaxRunspacesEvent
        | psrpcore.SetMinRunspacesEvent
        | psrpcore.ResetRunspaceStateEvent,
    ):
        shell.pool.runspace_availability_response(event.ci, True)


def _message_pipeline_id(data: bytes) -> uuid.UUID | None:
    """The pipeline ID inside the first PSRP message of a Command. Windows keys the pipeline
    by it, not by the WinRS CommandId, and older clients sent the two in different byte
    orders. Layout: a 21-byte fragment header, then destination, message type and the
    runspace pool ID before it, GUIDs in .NET (little-endian) byte order."""
    start = 21 + 4 + 4 + 16
    if len(data) < start + 16:
        return None
    pipeline_id = uuid.UUID(bytes_le=data[start : start + 16])
    return None if pipeline_id.int == 0 else pipeline_id


def _drain(shell: PsrpShell) -> None:
    while (payload := shell.pool.data_to_send(_FRAGMENT_BYTES)) is not None:
        shell.queues.setdefault(payload.pipeline_id, []).append(payload.data)


def _take(queue: list[bytes], *, slow: bool) -> list[bytes]:
    count = 1 if slow else len(queue)
    taken = queue[:count]
    del queue[:count]
    return taken


def _streams(payloads: list[bytes], command_id: str | None) -> str:
    attribute = f' CommandId="{command_id}"' if command_id else ""
    return "".join(
        f'<rsp:Stream Name="stdout"{attribute}>{base64.b64encode(data).decode()}</rsp:Stream>'
        for data in payloads
    )


def _pipeline_command(command: psrpcore.Command) -> PipelineCommand:
    named = {name: value for name, value in command.parameters if name is not None}
    positional = tuple(value for name, value in command.parameters if name is None)
    return PipelineCommand(
        name=str(command.command_text),
        is_script=bool(command.is_script),
        parameters=named,
        arguments=positional,
    )


def _write_result(pipeline: LabPipeline) -> None:
    result = pipeline.result
    assert result is not None  # _start() ran before
    server = pipeline.server
    written = 0
    for record in result.records:
        # Each record goes where it was written among the output, as Windows streams them.
        for value in result.output[written : record.after_output]:
            server.write_output(value)
        written = max(written, min(record.after_output, len(result.output)))
        _write_record(server, record)
    for value in result.output[written:]:
        server.write_output(value)
    if result.exit_code is not None and _client_has_host(server):
        # `exit N` reaches the client only as a SetShouldExit host call (the way Ansible's
        # psrp plugin reads a script's exit code); a client without a host never learns it.
        server.host_call(HostMethodIdentifier.SetShouldExit, [result.exit_code])
    if result.failure is not None:
        # A terminating error: the Failed state carries it (pypsrp adds it to streams.error
        # and sets had_errors); non-terminating records alone leave the pipeline Completed.
        # psrpcore has no public "fail" for a server pipeline; _change_state is what its
        # own complete() and stop() use to emit the PipelineState message.
        server._change_state(PSInvocationState.Failed, error=_error_record(result.failure))
    else:
        server.complete()
    pipeline.written = True


def _write_record(server: psrpcore.ServerPipeline, record: PipelineError | PipelineMessage) -> None:
    if isinstance(record, PipelineMessage):
        writers = {"warning": server.write_warning, "verbose": server.write_verbose}
        writers.get(record.stream, server.write_debug)(record.text)
        return
    error = _error_record(record)
    server.write_error(
        error.Exception,
        error.CategoryInfo,
        target_object=error.TargetObject,
        fully_qualified_error_id=error.FullyQualifiedErrorId,
    )


def _error_record(error: PipelineError) -> ErrorRecord:
    # 0x80131501 (COR_E_SYSTEM): what Windows sends for PowerShell's own exceptions.
    exception = NETException(Message=error.message, HResult=-2146233087)
    exception.PSObject.type_names = [
        *dict.fromkeys([error.exception_type, "System.SystemException", "System.Exception"]),
        "System.Object",
    ]
    category = ErrorCategory.__members__.get(error.category, ErrorCategory.NotSpecified)
    reason = error.exception_type.rpartition(".")[2]
    return ErrorRecord(
        Exception=exception,
        CategoryInfo=ErrorCategoryInfo(
            Category=category,
            Activity=error.activity or None,
            Reason=reason,
            TargetName=error.target or None,
            TargetType="String" if error.target else None,
        ),
        TargetObject=error.target or None,
        FullyQualifiedErrorId=error.fully_qualified_error_id,
    )


def _client_has_host(server: psrpcore.ServerPipeline) -> bool:
    metadata = server.metadata
    if metadata is None:  # not created yet: nobody to call
        return False
    pipeline_host = metadata.host
    if not pipeline_host.IsHostNull:
        return True
    pool_host = server.runspace_pool.host
    has_pool_host = pool_host is not None and not pool_host.IsHostNull
    return bool(pipeline_host.UseRunspaceHost and has_pool_host)


def _resource_created(shell_id: str, address: str) -> str:
    return (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{RESOURCE_POWERSHELL}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
        "</a:ReferenceParameters></x:ResourceCreated>"
    )


def _shell_xml(shell: PsrpShell, *, extra: str = "") -> str:
    return (
        f'<rsp:Shell xmlns:rsp="{NS_SHELL}"><rsp:ShellId>{shell.shell_id}</rsp:ShellId>'
        f"<rsp:ResourceUri>{RESOURCE_POWERSHELL}</rsp:ResourceUri>"
        f"<rsp:Owner>{escape(shell.owner)}</rsp:Owner>"
        f"<rsp:ClientIP>{escape(shell.client_ip)}</rsp:ClientIP>"
        "<rsp:ProcessId>4242</rsp:ProcessId><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
        "<rsp:InputStreams>stdin pr</rsp:InputStreams>"
        "<rsp:OutputStreams>stdout</rsp:OutputStreams><rsp:MaxIdleTimeOut>PT2147483.647S"
        "</rsp:MaxIdleTimeOut><rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>"
        "<rsp:CompressionMode>NoCompression</rsp:CompressionMode><rsp:ProfileLoaded>Yes"
        "</rsp:ProfileLoaded><rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode>"
        "<rsp:State>Connected</rsp:State><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
        f"<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>{extra}</rsp:Shell>"
    )
