"""fleetfix's one exception tree.

Exceptions are for bugs and bad configuration; a single host's failure during a run is a
value (an Outcome), never an exception that aborts the run::

    FleetfixError                 title + a message a sysadmin can act on
    ├── ConfigError               bad options, environment or config file
    ├── InventoryError            a host list that cannot be imported (file, line, problem)
    ├── StoreError                the incident database
    │   ├── IllegalTransition     a state change the table does not allow (host, from, to)
    │   ├── SchemaTooNew          a database written by a newer fleetfix
    │   └── AuditChainBroken      the audit log's hash chain does not verify
    ├── PackError                 a remediation pack's manifest or scripts (fleetfix.packs.model)
    ├── ProbeOutputError          a probe answer that is not the JSON we asked for (fleetfix.probe)
    ├── TransportError            reaching or running on one host (fleetfix.transports.errors)
    └── LabError                  the simulated fleet could not start or was misused
"""

from __future__ import annotations


class FleetfixError(Exception):
    """Base of every error fleetfix raises on purpose. `title` is a short heading."""

    title = "fleetfix error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(FleetfixError):
    title = "configuration error"


class InventoryError(FleetfixError):
    title = "inventory error"


class StoreError(FleetfixError):
    title = "state store error"


class IllegalTransition(StoreError):  # noqa: N818 - named for the condition, as the issue does
    title = "illegal state transition"

    def __init__(self, host: str, from_state: str, to_state: str) -> None:
        super().__init__(
            f"host {host!r}: cannot go from {from_state!r} to {to_state!r}; "
            "see the allowed transitions in `fleetfix states` or DESIGN.md"
        )
        self.host = host
        self.from_state = from_state
        self.to_state = to_state


class SchemaTooNew(StoreError):  # noqa: N818 - named for the condition
    title = "database written by a newer fleetfix"


class AuditChainBroken(StoreError):  # noqa: N818 - named for the condition
    title = "audit log tampered with"

    def __init__(self, row_id: int, problem: str) -> None:
        super().__init__(f"audit row {row_id}: {problem}")
        self.row_id = row_id


class LabError(FleetfixError):
    title = "lab error"
