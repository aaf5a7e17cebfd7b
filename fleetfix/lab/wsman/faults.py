"""The WS-Management faults the lab answers, worded as Windows words them (taken from the
recorded transcripts in /work/shared/data/windows-winrm-transcripts), and the HTTP-level
faults an operator switches on per host."""

from __future__ import annotations

import random
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.wsman.soap import NS_FAULT, WsmanFaultError

_UNEXPECTED_SELECTORS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"
# Windows puts two spaces after this sentence; clients compare it, so the lab does too.
_TIMED_OUT = (
    "The WS-Management service cannot complete the operation within the time specified in "
    "OperationTimeout.  "
)
_INVALID_SELECTORS = (
    "The WS-Management service cannot process the request because the request contained "
    "invalid selectors for the resource. "
)
CODE_OPERATION_TIMEOUT = 2150858793
CODE_INVALID_SELECTORS = 2150858843
CODE_INVALID_ACTION = 2150858753


def operation_timeout() -> WsmanFaultError:
    return WsmanFaultError(
        code="s:Receiver",
        subcode="w:TimedOut",
        reason=_TIMED_OUT,
        wsman_code=CODE_OPERATION_TIMEOUT,
        message_xml=escape(_TIMED_OUT),
    )


def unknown_command_id() -> WsmanFaultError:
    return WsmanFaultError(
        code="s:Sender",
        subcode="w:InvalidSelectors",
        reason=_INVALID_SELECTORS,
        wsman_code=CODE_INVALID_SELECTORS,
        message_xml=(
            "The Windows Remote Shell received a request to perform an operation on a command "
            "identifier that does not exist. Either the command has completed execution or "
            "the client specified an invalid command identifier. "
        ),
        fault_detail=_UNEXPECTED_SELECTORS,
    )


def unknown_shell_id(shell_id: str) -> WsmanFaultError:
    return WsmanFaultError(
        code="s:Sender",
        subcode="w:InvalidSelectors",
        reason=_INVALID_SELECTORS,
        wsman_code=CODE_INVALID_SELECTORS,
        message_xml=escape(
            f"The request for the Windows Remote Shell with ShellId {shell_id} failed because "
            "the shell was not found on the server. Possible causes are: the specified ShellId "
            "is incorrect or the shell no longer exists on the server. Provide the correct "
            "ShellId or create a new shell and retry the operation. "
        ),
        fault_detail=_UNEXPECTED_SELECTORS,
    )


def shell_not_found(machine: str) -> WsmanFaultError:
    """What a WS-Transfer Get of a shell that does not exist answers (pypsrp's is_alive): the
    invalid-selectors fault, wrapped in the shell provider's own."""
    return WsmanFaultError(
        code="s:Sender",
        subcode="w:InvalidSelectors",
        reason=_INVALID_SELECTORS,
        wsman_code=CODE_INVALID_SELECTORS,
        message_xml=(
            '<f:ProviderFault provider="Shell provider" path="%systemroot%\\system32\\WsmSvc.dll">'
            f'<f:WSManFault xmlns:f="{NS_FAULT}" Code="{CODE_INVALID_SELECTORS}" '
            f"Machine={quoteattr(machine)}><f:Message>{escape(_INVALID_SELECTORS)}</f:Message>"
            "</f:WSManFault></f:ProviderFault>"
        ),
        fault_detail=_UNEXPECTED_SELECTORS,
    )


def action_not_supported(action: str) -> WsmanFaultError:
    text = (
        "The WS-Management service cannot process the request. The WS-Addressing action URI "
        f"is invalid. Check the documentation for information on how to construct an action "
        f"URI. Action: {action} "
    )
    return WsmanFaultError(
        code="s:Sender",
        subcode="a:ActionNotSupported",
        reason="The action is not supported by the service.",
        wsman_code=CODE_INVALID_ACTION,
        message_xml=escape(text),
    )


def internal_error() -> WsmanFaultError:
    """What the HTTP_500 fault answers: the service failed inside (E_FAIL)."""
    return WsmanFaultError(
        code="s:Receiver",
        subcode="w:InternalError",
        reason="Unspecified error ",
        wsman_code=2147500037,
        message_xml="Unspecified error ",
    )


def find(faults: Sequence[Fault], kind: FaultKind) -> Fault | None:
    return next((fault for fault in faults if fault.kind is kind), None)


def drops(faults: Sequence[Fault], rng: random.Random) -> bool:
    """True when a DROP fault says this request's connection is to be closed."""
    fault = find(faults, FaultKind.DROP)
    return fault is not None and rng.random() < fault.rate
