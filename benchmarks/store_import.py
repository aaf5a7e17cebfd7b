"""How long the store takes to import an inventory, first time and again.

    .venv/bin/python benchmarks/store_import.py [--hosts 100000] [--repeat 3]

Prints the best of `--repeat` runs for a fresh import into an empty database, a re-import of
the same inventory (every host unchanged) and a re-import where every host moved address, then
how long the readers that `fleetfix status` and the TUI use take on that many hosts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fleetfix.models import Host, Transport
from fleetfix.store import Store, open_reader


def inventory(count: int, *, subnet: int = 0) -> list[Host]:
    return [
        Host(
            f"WS{i:07d}",
            address=f"127.{subnet}.{i // 250 % 250}.{i % 250 + 1}",
            port=5985,
            transport=Transport.WINRM,
            tags=("site=paris", f"ward={i % 40}", "pacs" if i % 7 == 0 else "desktop"),
        )
        for i in range(count)
    ]


def best_of(repeat: int, run: Callable[[Path], float]) -> float:
    timings = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            timings.append(run(Path(folder) / "incident.db"))
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    hosts = inventory(options.hosts)
    moved = inventory(options.hosts, subnet=1)

    def timed_import(store: Store, batch: list[Host]) -> float:
        start = time.perf_counter()
        store.import_hosts(batch, source="bench.csv", actor="bench")
        return time.perf_counter() - start

    def fresh(path: Path) -> float:
        with Store.open(path) as store:
            return timed_import(store, hosts)

    def again(path: Path) -> float:
        with Store.open(path) as store:
            timed_import(store, hosts)
            return timed_import(store, hosts)

    def relocated(path: Path) -> float:
        with Store.open(path) as store:
            timed_import(store, hosts)
            return timed_import(store, moved)

    for label, run in (("fresh", fresh), ("unchanged", again), ("all moved", relocated)):
        seconds = best_of(options.repeat, run)
        rate = options.hosts / seconds
        print(f"{label:>10}: {options.hosts} hosts in {seconds:.2f} s ({rate:,.0f} hosts/s)")
    reads(hosts)


def reads(hosts: list[Host]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "incident.db"
        with Store.open(path) as store:
            store.import_hosts(hosts, source="bench.csv", actor="bench")
        with open_reader(path) as reader:
            for label, query in (
                ("hosts()", reader.hosts),
                ("hosts(tag)", lambda: reader.hosts(tag="ward=7")),
                ("states", reader.state_counts),
                ("tags", reader.tag_counts),
            ):
                start = time.perf_counter()
                query()
                print(f"{label:>10}: {time.perf_counter() - start:.3f} s over {len(hosts)} hosts")


if __name__ == "__main__":
    main()
