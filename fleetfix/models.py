"""The words fleetfix speaks: hosts, their states and the transitions allowed between them.

Everything here is a frozen dataclass or an enum, so values can cross threads, the store and
the event stream without anyone mutating them behind another's back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Transport(enum.StrEnum):
    """How fleetfix reaches a host. `auto` means: probe the ports, keep what authenticates."""

    AUTO = "auto"
    WINRM = "winrm"
    WINRM_HTTPS = "winrm-https"
    PSRP = "psrp"
    PSRP_HTTPS = "psrp-https"
    SSH = "ssh"

    @property
    def default_port(self) -> int | None:
        return _DEFAULT_PORTS[self]


_DEFAULT_PORTS: dict[Transport, int | None] = {
    Transport.AUTO: None,
    Transport.WINRM: 5985,
    Transport.WINRM_HTTPS: 5986,
    Transport.PSRP: 5985,
    Transport.PSRP_HTTPS: 5986,
    Transport.SSH: 22,
}


class HostState(enum.StrEnum):
    """A host's place in the recovery, as DESIGN.md draws it."""

    NEW = "new"
    UNREACHABLE = "unreachable"
    HEALTHY = "healthy"
    AFFECTED = "affected"
    BOOT_LOOP = "boot_loop"
    REMEDIATING = "remediating"
    AWAITING_REBOOT = "awaiting_reboot"
    RECOVERED = "recovered"
    FAILED = "failed"
    NEEDS_HANDS_ON = "needs_hands_on"
    SKIPPED = "skipped"


S = HostState

# States a probe can put a host in. A probe may be repeated at any time before remediation
# starts, so these may follow each other freely (a host that was unreachable can turn out
# to be boot-looping, a healthy host can be hit by a later content push).
_DIAGNOSED = frozenset({S.UNREACHABLE, S.HEALTHY, S.AFFECTED, S.BOOT_LOOP})

# Active states: work is still to be done. From any of them an operator may skip a host,
# and the engine may give up (failed) or hand it to a technician (needs_hands_on).
ACTIVE_STATES = frozenset(
    {S.NEW, S.UNREACHABLE, S.AFFECTED, S.BOOT_LOOP, S.REMEDIATING, S.AWAITING_REBOOT}
)
_GIVE_UP = frozenset({S.FAILED, S.NEEDS_HANDS_ON, S.SKIPPED})


def _build_transitions() -> Mapping[HostState, frozenset[HostState]]:
    table: dict[HostState, set[HostState]] = {state: set() for state in HostState}
    table[S.NEW] |= _DIAGNOSED
    for state in _DIAGNOSED:
        table[state] |= _DIAGNOSED - {state}
    for state in (S.AFFECTED, S.BOOT_LOOP):
        table[state].add(S.REMEDIATING)
    table[S.REMEDIATING] |= {S.AWAITING_REBOOT, S.RECOVERED}
    table[S.AWAITING_REBOOT] |= {S.REMEDIATING, S.RECOVERED}
    for state in ACTIVE_STATES:
        table[state] |= _GIVE_UP - {state}
    # A technician's fix is verified before it counts; a failed host may be retried.
    table[S.NEEDS_HANDS_ON] |= {S.RECOVERED, S.REMEDIATING, S.SKIPPED}
    table[S.FAILED] |= {S.REMEDIATING, S.NEEDS_HANDS_ON, S.SKIPPED} | _DIAGNOSED
    # An operator may take back a skip; the host is then diagnosed again from scratch.
    table[S.SKIPPED].add(S.NEW)
    # A recovered or healthy host can regress (bad content pushed again) when re-probed.
    table[S.RECOVERED] |= {S.AFFECTED, S.BOOT_LOOP, S.UNREACHABLE}
    return {state: frozenset(targets) for state, targets in table.items()}


#: The one table of allowed state changes. Nothing else decides what may follow what.
TRANSITIONS: Mapping[HostState, frozenset[HostState]] = _build_transitions()


def is_allowed(from_state: HostState, to_state: HostState) -> bool:
    return to_state in TRANSITIONS[from_state]


@dataclass(frozen=True, slots=True)
class Host:
    """A host as the inventory names it. `tags` keeps every extra column as key=value."""

    name: str
    address: str | None = None
    port: int | None = None
    transport: Transport = Transport.AUTO
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def target(self) -> str:
        """The address to connect to: the inventory's address, else the name itself."""
        return self.address or self.name

    def tag_value(self, key: str) -> str | None:
        """The value of a `key=value` tag, matched case-insensitively on the key."""
        prefix = key.lower() + "="
        for tag in self.tags:
            if tag.lower().startswith(prefix):
                return tag[len(prefix) :]
        return None
