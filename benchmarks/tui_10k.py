"""Commit -> the war-room TUI's model, then its next refresh: how long, at 10,000 hosts.

    .venv/bin/python benchmarks/tui_10k.py [--hosts 10000] [--rate 1000] [--seconds 10] [--poll 0.5]

Another process (a stand-in for a headless `fleetfix run`) writes `--rate` state changes a
second through its own `Store`, each its own transaction, and notes when each one committed.
The TUI runs headless (Textual's test driver, a real compositor, 120x40) following the same
database. Latency is commit -> model, then the next refresh: from the commit to the end of the
first screen refresh after the poll that read the change into the model. It includes the poll
interval: with `--poll 0.5` the floor is ~0.25 s on average. A change counts once a poll read
it and a refresh followed; nothing here reads the pixels back.

Also printed: what one poll costs on the event loop (the stutter budget): reading the store,
updating the model and the widgets. The compositor's paint comes after, in Textual's own
refresh, and is not in that number: Textual has no public hook to time it, and the headless
driver skips the last step, writing the update to a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import TYPE_CHECKING

from fleetfix.models import Host, HostState
from fleetfix.store import Store

if TYPE_CHECKING:
    from tui.app import FleetfixApp
else:
    from fleetfix.tui.app import FleetfixApp

S = HostState
# Diagnosed states may follow each other freely, so a writer can cycle through them forever.
CYCLE = (S.UNREACHABLE, S.HEALTHY, S.AFFECTED, S.BOOT_LOOP)


def inventory(count: int) -> list[Host]:
    return [
        Host(f"WS{i:06d}", address=f"127.0.{i // 250 % 250}.{i % 250 + 1}",
             tags=("site=paris", f"ward={i % 40}"))
        for i in range(count)
    ]  # fmt: skip


def writer(path: str, hosts: int, rate: int, seconds: float, out: str, go: Event) -> None:
    """Write `rate` transitions a second; save (transition id, commit time) pairs to `out`."""
    go.wait()
    committed: list[tuple[int, float]] = []
    step = 0.01  # a hundred batches of rate/100 a second, one each 0.01 s: steady, not a burst
    per_batch = max(1, round(rate * step))
    with Store.open(path) as store:
        start = time.monotonic()
        batch = 0
        while time.monotonic() - start < seconds:
            for _ in range(per_batch):
                index = len(committed)
                name = f"WS{index % hosts:06d}"
                to = CYCLE[(index // hosts) % len(CYCLE)]
                record = store.transition(name, to, reason="bench", actor="bench")
                committed.append((record.id, time.monotonic()))
            batch += 1
            pause = start + batch * step - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    Path(out).write_text("\n".join(f"{i} {t!r}" for i, t in committed))


class MeasuredApp(FleetfixApp):
    """The real app; it notes when the refresh after a poll that read changes has run."""

    refreshed: list[tuple[int, int, float]]
    poll_cost: list[float]

    def poll(self) -> int:
        before = self.follower.last_transition
        started = time.monotonic()
        changed = super().poll()
        self.poll_cost.append(time.monotonic() - started)
        after = self.follower.last_transition
        if after > before:
            self.call_after_refresh(self._refreshed, before, after)
        return changed

    def _refreshed(self, before: int, after: int) -> None:
        self.refreshed.append((before, after, time.monotonic()))


async def follow(db: Path, *, poll: float, process: BaseProcess, go: Event) -> MeasuredApp:
    app = MeasuredApp(db, actor="bench", poll_seconds=poll)
    app.refreshed, app.poll_cost = [], []
    started = time.monotonic()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        print(f"first screen with {len(app.model.hosts)} hosts: {time.monotonic() - started:.2f} s")
        go.set()  # the screen is up with every host loaded: start writing
        while process.is_alive():
            await asyncio.sleep(0.1)
        await asyncio.sleep(poll * 3)  # the last changes are read and refreshed
        await pilot.pause()
    return app


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "incident.db"
        out = Path(folder) / "committed.txt"
        with Store.open(db) as store:
            started = time.monotonic()
            store.import_hosts(inventory(args.hosts), source="bench", actor="bench")
            print(f"imported {args.hosts} hosts in {time.monotonic() - started:.2f} s")
        context = multiprocessing.get_context("spawn")
        go = context.Event()
        # Started before the app: Textual's driver owns the terminal's descriptors after.
        process = context.Process(
            target=writer, args=(str(db), args.hosts, args.rate, args.seconds, str(out), go)
        )
        process.start()
        app = asyncio.run(follow(db, poll=args.poll, process=process, go=go))
        process.join()
        committed = {
            int(i): float(t) for i, t in (line.split() for line in out.read_text().splitlines())
        }
    latencies: list[float] = []
    for before, after, at in app.refreshed:
        latencies.extend(at - committed[i] for i in range(before + 1, after + 1) if i in committed)
    written = len(committed)
    achieved = written / args.seconds
    print(f"writer: {written} transitions in {args.seconds:g} s ({achieved:.0f}/s, "
          f"asked {args.rate}/s)")  # fmt: skip
    print(f"changes read by a poll, then refreshed: {len(latencies)} of {written}")
    if latencies:
        print(f"commit -> model, then the next refresh: median "
              f"{statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms (poll every {args.poll:g} s)")  # fmt: skip
    costs = app.poll_cost
    print(f"one poll on the event loop (store, model, widgets; not the compositor's paint): "
          f"median {statistics.median(costs) * 1000:.1f} ms, "
          f"p95 {percentile(costs, 0.95) * 1000:.1f} ms, max {max(costs) * 1000:.1f} ms "
          f"({len(costs)} polls)")  # fmt: skip
    return 0 if len(latencies) == written else 1


if __name__ == "__main__":
    sys.exit(main())
