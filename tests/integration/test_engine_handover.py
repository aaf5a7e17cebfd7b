"""A host that never comes back from the safe-mode cycle is handed to a technician with the
state it was left in stated plainly: safe boot still set, BitLocker suspended."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from fleetfix.engine.events import HandsOn
from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.machine.bitlocker import ProtectionStatus
from fleetfix.lab.truth import Condition
from fleetfix.packs import load_packs
from fleetfix.store import open_reader
from tests.integration.test_engine_run import (
    OUTAGE_HOSTS,
    OUTAGE_POLICY,
    drive,
    final_states,
    lab_hosts,
    open_store,
    start_lab,
    truths,
    when_run,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_host_lost_in_safe_mode_is_handed_over_with_safe_boot_and_bitlocker_stated(
    tmp_path: Path,
) -> None:
    lab = await start_lab(tmp_path / "lab", hosts=OUTAGE_HOSTS)
    try:
        name = next(n for n, t in truths(lab).items()
                    if t.condition is Condition.AFFECTED_TAMPER_PROTECTED)  # fmt: skip
        hosts = [h for h in lab_hosts(lab) if h.name == name]
        protected = [v.mount_point for v in lab.host(name).machine.bitlocker
                     if v.protection_status is ProtectionStatus.ON]  # fmt: skip
        enter = load_packs()["safe-mode-cycle"].steps[0].script
        assert enter is not None

        async def lose_it_in_safe_mode() -> None:
            # Once the safe-mode settings have reached it, the host never answers again.
            await when_run(lab.host(name), enter.text, 1)
            lab.set_fault(name, Fault(FaultKind.REFUSE))

        policy = dataclasses.replace(OUTAGE_POLICY, reboot_timeout=4.0, hands_on_after=3.0)
        with open_store(tmp_path / "i.db", hosts) as store:
            faults = asyncio.ensure_future(lose_it_in_safe_mode())
            try:
                events = await drive(lab, store, hosts, policy)
            finally:
                faults.cancel()
            with open_reader(store.path) as reader:
                (record,) = reader.audit_log(event="host.hands_on")
        assert final_states(events)[name].value == "needs_hands_on"
        (handed,) = [e for e in events if isinstance(e, HandsOn)]
        assert "Safe boot with networking is still set" in handed.instructions
        assert "bcdedit /deletevalue {default} safeboot" in handed.instructions
        assert protected, "the scenario's tamper-protected host has BitLocker on"
        assert f"BitLocker is suspended on {', '.join(protected)}" in handed.instructions
        assert record.host == name and record.details["instructions"] == handed.instructions
    finally:
        lab.clear_faults(name, None)
        await lab.stop()
