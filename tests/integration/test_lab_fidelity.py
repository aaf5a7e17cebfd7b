"""The lab answers like Windows: recorded WinRM requests (pypsrp's test transcripts from
real Windows hosts) are replayed against the lab, and the lab's answers must carry the
same a:Action URIs (relating to the request's MessageID), element names, namespaces,
selectors, stream layout, command states, PSRP messages and fault codes as the recorded
answers."""

from __future__ import annotations

import asyncio
import base64
import re
import xml.etree.ElementTree as ET
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from psrpcore.types import PSRPMessageType

from tests.integration.wsman_helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    PASSWORD,
    USER,
    listening,
    serving,
)

pytestmark = pytest.mark.integration

RECORDINGS = Path("/work/shared/data/windows-winrm-transcripts")
_ID = re.compile(r"<rsp:(?:ShellId|CommandId)>([0-9A-Fa-f-]{36})</rsp:(?:ShellId|CommandId)>")
_SHELL = "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}"
_FAULT = "{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}"
_SOAP = "{http://www.w3.org/2003/05/soap-envelope}"
_ADDRESSING = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"


def _messages(name: str) -> list[dict[str, str]]:
    loaded: dict[str, Any] = yaml.safe_load((RECORDINGS / name).read_text())
    return list(loaded["messages"])


def _shape(xml: str) -> list[tuple[str, tuple[str, ...], str]]:
    """Every distinct element (namespace + name), its attribute names, and the selector or
    stream name it carries, in document order."""
    seen: list[tuple[str, tuple[str, ...], str]] = []
    for element in ET.fromstring(xml).iter():  # noqa: S314  # recorded/loopback XML only
        # ActivityId is Windows' optional tracing header; message IDs differ by nature.
        if element.tag.endswith(("}MessageID", "}RelatesTo", "}ActivityId")):
            continue
        entry = (element.tag, tuple(sorted(element.attrib)), element.get("Name", ""))
        if entry not in seen:
            seen.append(entry)
    return seen


def _layout(xml: str) -> list[tuple[str, bool]]:
    """Streams as (name, End="true"), consecutive data chunks collapsed."""
    layout: list[tuple[str, bool]] = []
    for stream in ET.fromstring(xml).iter(f"{_SHELL}Stream"):  # noqa: S314  # see above
        entry = (stream.get("Name", ""), stream.get("End") == "true")
        if not layout or layout[-1] != entry:
            layout.append(entry)
    return layout


def _state(xml: str) -> tuple[str | None, str | None]:
    state = ET.fromstring(xml).find(f".//{_SHELL}CommandState")  # noqa: S314  # see above
    if state is None:
        return None, None
    return state.get("State"), state.findtext(f"{_SHELL}ExitCode")


def _fault(xml: str) -> tuple[str | None, str | None, str | None]:
    root = ET.fromstring(xml)  # noqa: S314  # see above
    detail = root.find(f".//{_FAULT}WSManFault")
    subcode = root.findtext(f".//{_SOAP}Subcode/{_SOAP}Value")
    message = root.findtext(f".//{_FAULT}Message")
    return subcode, None if detail is None else detail.get("Code"), message


def _psrp_messages(xml: str) -> list[tuple[int, str]]:
    """PSRP messages carried in a Receive's streams: (type, XML). Each fragment: object ID
    (8), fragment ID (8), flags (1, bit 0 = start, bit 1 = end), length (4, big-endian),
    data; a message is destination (4), type (4, little-endian), runspace pool and pipeline
    IDs (16 each), then its XML (after a byte order mark)."""
    data = b"".join(
        base64.b64decode(stream.text or "")
        for stream in ET.fromstring(xml).iter(f"{_SHELL}Stream")  # noqa: S314  # see above
    )
    messages: list[tuple[int, str]] = []
    pending = b""
    while data:
        flags, length = data[16], int.from_bytes(data[17:21], "big")
        pending = (b"" if flags & 1 else pending) + data[21 : 21 + length]
        if flags & 2:
            message_type = int.from_bytes(pending[4:8], "little")
            messages.append((message_type, pending[40:].decode("utf-8-sig", "replace")))
        data = data[21 + length :]
    return messages


def _psrp_message_types(xml: str) -> list[int]:
    """The types of the PSRP messages in a Receive's streams, repeats collapsed."""
    types: list[int] = []
    for message_type, _ in _psrp_messages(xml):
        if not types or types[-1] != message_type:
            types.append(message_type)
    return types


def _header(xml: str, name: str) -> str | None:
    header = ET.fromstring(xml).find(f"{_SOAP}Header")  # noqa: S314  # see above
    return None if header is None else header.findtext(f"{_ADDRESSING}{name}")


@dataclass(frozen=True)
class Exchange:
    request: str  # what the lab was sent: the recorded request, IDs swapped for the lab's
    recorded: str  # Windows' answer to it
    ours: str  # the lab's answer


def _assert_addressed_like_windows(exchange: Exchange) -> None:
    """The same a:Action URI as Windows answered, relating to the request's MessageID."""
    assert _header(exchange.ours, "Action") == _header(exchange.recorded, "Action")
    assert _header(exchange.ours, "RelatesTo") == _header(exchange.request, "MessageID")


def _assert_like_windows(exchange: Exchange, *, streams: bool = True) -> None:
    _assert_addressed_like_windows(exchange)
    assert _shape(exchange.ours) == _shape(exchange.recorded)
    if streams:
        assert _layout(exchange.ours) == _layout(exchange.recorded)
        assert _state(exchange.ours) == _state(exchange.recorded)
    assert _fault(exchange.ours) == _fault(exchange.recorded)


class Replay:
    """Sends recorded requests to the lab, swapping recorded shell/command IDs for the
    lab's own as they are learned from its answers."""

    def __init__(self, url: str, *, user: str = USER, password: str = PASSWORD) -> None:
        self.url = url
        self.ids: dict[str, str] = {}
        self.session = requests.Session()
        self.session.auth = (user, password)

    def send(self, recorded_request: str, recorded_response: str, **swap: str) -> Exchange:
        request = recorded_request
        for old, new in {**self.ids, **swap}.items():
            request = request.replace(old, new)
        response = self.session.post(
            self.url,
            data=request.encode(),
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
            timeout=30,
        )
        answer = response.content.decode()
        for recorded, ours in zip(
            _ID.findall(recorded_response or ""), _ID.findall(answer), strict=False
        ):
            self.ids.setdefault(recorded, ours)
        return Exchange(request, recorded_response, answer)


# A step is a recorded message's index, or (index, extra text swaps for that request only).
Step = int | tuple[int, dict[str, str]]


def _replay(
    name: str, steps: list[Step], *, lab_host: bool = False, time_scale: float = 1000.0,
    **swap: str,
) -> list[Exchange]:  # fmt: skip
    """Replays the recording's requests at `steps` against a lab listener: a ScriptedHost,
    or with `lab_host` the real simulated host (commands really run on its machine)."""

    async def run() -> list[Exchange]:
        async with AsyncExitStack() as stack:
            if lab_host:
                served = await stack.enter_async_context(serving(time_scale=time_scale))
                replay = Replay(served.url(), user=ADMIN, password=ADMIN_PASSWORD)
            else:
                replay = Replay((await stack.enter_async_context(listening())).url())
            messages = _messages(name)
            exchanges: list[Exchange] = []
            for step in steps:
                index, extra = (step, {}) if isinstance(step, int) else step
                message = messages[index]
                exchange = await asyncio.to_thread(
                    replay.send, message["request"], message["response"], **swap, **extra
                )
                exchanges.append(exchange)
            return exchanges

    return asyncio.run(run())


def _pipeline_states(xml: str) -> list[tuple[int, str | None]]:
    """Each PipelineState message's state (4 Completed, 5 Failed) and, for a failure, the
    FullyQualifiedErrorId of the error record it carries."""
    states: list[tuple[int, str | None]] = []
    for message_type, text in _psrp_messages(xml):
        if message_type != PSRPMessageType.PipelineState.value:
            continue
        state = re.search(r'<I32 N="PipelineState">(\d+)</I32>', text)
        error_id = re.search(r'<S N="FullyQualifiedErrorId">([^<]*)</S>', text)
        states.append(
            (int(state.group(1)) if state else -1, error_id.group(1) if error_id else None)
        )
    return states


def _error_records(xml: str) -> list[tuple[str | None, str | None]]:
    """Each ErrorRecord message's FullyQualifiedErrorId and its text (ToString)."""
    records: list[tuple[str | None, str | None]] = []
    for message_type, text in _psrp_messages(xml):
        if message_type == PSRPMessageType.ErrorRecord.value:
            root = ET.fromstring(text)  # noqa: S314  # see above
            error_id = root.findtext(".//S[@N='FullyQualifiedErrorId']")
            records.append((error_id, root.findtext("ToString")))
    return records


# Streams the lab does not model: progress and information records.
_UNMODELLED = {PSRPMessageType.ProgressRecord.value, PSRPMessageType.InformationRecord.value}


def _modelled_types(xml: str) -> list[int]:
    return [t for t in _psrp_message_types(xml) if t not in _UNMODELLED]


@pytest.mark.parametrize("name", ["test_winrs_standard.yml", "test_winrs_stderr_rc.yml"])
def test_winrs_shell_lifecycle_matches_windows(name: str) -> None:
    for exchange in _replay(name, [0, 1, 2, 3, 4]):
        _assert_like_windows(exchange)


def test_winrs_input_sent_in_pieces_matches_windows() -> None:
    for exchange in _replay("test_winrs_send.yml", [0, 1, 2, 3, 4, 5, 6]):
        _assert_like_windows(exchange)


def test_winrs_operation_timeout_fault_matches_windows() -> None:
    messages = _messages("test_winrs_operation_timeout.yml")
    exchanges = _replay("test_winrs_operation_timeout.yml", [0, 1, 2], PT10S="PT1S")
    # The lab times out at the first Receive (index 2); Windows' recorded fault is index 3.
    timed_out = exchanges[2]
    _assert_like_windows(Exchange(timed_out.request, messages[3]["response"], timed_out.ours))
    for exchange in exchanges[:2]:
        _assert_like_windows(exchange)


def test_winrs_unknown_command_id_fault_matches_windows() -> None:
    for exchange in _replay("test_winrs_bad_cmd_id.yml", [0, 1, 2]):
        _assert_like_windows(exchange)


def test_psrp_runspace_pool_create_and_delete_match_windows() -> None:
    # The lab answers the pool's opening messages in one Receive where Windows used two,
    # so the second Receive (index 2) is not replayed: it would wait out OperationTimeout.
    exchanges = _replay("test_psrp_open_runspace.yml", [0, 1, 3])
    for exchange in exchanges:
        _assert_like_windows(exchange, streams=False)
    assert _layout(exchanges[1].ours) == _layout(exchanges[1].recorded)
    second_receive = _messages("test_psrp_open_runspace.yml")[2]["response"]
    recorded_types = _psrp_message_types(exchanges[1].recorded) + _psrp_message_types(
        second_receive
    )
    assert _psrp_message_types(exchanges[1].ours) == recorded_types


def test_psrp_pipeline_with_input_matches_windows() -> None:
    # Create, the pool's first Receive, Command, Send (input), the pipeline's Receive, Delete.
    # The script's begin and end blocks write debug lines around the input it passes on.
    exchanges = _replay("test_psrp_with_input.yml", [0, 1, 3, 4, 5, 6], lab_host=True)
    for exchange in exchanges:
        _assert_like_windows(exchange)
    pipeline = exchanges[4]
    assert _modelled_types(pipeline.ours) == _modelled_types(pipeline.recorded)


def test_psrp_get_of_a_shell_and_of_an_unknown_shell_id_match_windows() -> None:
    # pypsrp's RunspacePool.is_alive(): a WS-Transfer Get of the shell (index 3), then of a
    # shell that is gone (index 4, recorded after Windows dropped it; here an unknown ID).
    gone = {"6F1903CA-E06A-4A8B-BDFC-B44203149D55": "0B8C1B5E-5A4D-4E0F-9C2B-1D2E3F405162"}
    exchanges = _replay("test_psrp_is_alive_invalid_selectors.yml", [0, 1, 3, (4, gone)])
    for exchange in exchanges:
        _assert_like_windows(exchange, streams=False)
    assert _fault(exchanges[3].ours)[1] == "2150858843"


def test_psrp_receive_for_an_unknown_command_id_matches_windows() -> None:
    exchanges = _replay("test_psrp_receive_failure.yml", [0, 1, 3, 4])
    for exchange in exchanges:
        _assert_like_windows(exchange, streams=False)
    assert _fault(exchanges[2].ours)[1] == "2150858843"


def test_psrp_long_running_cmdlet_times_out_then_completes_like_windows() -> None:
    # Start-Sleep -Seconds 10 with OperationTimeout PT5S on Windows: two Receives time out,
    # the third brings the output. On the lab host 10 lab seconds last 2.5 real seconds and
    # the timeout is 1 s, so the same three Receives see the same three answers.
    steps: list[Step] = [0, 1, 3, 4, 5, 6, 7]
    exchanges = _replay(
        "test_psrp_long_running_cmdlet.yml", steps, lab_host=True, time_scale=4, PT5S="PT1S"
    )
    for exchange in exchanges:
        _assert_like_windows(exchange, streams=False)
    done = exchanges[5]
    assert _layout(done.ours) == _layout(done.recorded)
    assert _state(done.ours) == _state(done.recorded)
    assert _modelled_types(done.ours) == _modelled_types(done.recorded)
    assert next(text for _, text in _psrp_messages(done.ours)) == "<S>hi</S>"


def test_psrp_terminating_error_fails_the_pipeline_like_windows() -> None:
    # `$ErrorActionPreference = 'Stop'; ...; Write-Error error; ...`: Windows sends the
    # output before it and then the Failed state carrying the error, no ErrorRecord message.
    exchanges = _replay("test_psrp_error_failed.yml", [0, 1, 3, 4, 5], lab_host=True)
    for exchange in exchanges:
        _assert_like_windows(exchange, streams=False)
    pipeline = exchanges[3]
    assert _state(pipeline.ours) == _state(pipeline.recorded)
    assert _modelled_types(pipeline.ours) == _modelled_types(pipeline.recorded)
    assert _pipeline_states(pipeline.ours) == _pipeline_states(pipeline.recorded)
    assert _pipeline_states(pipeline.ours) == [
        (5, "Microsoft.PowerShell.Commands.WriteErrorException")
    ]


def test_psrp_non_terminating_error_is_a_record_and_the_pipeline_completes_like_windows() -> None:
    # Debug, verbose, error, output and warning records in the order the script wrote them
    # (Write-Error without -ErrorAction Stop writes a record), then the Completed state.
    exchanges = _replay("test_psrp_stream_output_invocation.yml", [0, 1, 3, 4, 5], lab_host=True)
    for exchange in exchanges:
        _assert_like_windows(exchange, streams=False)
    pipeline = exchanges[3]
    assert _state(pipeline.ours) == _state(pipeline.recorded)
    assert _modelled_types(pipeline.ours) == _modelled_types(pipeline.recorded)
    assert _pipeline_states(pipeline.ours) == _pipeline_states(pipeline.recorded) == [(4, None)]
    assert _error_records(pipeline.ours) == _error_records(pipeline.recorded)
    assert _error_records(pipeline.ours) == [
        ("Microsoft.PowerShell.Commands.WriteErrorException", "error stream")
    ]
