"""The one set of rules every inventory format goes through: names, addresses, ports,
transports and duplicates. Messages quote only the offending field, never a whole line,
because a line may carry a password next to the host name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from fleetfix.inventory.model import Entry, Rejection
from fleetfix.models import Host, Transport

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_IPV4_CHARACTERS = "0123456789."
_MAX_NAME = 253
# NetBIOS names (what Windows calls the computer name) stop at 15 characters; a longer first
# label is legal DNS but will not match the name Windows reports about itself.
_NETBIOS_MAX = 15
_SHOWN_MAX = 60

_TRANSPORT_WORDS = ", ".join(t.value for t in Transport)


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of validating one entry: a host, or the reason it was refused."""

    host: Host | None
    rejection: Rejection | None
    warnings: tuple[Rejection, ...] = ()


def shown(value: str) -> str:
    """A value quoted for a message, cut short so one bad cell cannot flood the terminal."""
    cut = value if len(value) <= _SHOWN_MAX else value[:_SHOWN_MAX] + "..."
    return repr(cut)


def parse_ip(text: str) -> str | None:
    """The canonical form of an IPv4/IPv6 address (brackets allowed), or None if it is not one."""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    # Most names are not addresses; ipaddress answers that slowly, by raising.
    if ":" not in candidate and candidate.strip(_IPV4_CHARACTERS):
        return None
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def hostname_problem(name: str) -> str | None:
    """Why `name` is not an RFC 1123 host name or FQDN, or None when it is one."""
    bare = name[:-1] if name.endswith(".") else name
    if not bare:
        return "is empty"
    if len(bare) > _MAX_NAME:
        return f"is {len(bare)} characters long; a host name has at most {_MAX_NAME}"
    for label in bare.split("."):
        if len(label) > 63:
            return f"has a label of {len(label)} characters; at most 63 are allowed"
        if _LABEL.fullmatch(label) is None:
            return (
                "is not a valid host name: use letters, digits and hyphens in dot-separated "
                "labels, no leading or trailing hyphen"
            )
    if _DOTTED_NUMBERS.fullmatch(bare):
        return "looks like an IPv4 address but is not a valid one"
    return None


def name_key(name: str) -> str:
    """How names compare for duplicates: DNS and Windows ignore case and a trailing dot."""
    return name.rstrip(".").lower()


def parse_port(text: str) -> int | str:
    """The port number, or the reason it is not one."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit():
        return f"port {shown(text)} is not a number; use 1-65535"
    if len(stripped) > 5:  # before int(): Python refuses to convert thousands of digits
        return f"port {shown(text)} is out of range; use 1-65535"
    port = int(stripped)
    if not 1 <= port <= 65535:
        return f"port {port} is out of range; use 1-65535"
    return port


def parse_transport(value: str | Transport | None) -> Transport | str:
    """The transport, forgiving case, `_` and spaces (`WinRM_HTTPS`), or the reason not."""
    if isinstance(value, Transport):
        return value
    if value is None or not value.strip():
        return Transport.AUTO
    word = re.sub(r"[\s_]+", "-", value.strip().lower())
    try:
        return Transport(word)
    except ValueError:
        return f"transport {shown(value)} is not one of {_TRANSPORT_WORDS}"


def check_entry(entry: Entry) -> Checked:
    """Validate one entry into a Host; the first problem found refuses it."""
    name = entry.name.strip()
    name_ip = parse_ip(name)
    if name_ip is None and (problem := hostname_problem(name)) is not None:
        return _refuse(entry, f"host name {shown(name)} {problem}")
    address, address_problem = _check_address(entry.address, fallback=name_ip)
    if address_problem is not None:
        return _refuse(entry, f"host {shown(name)}: {address_problem}")
    port: int | None = None
    if entry.port is not None:
        parsed = parse_port(entry.port)
        if isinstance(parsed, str):
            return _refuse(entry, f"host {shown(name)}: {parsed}")
        port = parsed
    transport = parse_transport(entry.transport)
    if not isinstance(transport, Transport):  # Transport is a StrEnum: test for it, not str
        return _refuse(entry, f"host {shown(name)}: {transport}")
    if name_ip is None:
        # `ws01.` (DNS's rooted form) is the computer `ws01`: stored under one name, so a
        # later export without the dot updates the same host instead of adding a second.
        name = name.rstrip(".")
    host = Host(name=name, address=address, port=port, transport=transport, tags=entry.tags)
    return Checked(host=host, rejection=None, warnings=_netbios_warning(entry, name, name_ip))


def _check_address(raw: str | None, *, fallback: str | None) -> tuple[str | None, str | None]:
    """(address to keep, None) or (None, why the address is refused)."""
    if raw is None or not raw.strip():
        return fallback, None
    text = raw.strip()
    ip = parse_ip(text)
    if ip is not None:
        return ip, None
    problem = hostname_problem(text)
    if problem is not None:
        return None, f"address {shown(text)} is neither an IP address nor a host name: it {problem}"
    return text, None


def _netbios_warning(entry: Entry, name: str, name_ip: str | None) -> tuple[Rejection, ...]:
    first_label = name.split(".", 1)[0]
    if name_ip is not None or len(first_label) <= _NETBIOS_MAX:
        return ()
    return (
        Rejection(
            entry.line,
            f"host name {shown(name)}: {shown(first_label)} is longer than the "
            f"{_NETBIOS_MAX} characters of a Windows computer (NetBIOS) name; check that it "
            "is the name the host knows itself by",
        ),
    )


def _refuse(entry: Entry, message: str) -> Checked:
    return Checked(host=None, rejection=Rejection(entry.line, message))


def duplicate_rejections(pairs: Iterable[tuple[Host, int | None]]) -> dict[int, Rejection]:
    """For hosts named twice (ignoring case), a rejection for each later one, by position.
    The first occurrence stays, so --skip-invalid keeps what the file meant first."""
    first_seen: dict[str, tuple[str, int | None]] = {}
    rejected: dict[int, Rejection] = {}
    for position, (host, line) in enumerate(pairs):
        key = name_key(host.name)
        if key not in first_seen:
            first_seen[key] = (host.name, line)
            continue
        first_name, first_line = first_seen[key]
        where = f"line {first_line}" if first_line is not None else "earlier in the file"
        rejected[position] = Rejection(
            line,
            f"duplicate host {shown(host.name)}: {shown(first_name)} is already on {where}; "
            "remove one of them",
        )
    return rejected
