"""What the tests of `fleetfix run` as a subprocess share: a crowdstrike-291 lab in a background
thread of the test (so the test can read the lab's truth and history), the environment and
command line that point the CLI at it, and its JSON Lines read back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetfix.lab import files
from fleetfix.lab.fleet import Lab
from fleetfix.lab.truth import Condition, HostTruth
from fleetfix.models import HostState
from fleetfix.store import open_reader
from tests.integration.test_engine_run import OUTAGE_HOSTS, start_lab
from tests.integration.test_transport_cli import LabThread
from tests.integration.test_transport_support import PASSWORD

# Short timings for the outage lab: a silent host is handed over after 2 s of watching.
QUICK = ["--hands-on-after", "2", "--watch-interval", "0.05", "--retry-deadline", "20",
         "--reboot-timeout", "30", "--connect-timeout", "3"]  # fmt: skip


class OutageThread(LabThread):
    """LabThread's lab, but the crowdstrike-291 outage at 40x (boots take 2-3 s)."""

    def __init__(self, directory: Path) -> None:
        # Not LabThread's __init__: that one starts a six-host lab of its own.
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab", daemon=True)
        self.thread.start()
        self.lab: Lab = self.call(start_lab(directory, hosts=OUTAGE_HOSTS))

    def names(self, *conditions: Condition) -> list[str]:
        return [t.name for t in self.lab.fleet.truths if t.condition in conditions]

    def truth(self, name: str) -> HostTruth:
        return next(t for t in self.lab.fleet.truths if t.name == name)


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[OutageThread]:
    running = OutageThread(tmp_path / "lab")
    yield running
    running.stop()


def environment(lab: Lab, db: Path) -> dict[str, str]:
    paths = lab.paths()
    return {
        **os.environ, "FLEETFIX_USERNAME": files.USERNAME, "FLEETFIX_PASSWORD": PASSWORD,
        "FLEETFIX_CA_BUNDLE": paths["ca"], "FLEETFIX_KNOWN_HOSTS": paths["known_hosts"],
        "FLEETFIX_DB": str(db), "FLEETFIX_OPERATOR": "tester",
        "FLEETFIX_LAB_CONTROL": paths["control"],
    }  # fmt: skip


def command(lab: Lab, *args: str) -> list[str]:
    inventory = lab.paths()["inventory_csv"]
    return [sys.executable, "-m", "fleetfix.cli", "run", "-i", inventory, *args]


def fleetfix_run(lab: Lab, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(lab, *args), capture_output=True, text=True, timeout=120,
                          env=environment(lab, db), check=False)  # fmt: skip


def json_events(stdout: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    # Not a test module, so pytest does not rewrite this assert: the message says what came.
    assert events and all(isinstance(e, dict) and "event" in e for e in events), stdout[-2000:]
    return events


def states_in(db: Path, names: list[str]) -> dict[str, HostState]:
    with open_reader(db) as reader:
        found = {name: reader.host(name) for name in names}
    return {name: record.state for name, record in found.items() if record is not None}
