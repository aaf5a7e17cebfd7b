"""A large fleet through the engine: peak resident memory of `fleetfix run --dry-run` over
10,000 lab hosts (the lab in its own process), and the store's transition throughput.

    .venv/bin/python benchmarks/engine_probe_10k.py [--hosts 10000] [--concurrency 200]
        [--transitions 20000] [--skip-run]

Targets: the fleetfix process under 500 MB resident at its peak (VmHWM, read from
getrusage of the finished child; the lab's memory is its own process and not counted);
at least 5,000 transitions per second from a direct `Store.transition` loop on a real file
(each one its own `BEGIN IMMEDIATE` transaction, as the engine writes them). A dry run probes
every host and runs the pack's read-only detect on those that answer; nothing changes a host.
No assertion: it prints a table.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from engine_support import fleetfix, lab_process, query, table

from fleetfix.models import Host, HostState, Transport
from fleetfix.store import Store


def store_throughput(count: int, hosts: int = 1000) -> tuple[float, float]:
    """(transitions per second, seconds) for `count` transitions spread over `hosts` hosts,
    cycling remediating <-> awaiting_reboot as a fleet of rebooting hosts does."""
    inventory = [Host(f"WS{i:06d}", address=f"127.88.{i // 250}.{i % 250 + 1}", port=5985,
                      transport=Transport.WINRM) for i in range(hosts)]  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="fleetfix-transitions-") as tmp,
        Store.open(Path(tmp) / "incident.db") as store,
    ):
        store.import_hosts(inventory, source="bench", actor="bench")
        for host in inventory:  # new -> affected -> remediating: where the loop starts
            store.transition(host.name, HostState.AFFECTED, reason="bench", actor="bench")
            store.transition(host.name, HostState.REMEDIATING, reason="bench", actor="bench")
        names = [host.name for host in inventory]
        began = time.perf_counter()
        for i in range(count):
            to = HostState.AWAITING_REBOOT if (i // hosts) % 2 == 0 else HostState.REMEDIATING
            store.transition(names[i % hosts], to, reason="bench", actor="bench")
        seconds = time.perf_counter() - began
    return count / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--transitions", type=int, default=20_000)
    parser.add_argument("--skip-run", action="store_true", help="Only the store throughput.")
    args = parser.parse_args()
    rows: list[list[object]] = []
    if not args.skip_run:
        with tempfile.TemporaryDirectory(prefix="fleetfix-probe-10k-") as tmp:
            db = Path(tmp) / "incident.db"
            began = time.perf_counter()
            with lab_process(Path(tmp) / "lab", hosts=args.hosts, seed=10,
                             time_scale=1.0) as lab:  # fmt: skip
                lab_up = time.perf_counter() - began
                began = time.perf_counter()
                done = subprocess.run(
                    [*fleetfix(), "run", "-i", lab.paths["inventory_csv"], "--pack",
                     "crowdstrike-291", "--dry-run", "--concurrency", str(args.concurrency),
                     "--json"],
                    env=lab.env(db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True, check=False,
                )  # fmt: skip
                wall = time.perf_counter() - began
                # Before the lab is reaped, so the run is the only child waited for.
                peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            probed = query(db, "SELECT count(DISTINCT host_id) FROM reachability")[0][0]
            answered = query(db, "SELECT count(DISTINCT host_id) FROM facts")[0][0]
            states = Counter(dict(query(db, "SELECT state, count(*) FROM host_state "
                                            "GROUP BY state")))  # fmt: skip
        print(f"lab up in {lab_up:.1f} s; fleetfix run --dry-run exit {done.returncode} in "
              f"{wall:.1f} s; states {dict(states)}")  # fmt: skip
        if done.returncode not in (0, 6, 7):
            print(done.stderr[-3000:])
        rows += [
            ["hosts in the lab", args.hosts, ""],
            ["hosts probed (a reachability row)", probed, ""],
            ["hosts that answered (a facts row)", answered, ""],
            ["dry-run wall time", f"{wall:.1f} s", ""],
            ["hosts per second", f"{args.hosts / wall:.0f}", ""],
            ["peak RSS of the fleetfix process", f"{peak_mib:.0f} MiB", "< 500 MB"],
        ]
    rate, seconds = store_throughput(args.transitions)
    rows.append([f"Store.transition, {args.transitions} in {seconds:.2f} s", f"{rate:,.0f}/s",
                 ">= 5,000/s"])  # fmt: skip
    print(table(rows, ["measurement", "result", "target"]))


if __name__ == "__main__":
    main()
