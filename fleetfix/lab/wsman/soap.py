"""WS-Management envelopes: reading requests, writing responses and faults as Windows does.

Responses are written as text in the exact prefix layout Windows uses (`s:`, `a:`, `w:`,
`rsp:`, `p:`), because client libraries and recorded transcripts are compared textually
more often than one would hope.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_WSMV = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ACTION_COMMAND = f"{NS_SHELL}/Command"
ACTION_RECEIVE = f"{NS_SHELL}/Receive"
ACTION_SEND = f"{NS_SHELL}/Send"
ACTION_SIGNAL = f"{NS_SHELL}/Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

_ENVELOPE_OPEN = (
    '<s:Envelope xml:lang="en-US" '
    f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="{NS_TRANSFER}" '
    f'xmlns:w="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}" xmlns:p="{NS_WSMV}">'
)
_FAULT_ENVELOPE_OPEN = (
    '<s:Envelope xml:lang="en-US" '
    f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="{NS_TRANSFER}" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    f'xmlns:w="{NS_WSMAN}" xmlns:p="{NS_WSMV}">'
)
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
# Windows' default when a client sends no OperationTimeout.
DEFAULT_OPERATION_TIMEOUT = 60.0


class MalformedRequestError(Exception):
    """The body is not a SOAP envelope the lab can read."""


def tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


@dataclass(frozen=True, slots=True)
class WsmanRequest:
    action: str
    message_id: str
    resource_uri: str
    selectors: Mapping[str, str]
    options: Mapping[str, str]
    operation_timeout: float
    body: ET.Element | None

    @property
    def shell_id(self) -> str:
        return self.selectors.get("ShellId", "")


def parse_duration(text: str) -> float | None:
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    parts = {key: float(value) if value else 0.0 for key, value in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_request(data: bytes) -> WsmanRequest:
    try:
        # The lab parses what its own loopback clients send; expat (>= 2.4.1, bundled with
        # Python 3.11) refuses entity-expansion bombs, so no defusedxml is needed here.
        root = ET.fromstring(data)  # noqa: S314  # see the comment above
    except ET.ParseError as exc:
        raise MalformedRequestError(f"not XML: {exc}") from exc
    header = root.find(tag(NS_SOAP, "Header"))
    body = root.find(tag(NS_SOAP, "Body"))
    if root.tag != tag(NS_SOAP, "Envelope") or header is None:
        raise MalformedRequestError("not a SOAP 1.2 envelope")
    timeout_text = header.findtext(tag(NS_WSMAN, "OperationTimeout"), "")
    return WsmanRequest(
        action=header.findtext(tag(NS_ADDRESSING, "Action"), "").strip(),
        message_id=header.findtext(tag(NS_ADDRESSING, "MessageID"), "").strip(),
        resource_uri=header.findtext(tag(NS_WSMAN, "ResourceURI"), "").strip(),
        selectors=_named_values(header, "SelectorSet", "Selector"),
        options=_named_values(header, "OptionSet", "Option"),
        operation_timeout=parse_duration(timeout_text) or DEFAULT_OPERATION_TIMEOUT,
        body=body[0] if body is not None and len(body) else None,
    )


def _named_values(header: ET.Element, set_name: str, item_name: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in header.iterfind(f"{tag(NS_WSMAN, set_name)}/{tag(NS_WSMAN, item_name)}"):
        values[item.get("Name", "")] = (item.text or "").strip()
    return values


def envelope(action: str, relates_to: str, body: str) -> bytes:
    """A response envelope answering the request whose MessageID is `relates_to`."""
    return (
        _ENVELOPE_OPEN
        + _header(action, relates_to)
        + (f"<s:Body>{body}</s:Body>" if body else "<s:Body></s:Body>")
        + "</s:Envelope>"
    ).encode("utf-8")


def _header(action: str, relates_to: str) -> str:
    return (
        f"<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>{ANONYMOUS}</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
    )


# Not frozen: Python sets __traceback__ and __cause__ on an exception while raising it.
@dataclass(eq=False)
class WsmanFaultError(Exception):
    """A WS-Management fault as Windows words it; raised by handlers, sent with HTTP 500."""

    code: str  # s:Sender or s:Receiver
    subcode: str  # w:TimedOut, w:InvalidSelectors ...
    reason: str
    wsman_code: int
    # The f:Message content: plain text, or Windows' nested ProviderFault (already XML).
    message_xml: str
    fault_detail: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def render(self, relates_to: str, machine: str) -> bytes:
        detail = f"<w:FaultDetail>{self.fault_detail}</w:FaultDetail>" if self.fault_detail else ""
        body = (
            f"<s:Fault><s:Code><s:Value>{self.code}</s:Value><s:Subcode><s:Value>"
            f"{self.subcode}</s:Value></s:Subcode></s:Code><s:Reason>"
            f'<s:Text xml:lang="en-US">{escape(self.reason)}</s:Text></s:Reason>'
            f"<s:Detail>{detail}<f:WSManFault xmlns:f={quoteattr(NS_FAULT)} "
            f'Code="{self.wsman_code}" Machine={quoteattr(machine)}>'
            f"<f:Message>{self.message_xml}</f:Message></f:WSManFault></s:Detail></s:Fault>"
        )
        return (
            _FAULT_ENVELOPE_OPEN
            + _header(ACTION_FAULT, relates_to)
            + f"<s:Body>{body}</s:Body></s:Envelope>"
        ).encode("utf-8")
