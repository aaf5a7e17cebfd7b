"""How long `fleetfix export` takes on a 10,000-host incident, per format.

    .venv/bin/python benchmarks/export_report.py [--hosts 10000] [--repeat 3]

Builds the incident through the Store API (import, probe facts, diagnoses, remediation
intents and outcomes, recoveries, some hands-on hosts and key reads; each a real transaction,
as a run writes them), then prints how long building the database took, the best of `--repeat`
reads of the report (`read_report`), and per format the best render time and output size.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fleetfix.export import FORMATS, read_report, render, write_report
from fleetfix.models import Host, HostState
from fleetfix.store import Store, open_reader

START = datetime(2024, 7, 19, 4, 0, tzinfo=UTC)
SITES = ("paris", "lyon", "lille", "nantes")
ROLES = ("pacs", "ris", "emr", "vna", "workstation")


class Clock:
    """Moves 50 ms per reading: 10,000 hosts then span a few hours of incident."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=50)
        return self.now


def facts(name: str, at: datetime) -> dict[str, object]:
    return {
        "host_name": name,
        "collected_at": at.isoformat(),
        "channel_files": [
            {
                "name": "C-00000291-00000000-00000032.sys",
                "last_write_utc": "2024-07-19T04:09:00Z",
                "sha256": "AB" * 32,
                "header_hex": "AAAAAAAA01002301",
            }
        ],
        "crash_events": [{"id": 41, "time_utc": "2024-07-19T04:20:00Z", "bugcheck_code": 80}],
    }


def build(path: Path, count: int) -> None:
    clock = Clock()
    hosts = [
        Host(f"WS{i:06d}", address="127.0.0.1", tags=(f"site={SITES[i % 4]}",
             f"role={ROLES[i % 5]}", f"criticality={('high', 'low')[i % 2]}"))
        for i in range(count)
    ]  # fmt: skip
    with Store.open(path, clock=clock) as store:
        store.import_hosts(hosts, source="bench.csv", actor="bench")
        run = store.begin_run(command="run", actor="bench", pack="crowdstrike-291")
        for number, host in enumerate(hosts):
            _recover(store, host.name, number, run, clock)
        store.finish_run(run, status="finished")


def _recover(store: Store, name: str, number: int, run: int, clock: Clock) -> None:
    if number % 10 == 0:
        store.transition(name, HostState.HEALTHY, reason="no bad file", actor="engine")
        return
    if number % 17 == 0:
        store.transition(name, HostState.UNREACHABLE, reason="no answer", actor="engine")
        return
    store.record_facts(name, facts(name, clock.now), run_id=run)
    store.transition(
        name, HostState.AFFECTED, reason="1 bad channel file", actor="engine", run_id=run
    )
    store.transition(name, HostState.REMEDIATING, reason="fix", actor="engine", run_id=run)
    action = store.record_intent(run_id=run, host=name, step="delete-bad-channel-files",
                                 destructive=True, params={})  # fmt: skip
    ok = number % 13 != 0
    store.record_outcome(action, status="ok" if ok else "failed", detail="{}")
    if ok:
        store.transition(name, HostState.RECOVERED, reason="verified", actor="engine", run_id=run)
    elif number % 2:
        store.transition(name, HostState.NEEDS_HANDS_ON, reason="access denied", actor="engine")
        details = {"key_id": f"{number:032X}", "reason": "INC1", "purpose": "lookup"}
        store.audit("bitlocker.key_read", actor="tech", host=name, details=details)
    else:
        store.transition(name, HostState.FAILED, reason="access denied", actor="engine")


def best(repeat: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "incident.db"
        started = time.perf_counter()
        build(path, options.hosts)
        print(f"built a {options.hosts}-host incident in {time.perf_counter() - started:.1f} s")
        with open_reader(path) as reader:
            read = best(options.repeat, lambda: read_report(reader))
            report = read_report(reader)
        print(f"read_report: {read:.2f} s best of {options.repeat}")
        for fmt in FORMATS:
            seconds = best(options.repeat, functools.partial(render, report, fmt))
            target = Path(folder) / f"report.{fmt}"
            write_report(render(report, fmt), target)
            size = target.stat().st_size / 1e6
            print(f"{fmt:>5}: render {seconds:.2f} s best of {options.repeat}, {size:.1f} MB")


if __name__ == "__main__":
    main()
