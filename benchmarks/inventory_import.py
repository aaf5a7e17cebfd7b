"""How fast a big EDR export imports: writes a CrowdStrike-style CSV of N hosts (100,000 by
default) to a temporary folder and times load_inventory on it.

    .venv/bin/python benchmarks/inventory_import.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

from fleetfix.inventory import load_inventory

HEADER = [
    "Hostname", "Host ID", "Last Seen", "Platform", "OS Version", "Sensor Version",
    "Local IP", "External IP", "MAC Address", "Model", "Domain", "Site", "OU", "Tags",
]  # fmt: skip
SITES = ["North", "South", "Central", "East Campus", "Radiology Annex"]
ROLES = ["PACS", "RIS", "EMR", "VNA", "Reading Room", "Lab", "Pharmacy"]


def write_export(path: Path, rows: int, *, seed: int = 291) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as export:
        writer = csv.writer(export, lineterminator="\r\n")
        writer.writerow(HEADER)
        for number in range(rows):
            role = rng.choice(ROLES)
            writer.writerow(
                [
                    f"{role.split()[0][:4].upper()}-WS{number:06d}",
                    f"{rng.getrandbits(128):032x}",
                    f"2024-07-19T04:1{rng.randint(0, 9)}:{rng.randint(0, 59):02d}Z",
                    "Windows",
                    rng.choice(["Windows 10", "Windows 11", "Windows Server 2019"]),
                    "7.16.18605.0",
                    f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}",
                    "203.0.113.40",
                    "-".join(f"{rng.getrandbits(8):02X}" for _ in range(6)),
                    "HP EliteDesk 800 G6",
                    "CLIN.EXAMPLE.ORG",
                    rng.choice(SITES),
                    f"Workstations/{role}",
                    f"FalconGroupingTags/{role.replace(' ', '')},SensorGroupingTags/Clinical",
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "falcon_hosts.csv"
        write_export(path, options.rows)
        size_mb = path.stat().st_size / 1e6
        timings = []
        for _ in range(options.repeat):
            started = time.perf_counter()
            inventory = load_inventory(path)
            timings.append(time.perf_counter() - started)
        assert len(inventory.hosts) == options.rows
    best = min(timings)
    print(
        f"{options.rows:,} hosts ({size_mb:.1f} MB CSV): best of {options.repeat} "
        f"{best:.2f} s = {options.rows / best:,.0f} hosts/s "
        f"(all runs: {', '.join(f'{t:.2f}' for t in timings)} s)"
    )


if __name__ == "__main__":
    main()
