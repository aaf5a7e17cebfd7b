"""Recovering a crowdstrike-291 lab with `fleetfix run`: does every host the scenario makes
recoverable end recovered, and how does the wall time compare with the scenario's critical
path (the longest chain of reboots it forces)?

    .venv/bin/python benchmarks/engine_recovery.py [--hosts 1000] [--time-scale 10]
        [--concurrency 100] [--hands-on-after 60]

The lab runs in its own process (`fleetfix lab up`), `fleetfix run` in another. Critical path:
the lab's boot profiles are seeded, so the benchmark rebuilds the same fleet in memory (no
listeners) to read them. A host that is up with bad content and tamper protection needs the
safe-mode cycle, two boots in a row: 2 x its boot time. A boot-looping host that shows
reachable windows first waits for one (at best one crash restart plus one boot), then the
cycle if it is tamper-protected; windows are chance, so that path is reported separately.
Lab seconds are converted to real ones with the time scale. Target: the last deterministic
host recovered within 1.5 x the forced critical path. No assertion: it prints a table.
"""

from __future__ import annotations

import argparse
import resource
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from engine_support import final_states, fleetfix, lab_process, query, seconds_to_final, table

from fleetfix.lab.clock import LabClock
from fleetfix.lab.scenarios import build_fleet

SEED = 7
# Conditions whose hosts are up at the start: recoverable without luck.
DETERMINISTIC = ("affected_up", "affected_tamper_protected")


def forced_paths(hosts: int, seed: int, time_scale: float) -> dict[str, float]:
    """Per affected host, the real seconds of boots the scenario forces before it can be
    recovered (0 for a host fixed in place)."""
    clock = LabClock(time_scale=time_scale)
    fleet = build_fleet("crowdstrike-291", hosts=hosts, seed=seed, clock=clock,
                        password=secrets.token_urlsafe(12))  # fmt: skip
    paths: dict[str, float] = {}
    for host, truth in zip(fleet.hosts, fleet.truths, strict=True):
        profile = host.profile
        cycle = 2 * profile.boot_seconds if truth.tamper_protected else 0.0
        if truth.condition == "affected_up":
            paths[truth.name] = 0.0
        elif truth.condition == "affected_tamper_protected":
            paths[truth.name] = cycle / time_scale
        elif truth.condition == "boot_loop_window":
            first_window = profile.crash_restart_seconds + profile.boot_seconds
            paths[truth.name] = (first_window + cycle) / time_scale
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--hands-on-after", type=float, default=60.0)
    args = parser.parse_args()
    paths = forced_paths(args.hosts, SEED, args.time_scale)
    with tempfile.TemporaryDirectory(prefix="fleetfix-engine-recovery-") as tmp:
        db = Path(tmp) / "incident.db"
        with lab_process(Path(tmp) / "lab", hosts=args.hosts, seed=SEED,
                         time_scale=args.time_scale) as lab:  # fmt: skip
            truth = {h["name"]: h["condition"] for h in lab.truth()["hosts"]}
            rebuilt = {n for n, c in truth.items() if c in (*DETERMINISTIC, "boot_loop_window")}
            if rebuilt != set(paths):
                raise SystemExit("the rebuilt fleet differs from the lab's: paths unknown")
            began = time.perf_counter()
            done = subprocess.run(
                [*fleetfix(), "run", "-i", lab.paths["inventory_csv"], "--pack",
                 "crowdstrike-291", "--concurrency", str(args.concurrency),
                 "--hands-on-after", str(args.hands_on_after), "--watch-interval", "0.5",
                 "--reboot-timeout", "600", "--retry-deadline", "120"],
                env=lab.env(db), capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - began
            # Read before the lab process is reaped: then the run is the only child waited for.
            peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        states = final_states(db)
        run_id = int(query(db, "SELECT max(id) FROM runs WHERE command = 'run'")[0][0])
        to_final = seconds_to_final(db, run_id, ["recovered", "healthy", "needs_hands_on",
                                                  "failed"])  # fmt: skip
    rows: list[list[object]] = []
    for condition in (*DETERMINISTIC, "boot_loop_window"):
        names = [n for n, c in truth.items() if c == condition]
        recovered = [n for n in names if states.get(n) == "recovered"]
        last = max((to_final.get(n, float("nan")) for n in recovered), default=float("nan"))
        path = max((paths[n] for n in names), default=0.0)
        ratio = last / path if path else float("nan")
        rows.append([condition, len(names), len(recovered), f"{last:.1f}", f"{path:.1f}",
                     f"{ratio:.2f}"])  # fmt: skip
    others = sorted({c for c in truth.values()} - {*DETERMINISTIC, "boot_loop_window"})
    for condition in others:
        names = [n for n, c in truth.items() if c == condition]
        ended = sorted({states.get(n, "?") for n in names})
        rows.append([condition, len(names), f"ended {'/'.join(ended)}", "", "", ""])
    print(f"fleetfix run: exit {done.returncode}, wall {wall:.1f} s for {args.hosts} hosts "
          f"(time scale {args.time_scale:g}, concurrency {args.concurrency}, hands-on after "
          f"{args.hands_on_after:g} s), peak RSS of fleetfix run {peak_mib:.0f} MiB")  # fmt: skip
    print(table(rows, ["condition", "hosts", "recovered", "last recovered at (s)",
                       "forced critical path (s)", "ratio"]))  # fmt: skip
    if done.returncode not in (0, 6, 7):
        print(done.stderr[-3000:])


if __name__ == "__main__":
    main()
