"""Shared pieces for the LabHost tests: a running lab at a high time scale and real hosts.
(Named test_lab_host_* so it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from fleetfix.lab.boot import BootProfile, BootState
from fleetfix.lab.clock import LabClock
from fleetfix.lab.host import LabContext, LabHost
from fleetfix.lab.machine import Machine, add_channel_file

PASSWORD = "Lab-Passw0rd!"
# 10,000 lab seconds per real second: a 90-second boot takes 9 ms.
TIME_SCALE = 10_000.0
# How long a wait may take before the test gives up, in lab seconds (about 3 real seconds).
PATIENCE = 30_000.0


@dataclass
class Lab:
    context: LabContext

    @property
    def clock(self) -> LabClock:
        return self.context.clock

    def host(
        self,
        *,
        profile: BootProfile | None = None,
        bad_channel_file: bool = False,
        seed: int = 7,
        name: str = "PACS-WS-0001",
    ) -> LabHost:
        machine = Machine.default(
            hostname=name,
            rng=random.Random(seed),
            administrator_password=PASSWORD,
            at=self.clock.start - timedelta(hours=5),
        )
        machine.tamper_protection = False
        if bad_channel_file:
            add_channel_file(machine, bad=True)
        return LabHost(
            name=name,
            address="127.77.0.1",
            machine=machine,
            context=self.context,
            profile=profile or BootProfile(),
            rng=random.Random(seed),
        )

    async def until(self, condition: Callable[[], bool], *, what: str) -> None:
        """Waits (in lab time) until `condition` holds; fails the test if it never does."""
        deadline = self.clock.elapsed() + PATIENCE
        while not condition():
            if self.clock.elapsed() > deadline:
                # A starved event loop may lag behind lab time: catch up before giving up.
                self.context.scheduler.run_due()
                if condition():
                    return
                raise AssertionError(f"never happened: {what}")
            await asyncio.sleep(0.001)

    async def pass_lab_time(self, lab_seconds: float) -> None:
        target = self.clock.elapsed() + lab_seconds
        await self.until(lambda: self.clock.elapsed() >= target, what="time to pass")
        # Let the scheduler run whatever fell due in that time before the test looks.
        self.context.scheduler.run_due()


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    context = LabContext.create(LabClock(time_scale=TIME_SCALE))
    runner = asyncio.create_task(context.scheduler.run())
    try:
        yield Lab(context)
    finally:
        runner.cancel()
    assert context.scheduler.errors == []


def record_states(host: LabHost, lab: Lab) -> list[tuple[BootState, int]]:
    """Every state the host passes through, with its boot generation at that moment."""
    seen: list[tuple[BootState, int]] = []

    def observe(changed: LabHost) -> None:
        if changed is host:
            seen.append((changed.state, changed.boot_generation))

    lab.context.subscribe(observe)
    return seen
