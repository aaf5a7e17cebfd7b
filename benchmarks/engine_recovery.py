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
Lab seconds are converted to real ones with the time scale.

Boot-looping hosts' windows are chance, so the benchmark also watches the lab while the run
goes (its control socket, every 0.2 s) and notes when each such host first answered: that
host was recoverable from then on, and its critical path is that moment (plus the safe-mode
cycle's two boots when it is tamper-protected). Target: every recoverable host recovered, the
last within 1.5 x the longest critical path. No assertion: it prints a table.
"""

from __future__ import annotations

import argparse
import resource
import secrets
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from engine_support import (
    final_states,
    first_transition,
    fleetfix,
    lab_process,
    query,
    seconds_to_final,
    table,
)

from fleetfix.errors import LabError
from fleetfix.lab.clock import LabClock
from fleetfix.lab.control import request
from fleetfix.lab.scenarios import build_fleet

SEED = 7
# Conditions whose hosts are up at the start: recoverable without luck.
DETERMINISTIC = ("affected_up", "affected_tamper_protected")


def forced_paths(
    hosts: int, seed: int, time_scale: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Per affected host, the real seconds of boots the scenario forces before it can be
    recovered (0 for a host fixed in place), and of those the safe-mode cycle's share."""
    clock = LabClock(time_scale=time_scale)
    fleet = build_fleet("crowdstrike-291", hosts=hosts, seed=seed, clock=clock,
                        password=secrets.token_urlsafe(12))  # fmt: skip
    paths: dict[str, float] = {}
    cycles: dict[str, float] = {}
    for host, truth in zip(fleet.hosts, fleet.truths, strict=True):
        profile = host.profile
        cycle = 2 * profile.boot_seconds / time_scale if truth.tamper_protected else 0.0
        if truth.condition == "affected_up":
            paths[truth.name] = 0.0
        elif truth.condition == "affected_tamper_protected":
            paths[truth.name] = cycle
        elif truth.condition == "boot_loop_window":
            # At best: one crash restart and one boot to the first window.
            first_window = (profile.crash_restart_seconds + profile.boot_seconds) / time_scale
            paths[truth.name] = first_window + cycle
        cycles[truth.name] = cycle
    return paths, cycles


class WindowWatcher(threading.Thread):
    """Polls the lab's status: when each watched host is first seen up (its first window)."""

    def __init__(self, control: Path, names: set[str], began: float) -> None:
        super().__init__(name="window-watcher", daemon=True)
        self.control, self.names, self.began = control, names, began
        self.first_up: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                answer = request(self.control, {"op": "status"}, timeout=5.0)
            except (OSError, LabError):  # the lab is going away at the end
                return
            status = answer.get("result", {})
            now = time.perf_counter() - self.began
            for host in status.get("hosts", []):
                name = host["name"]
                if name in self.names and host["state"] == "up":
                    self.first_up.setdefault(name, now)
            self.done.wait(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--hands-on-after", type=float, default=60.0)
    args = parser.parse_args()
    paths, cycles = forced_paths(args.hosts, SEED, args.time_scale)
    with tempfile.TemporaryDirectory(prefix="fleetfix-engine-recovery-") as tmp:
        db = Path(tmp) / "incident.db"
        with lab_process(Path(tmp) / "lab", hosts=args.hosts, seed=SEED,
                         time_scale=args.time_scale) as lab:  # fmt: skip
            truth = {h["name"]: h["condition"] for h in lab.truth()["hosts"]}
            rebuilt = {n for n, c in truth.items() if c in (*DETERMINISTIC, "boot_loop_window")}
            if rebuilt != set(paths):
                raise SystemExit("the rebuilt fleet differs from the lab's: paths unknown")
            looping = {n for n, c in truth.items() if c == "boot_loop_window"}
            began = time.perf_counter()
            watcher = WindowWatcher(Path(lab.paths["control"]), looping, began)
            watcher.start()
            done = subprocess.run(
                [*fleetfix(), "run", "-i", lab.paths["inventory_csv"], "--pack",
                 "crowdstrike-291", "--concurrency", str(args.concurrency),
                 "--hands-on-after", str(args.hands_on_after), "--watch-interval", "0.5",
                 "--reboot-timeout", "600", "--retry-deadline", "120"],
                env=lab.env(db), capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - began
            watcher.done.set()
            watcher.join(10)
            # Read before the lab process is reaped: then the run is the only child waited for.
            peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        states = final_states(db)
        run_id = int(query(db, "SELECT max(id) FROM runs WHERE command = 'run'")[0][0])
        to_final = seconds_to_final(db, run_id, ["recovered", "healthy", "needs_hands_on",
                                                  "failed"])  # fmt: skip
        # When the run first moved each host (its probe's diagnosis): when it started on it.
        first_move = first_transition(db, run_id)
    rows: list[list[object]] = []
    for condition in (*DETERMINISTIC, "boot_loop_window"):
        names = [n for n, c in truth.items() if c == condition]
        recovered = [n for n in names if states.get(n) == "recovered"]
        last = max((to_final.get(n, float("nan")) for n in recovered), default=float("nan"))
        path = max((paths[n] for n in names), default=0.0)
        ratio = last / path if path else float("nan")
        rows.append([condition, len(names), len(recovered), f"{last:.1f}", f"{path:.1f}",
                     f"{ratio:.2f}"])  # fmt: skip
    # A boot-looping host was recoverable if its first window came before fleetfix stopped
    # watching it (handed over, the policy's --hands-on-after); a later window is policy.
    looped = {n: at for n, at in watcher.first_up.items()
              if states.get(n) == "recovered" or at < to_final.get(n, float("inf"))}  # fmt: skip
    observed = {n: at + cycles[n] for n, at in looped.items()}
    recoverable = [n for n, c in truth.items() if c in DETERMINISTIC] + sorted(observed)
    missed = [n for n in recoverable if states.get(n) != "recovered"]
    critical = max([paths[n] for n in recoverable if n not in observed] + list(observed.values()))
    last = max(to_final.get(n, float("nan")) for n in recoverable if n not in missed)
    late = len(watcher.first_up) - len(looped)
    rows.append([f"boot_loop_window, a window while watched ({late} only later)", len(observed),
                 len([n for n in observed if states.get(n) == "recovered"]), f"{last:.1f}",
                 f"{critical:.1f}", f"{last / critical:.2f}"])  # fmt: skip
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
    print(f"recoverable hosts (up at the start, or a window while watched): {len(recoverable)}; "
          f"recovered {len(recoverable) - len(missed)}; last recovered at {last:.1f} s against "
          f"a critical path of {critical:.1f} s ({last / critical:.2f}x); not recovered: "
          f"{len(missed)}")  # fmt: skip
    for name in missed:
        print(f"  {name}: ended {states.get(name)} at {to_final.get(name, float('nan')):.1f} s; "
              f"first diagnosed at {first_move.get(name, float('nan')):.1f} s; first window "
              f"seen at {watcher.first_up.get(name, float('nan')):.1f} s")  # fmt: skip
    if done.returncode not in (0, 6, 7):
        print(done.stderr[-3000:])


if __name__ == "__main__":
    main()
