"""Recovery under random connection drops: `fleetfix run` against a crowdstrike-291 lab whose
every WS-Man request is dropped (connection closed) with probability 0, 5, 20 and 50%.

    .venv/bin/python benchmarks/engine_drops.py [--hosts 200] [--time-scale 20]
        [--rates 0,0.05,0.2,0.5] [--hands-on-after 20] [--retry-deadline 60]

Each rate gets a fresh lab (same seed, so the same fleet) in its own process, with the lab's
`drop` fault on for the whole fleet (`fleetfix lab fault all drop --rate R`). A WinRM command
is several requests (shell, command, receive, signal, delete), so a 20% drop per request
fails most commands at least once. Reported per rate:
- right final state: the share of hosts that end where the lab's truth says an
  uninterrupted run ends them (healthy, recovered, needs_hands_on; a boot-looping host with
  windows may end recovered, healthy or needs_hands_on);
- retries: action rows with attempt > 1 per host, and the mean attempts per recorded step;
- p95 time to done: seconds from the run's start to each host's final state (nearest rank).
No assertion: it prints a table.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from engine_support import (
    final_states,
    fleetfix,
    lab_process,
    percentile,
    query,
    seconds_to_final,
    table,
)

SEED = 7
FINAL = ["healthy", "recovered", "needs_hands_on", "failed", "skipped"]
RIGHT = {
    "healthy": {"healthy"},
    "affected_up": {"recovered"},
    "affected_tamper_protected": {"recovered"},
    "boot_loop_unreachable": {"needs_hands_on"},
    "bitlocker_recovery": {"needs_hands_on"},
    "boot_loop_window": {"recovered", "healthy", "needs_hands_on"},
}


def one_rate(rate: float, args: argparse.Namespace) -> list[object]:
    with tempfile.TemporaryDirectory(prefix="fleetfix-engine-drops-") as tmp:
        db = Path(tmp) / "incident.db"
        with lab_process(Path(tmp) / "lab", hosts=args.hosts, seed=SEED,
                         time_scale=args.time_scale) as lab:  # fmt: skip
            if rate > 0:
                lab.ask("fault", "all", "drop", "--rate", str(rate))
            truth = {h["name"]: h["condition"] for h in lab.truth()["hosts"]}
            began = time.perf_counter()
            done = subprocess.run(
                [*fleetfix(), "run", "-i", lab.paths["inventory_csv"], "--pack",
                 "crowdstrike-291", "--concurrency", str(args.concurrency),
                 "--hands-on-after", str(args.hands_on_after), "--watch-interval", "0.2",
                 "--reboot-timeout", "120", "--retry-deadline", str(args.retry_deadline)],
                env=lab.env(db), capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - began
        states = final_states(db)
        run_id = int(query(db, "SELECT max(id) FROM runs WHERE command = 'run'")[0][0])
        to_final = seconds_to_final(db, run_id, FINAL)
        retries = query(db, "SELECT count(*) FROM actions WHERE attempt > 1")[0][0]
        reasons = query(db, "SELECT s.reason FROM host_state s WHERE s.state = 'failed'")
        mean_attempts = query(
            db, "SELECT avg(top) FROM (SELECT max(attempt) AS top FROM actions "
                "GROUP BY host_id, step)")[0][0]  # fmt: skip
    right = sum(1 for name, condition in truth.items() if states.get(name) in RIGHT[condition])
    failed = sum(1 for state in states.values() if state == "failed")
    # Why hosts failed, without host names or numbers: the top few reasons.
    common = Counter(re.sub(r"[0-9.]+", "N", str(r[0]))[:90] for r in reasons).most_common(3)
    for reason, count in common:
        print(f"rate {rate:.0%}: {count} failed with: {reason}")
    if done.returncode not in (0, 6, 7):
        print(f"rate {rate}: fleetfix run exit {done.returncode}\n{done.stderr[-2000:]}")
    return [
        f"{rate:.0%}",
        f"{right}/{len(truth)} ({right / len(truth):.1%})",
        failed,
        f"{retries / len(truth):.2f}",
        f"{mean_attempts or 0:.2f}",
        f"{percentile(list(to_final.values()), 0.95):.1f}",
        f"{wall:.1f}",
        done.returncode,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--rates", default="0,0.05,0.2,0.5")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--hands-on-after", type=float, default=20.0)
    parser.add_argument("--retry-deadline", type=float, default=60.0)
    args = parser.parse_args()
    rows = [one_rate(float(rate), args) for rate in args.rates.split(",")]
    print(
        f"{args.hosts} hosts, time scale {args.time_scale:g}, concurrency {args.concurrency}, "
        f"hands-on after {args.hands_on_after:g} s, retry deadline {args.retry_deadline:g} s"
    )
    print(
        table(
            rows,
            [
                "drop rate",
                "right final state",
                "failed",
                "retries per host",
                "mean attempts per step",
                "p95 time to done (s)",
                "wall (s)",
                "exit",
            ],
        )
    )


if __name__ == "__main__":
    main()
