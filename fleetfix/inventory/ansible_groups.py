"""The part of Ansible's inventory model both the INI and the YAML formats share: groups with
hosts, vars and children; host ranges; variable precedence; and the mapping from Ansible's
connection variables to a fleetfix transport.

Groups (and the groups above them via `children`) become plain tags; other variables become
`key=value` tags, except secrets, which are dropped where they are declared and reported by
name only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from fleetfix.inventory.model import Entry, Parsed, Rejection
from fleetfix.inventory.tagging import is_secret_name, key_value_tag
from fleetfix.inventory.validate import shown
from fleetfix.models import Transport

# Groups every host is in; as tags they would say nothing.
IMPLICIT_GROUPS = frozenset({"all", "ungrouped"})

# A range like web[01:99] in a 200 MB file could ask for billions of names.
MAX_RANGE_HOSTS = 1_000_000

_RANGE = re.compile(r"\[([^\]]*)\]")
# Also keeps int() away from the thousands of digits it refuses to convert.
_RANGE_DIGITS = 9

# Connection variables fleetfix reads rather than keeping as tags (old ansible_ssh_* spellings
# included: inventories written for Ansible 1.x still use them).
_CONNECTION_VARS = frozenset(
    {
        "ansible_host",
        "ansible_ssh_host",
        "ansible_port",
        "ansible_ssh_port",
        "ansible_connection",
        "ansible_winrm_scheme",
        "ansible_psrp_protocol",
        "ansible_winrm_transport",
        "ansible_psrp_auth",
    }
)
# Ansible's WinRM/PSRP authentication names -> fleetfix's (`--auth`); kept as an `auth=` tag,
# which fleetfix reads per host the way it reads `credential=`.
_AUTH_NAMES = {
    "ntlm": "ntlm",
    "negotiate": "negotiate",
    "kerberos": "kerberos",
    "basic": "basic",
    "plaintext": "basic",  # pywinrm's old name for Basic
    "credssp": "credssp",
}
_SSH_CONNECTIONS = frozenset({"ssh", "paramiko", "paramiko_ssh"})


@dataclass(slots=True)
class GroupDecl:
    """A group as declared so far. Mutable because INI and YAML declare a group piecemeal."""

    name: str
    hosts: dict[str, None] = field(default_factory=dict)  # an ordered set
    children: list[str] = field(default_factory=list)
    vars: dict[str, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class HostDecl:
    name: str
    line: int | None
    vars: dict[str, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class SecretSeen:
    line: int | None
    count: int = 0


@dataclass(slots=True)
class InventoryTree:
    """Everything an Ansible inventory declares, in file order, before resolution."""

    groups: dict[str, GroupDecl] = field(default_factory=dict)
    hosts: dict[str, HostDecl] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)
    secrets: dict[str, SecretSeen] = field(default_factory=dict)

    def group(self, name: str) -> GroupDecl:
        return self.groups.setdefault(name, GroupDecl(name))

    def add_host(self, group: str, name: str, line: int | None) -> HostDecl:
        self.group(group).hosts[name] = None
        return self.hosts.setdefault(name, HostDecl(name, line))

    def add_child(self, parent: str, child: str) -> None:
        self.group(child)
        children = self.group(parent).children
        if child not in children:
            children.append(child)

    def set_var(
        self, target: dict[str, str | None], key: str, value: str | None, line: int | None
    ) -> None:
        """Store a variable unless its name marks a secret; then remember only where it was."""
        if is_secret_name(key):
            seen = self.secrets.setdefault(key, SecretSeen(line))
            seen.count += 1
            return
        target[key] = value

    def parsed(self) -> Parsed:
        entries: list[Entry] = []
        rejections = list(self.rejections)
        resolver = _Resolver(self)
        for host in self.hosts.values():
            outcome = resolver.resolve(host)
            if isinstance(outcome, Entry):
                entries.append(outcome)
            else:
                rejections.append(outcome)
        warnings = self.warnings + [_secret_warning(k, v) for k, v in self.secrets.items()]
        return Parsed(tuple(entries), tuple(rejections), tuple(warnings))


def _secret_warning(name: str, seen: SecretSeen) -> Rejection:
    times = "" if seen.count == 1 else f" ({seen.count} times; first here)"
    return Rejection(
        seen.line,
        f"variable {name[:60]!r} ignored{times}: fleetfix never imports passwords, keys or "
        "tokens from an inventory; give credentials when you run it",
    )


def expand_host_pattern(pattern: str) -> list[str] | str:
    """`web[01:03]` -> web01, web02, web03 (zero padding kept), `[a:c]` letters, `[1:9:2]`
    strides, several ranges per name; or the reason the pattern is not valid."""
    pieces = _RANGE.split(pattern)
    choices: list[list[str]] = []
    total = 1
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            if "[" in piece or "]" in piece:
                return f"host pattern {shown(pattern)} has an unbalanced bracket"
            choices.append([piece])
            continue
        expanded = _expand_range(piece)
        if isinstance(expanded, str):
            return f"host pattern {shown(pattern)}: {expanded}"
        total *= len(expanded)
        if total > MAX_RANGE_HOSTS:
            return f"host pattern {shown(pattern)} expands to more than {MAX_RANGE_HOSTS:,} hosts"
        choices.append(expanded)
    return ["".join(parts) for parts in itertools.product(*choices)]


def _expand_range(spec: str) -> list[str] | str:
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        return f"range [{spec[:20]}] must be [start:end] or [start:end:step]"
    begin, end = bounds[0].strip(), bounds[1].strip()
    step_text = bounds[2].strip() if len(bounds) == 3 else "1"
    if max(len(begin), len(end), len(step_text)) > _RANGE_DIGITS:
        return f"range [{spec[:20]}] has bounds too long to be host numbers"
    if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
        return f"range step {step_text[:20]!r} must be a whole number above 0"
    step = int(step_text)
    if begin.isascii() and begin.isdigit() and end.isascii() and end.isdigit():
        return _numeric_range(begin, end, step)
    letters = begin + end
    if len(letters) == 2 and letters.isascii() and letters.isalpha():
        if begin > end:
            return f"range [{begin}:{end}] runs backwards"
        return [chr(code) for code in range(ord(begin), ord(end) + 1, step)]
    return f"range [{spec[:20]}] must run between two numbers or two letters"


def _numeric_range(begin: str, end: str, step: int) -> list[str] | str:
    first, last = int(begin), int(end)
    if first > last:
        return f"range [{begin}:{end}] runs backwards"
    if (last - first) // step + 1 > MAX_RANGE_HOSTS:
        return f"range [{begin}:{end}] expands to more than {MAX_RANGE_HOSTS:,} hosts"
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    return [str(number).zfill(width) for number in range(first, last + 1, step)]


class _Resolver:
    """Works out each host's groups and variables; the group graph is walked once per
    inventory, not once per host, so 100,000-host files stay linear."""

    def __init__(self, tree: InventoryTree) -> None:
        self.tree = tree
        self.parents: dict[str, list[str]] = {name: [] for name in tree.groups}
        self.member_of: dict[str, list[str]] = {}
        for group in tree.groups.values():
            for child in group.children:
                self.parents[child].append(group.name)
            for host in group.hosts:
                self.member_of.setdefault(host, []).append(group.name)
        self.depths: dict[str, int] = {}
        self.closures: dict[tuple[str, ...], tuple[list[str], dict[str, str | None]]] = {}

    def resolve(self, host: HostDecl) -> Entry | Rejection:
        groups, group_vars = self._groups_and_vars(tuple(self.member_of.get(host.name, ())))
        merged = {**group_vars, **host.vars}
        transport = ansible_transport(merged)
        if not isinstance(transport, Transport):  # Transport is a StrEnum: test for it, not str
            return Rejection(host.line, f"host {shown(host.name)}: {transport}")
        auth = ansible_auth(merged)
        if auth is not None and not auth.startswith("auth="):
            return Rejection(host.line, f"host {shown(host.name)}: {auth}")
        tags = (
            tuple(groups)
            + tuple(
                key_value_tag(key, value)
                for key, value in sorted(merged.items())
                if key not in _CONNECTION_VARS and value is not None
            )
            + ((auth,) if auth else ())
        )
        return Entry(
            line=host.line,
            name=host.name,
            address=merged.get("ansible_host") or merged.get("ansible_ssh_host"),
            port=merged.get("ansible_port") or merged.get("ansible_ssh_port"),
            transport=transport,
            tags=tags,
        )

    def _groups_and_vars(self, direct: tuple[str, ...]) -> tuple[list[str], dict[str, str | None]]:
        """Tag-worthy groups and merged group vars; hosts in the same groups share the work."""
        if direct not in self.closures:
            groups = set(self._ancestors(direct)) | {"all"}
            merged: dict[str, str | None] = {}
            for name in sorted(groups, key=lambda g: (self._depth(g), g)):
                merged.update(self.tree.groups[name].vars if name in self.tree.groups else {})
            self.closures[direct] = (sorted(groups - IMPLICIT_GROUPS), merged)
        return self.closures[direct]

    def _ancestors(self, start: tuple[str, ...]) -> Iterator[str]:
        """Every group reachable upwards; `children` loops are possible in a bad file."""
        seen: set[str] = set()
        pending = list(start)
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            yield name
            pending.extend(self.parents.get(name, ()))

    def _depth(self, name: str) -> int:
        """How far below `all` a group sits (longest way up); deeper groups' vars win, as in
        Ansible. Iterative, because a file can nest groups deeper than Python's stack."""
        if name in self.depths:
            return self.depths[name]
        on_path: set[str] = set()
        stack: list[str] = [name]
        while stack:
            current = stack[-1]
            if current in self.depths:
                stack.pop()
                continue
            on_path.add(current)
            pending = [
                p
                for p in self.parents.get(current, ())
                if p not in self.depths and p not in on_path
            ]
            if pending:
                stack.extend(pending)
                continue
            known = [self.depths[p] for p in self.parents.get(current, ()) if p in self.depths]
            self.depths[current] = 0 if current == "all" else 1 + max(known, default=0)
            on_path.discard(current)
            stack.pop()
        return self.depths[name]


def ansible_transport(variables: dict[str, str | None]) -> Transport | str:
    """The transport Ansible would use, with Ansible's own defaults: the winrm and psrp
    plugins choose https unless told http or given port 5985."""
    connection = (variables.get("ansible_connection") or "").strip().lower()
    connection = connection.removeprefix("ansible.builtin.").removeprefix("ansible.windows.")
    port = (variables.get("ansible_port") or variables.get("ansible_ssh_port") or "").strip()
    default_scheme = "http" if port == "5985" else "https"
    if not connection:
        return Transport.AUTO
    if connection in _SSH_CONNECTIONS:
        return Transport.SSH
    if connection == "winrm":
        scheme = (variables.get("ansible_winrm_scheme") or default_scheme).strip().lower()
        return _by_scheme(scheme, Transport.WINRM, Transport.WINRM_HTTPS, "ansible_winrm_scheme")
    if connection == "psrp":
        scheme = (variables.get("ansible_psrp_protocol") or default_scheme).strip().lower()
        return _by_scheme(scheme, Transport.PSRP, Transport.PSRP_HTTPS, "ansible_psrp_protocol")
    return (
        f"ansible_connection={connection[:40]!r} is not a connection fleetfix can use; "
        "use winrm, psrp or ssh (or remove it to let fleetfix probe)"
    )


def ansible_auth(variables: dict[str, str | None]) -> str | None:
    """`auth=NAME` for the host's ansible_winrm_transport / ansible_psrp_auth, None when it
    names none, or a message when it names something fleetfix cannot do."""
    connection = (variables.get("ansible_connection") or "").strip().lower()
    variable = "ansible_psrp_auth" if connection.endswith("psrp") else "ansible_winrm_transport"
    value = variables.get(variable) or variables.get("ansible_winrm_transport")
    if not value or not value.strip():
        return None
    # Ansible takes a comma-separated list and tries it in order; fleetfix uses the first.
    first = value.split(",")[0].strip().lower()
    if first in _AUTH_NAMES:
        return f"auth={_AUTH_NAMES[first]}"
    if first == "certificate":
        return (f"{variable}=certificate: client-certificate logons are not supported; "
                "use ntlm, kerberos or negotiate")  # fmt: skip
    known = ", ".join(sorted(_AUTH_NAMES))
    return f"{variable}={first[:20]!r} is not an authentication fleetfix knows ({known})"


def _by_scheme(scheme: str, http: Transport, https: Transport, variable: str) -> Transport | str:
    if scheme == "http":
        return http
    if scheme == "https":
        return https
    return f"{variable}={scheme[:20]!r} must be http or https"
