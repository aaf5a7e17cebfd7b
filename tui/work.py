"""What acting on hosts needs, given only when the TUI was opened with an inventory.

Opened on a database alone the TUI follows; it never starts a second engine behind a headless
run's back. With `-i INV` it gets a `FleetAccess` and may probe and run packs itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fleetfix.engine import FleetRun, RunPolicy, find_resumable
from fleetfix.engine.events import Event
from fleetfix.engine.keyids import KeyIdFinder
from fleetfix.models import Host
from fleetfix.packs import Pack
from fleetfix.probe.run import ProbeOutcome, probe_hosts
from fleetfix.store import Store
from fleetfix.store.connect import fold
from fleetfix.transports.base import ConnectOptions
from fleetfix.transports.runner import RunOptions

PolicyFor = Callable[[str, bool], RunPolicy]


@dataclass(frozen=True, slots=True)
class FleetAccess:
    hosts: Sequence[Host]
    options_for: Callable[[Host], ConnectOptions]
    packs: Mapping[str, Pack]
    run: RunOptions = field(default_factory=RunOptions)
    #: (pack, dry_run) -> the policy; the CLI's defaults unless a caller (a test) narrows them.
    policy_for: PolicyFor | None = None
    #: BitLocker key IDs for hosts handed to a technician (the configured key providers).
    key_ids_for: KeyIdFinder | None = None

    def select(self, names: Sequence[str]) -> list[Host]:
        wanted = {fold(name) for name in names}
        return [host for host in self.hosts if fold(host.name) in wanted]

    def policy(self, pack: str, *, dry_run: bool) -> RunPolicy:
        if self.policy_for is not None:
            return self.policy_for(pack, dry_run)
        return RunPolicy(
            pack=pack, dry_run=dry_run, concurrency=self.run.concurrency,
            connect_timeout=self.run.connect_timeout, probe_timeout=self.run.timeout,
        )  # fmt: skip

    def fleet_run(
        self, store: Store, names: Sequence[str], *, pack: str, dry_run: bool, actor: str
    ) -> FleetRun:
        return FleetRun(
            self.select(names), policy=self.policy(pack, dry_run=dry_run), store=store,
            packs=self.packs, options_for=self.options_for, actor=actor,
            transport=self.run.transport, key_ids_for=self.key_ids_for,
        )  # fmt: skip

    def resumed_run(self, store: Store, *, actor: str) -> FleetRun:
        """The latest stopped run, continued with the policy it recorded (ConfigError if none)."""
        _, policy, resume = find_resumable(store, None)
        return FleetRun(
            list(self.hosts), policy=policy, store=store, packs=self.packs,
            options_for=self.options_for, actor=actor, transport=self.run.transport,
            resume=resume, key_ids_for=self.key_ids_for,
        )  # fmt: skip

    async def probe(
        self, store: Store, names: Sequence[str], *, actor: str
    ) -> AsyncIterator[ProbeOutcome]:
        hosts = self.select(names)
        run_id = store.begin_run(command="probe", actor=actor, options={"hosts": len(hosts),
                                 "from": "tui"})  # fmt: skip
        status = "interrupted"
        try:
            async for outcome in probe_hosts(
                hosts, store=store, options_for=self.options_for, run=self.run, actor=actor,
                run_id=run_id,
            ):  # fmt: skip
                yield outcome
            status = "finished"
        finally:
            store.finish_run(run_id, status=status)


def describe(event: Event) -> str:
    """One status-line sentence per event kind the dashboard reports (no host output)."""
    data = event.as_dict()
    kind = data.pop("event")
    data.pop("at", None)
    if kind == "progress":
        return f"progress {data['done']}/{data['total']}, {data['rate_per_minute']:.1f}/min"
    shown = " ".join(f"{k}={v}" for k, v in data.items() if k not in {"counts", "plan"})
    return f"{kind} {shown}"
