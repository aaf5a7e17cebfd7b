"""How big a lab one process can hold: start N hosts (2,000 by default), report the time until
every host that is up listens and the resident memory, then stop.

    .venv/bin/python benchmarks/lab_scale.py [--hosts 2000] [--scenario S] [--standard-ports]
        [--profile]

Target: 2,000 hosts up within 10 s in under 1 GB. Ports default to 0 (a free port per host
and service) so the benchmark runs beside a lab on the standard ports; `--standard-ports`
binds 22/5985/5986 as `fleetfix lab up` does. In crowdstrike-291 only the hosts that are up
listen (about half); `--scenario service-outage` has every host up, three listeners each.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

from fleetfix.lab.api import Service
from fleetfix.lab.fleet import Lab


def resident_mib() -> float:
    """VmRSS of this process, in MiB, as the kernel reports it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def measure(
    *, hosts: int, scenario: str, standard_ports: bool, directory: Path
) -> dict[str, float | str]:
    ports = (22, 5985, 5986) if standard_ports else (0, 0, 0)
    before = resident_mib()
    began = time.perf_counter()
    lab = await Lab.start(
        hosts=hosts,
        scenario=scenario,
        seed=1,
        time_scale=1.0,
        directory=directory,
        ssh_port=ports[0],
        winrm_port=ports[1],
        winrms_port=ports[2],
    )
    up_seconds = time.perf_counter() - began
    try:
        assert lab.listening()
        listening = sum(1 for h in lab.fleet.hosts if h.is_listening(Service.WINRM))
        rss = resident_mib()
    finally:
        await lab.stop()
    return {
        "scenario": scenario,
        "hosts": hosts,
        "hosts_listening": listening,
        "up_seconds": round(up_seconds, 2),
        "rss_mib": round(rss, 1),
        "rss_before_mib": round(before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--scenario", default="crowdstrike-291",
                        choices=["crowdstrike-291", "service-outage", "mixed"])  # fmt: skip
    parser.add_argument("--standard-ports", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the start, top 25")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetfix-lab-scale-") as tmp:
        work = measure(hosts=args.hosts, scenario=args.scenario,
                       standard_ports=args.standard_ports, directory=Path(tmp))  # fmt: skip
        if args.profile:
            profiler = cProfile.Profile()
            result = profiler.runcall(asyncio.run, work)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        else:
            result = asyncio.run(work)
    print(json.dumps(result))
    print(
        f"{result['scenario']}: {result['hosts']} hosts ({result['hosts_listening']} up and "
        "listening) in "
        f"{result['up_seconds']} s; resident memory {result['rss_mib']} MiB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
