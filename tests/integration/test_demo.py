"""`fleetfix demo --headless`: the whole incident on a small simulated fleet, ending with every
host in a final state and no process left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleetfix.engine import FINAL_STATES
from fleetfix.store import open_reader

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        if text in args:
            found.append(args)
    return found


def test_headless_demo_recovers_the_fleet_and_leaves_nothing_running(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "fleetfix.cli", "demo", "--hosts", "12", "--headless",
         "--hands-on-after", "5", "--time-scale", "50", "--dir", str(directory)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if "| failed |" in line]
    assert done.returncode == 0, "\n".join(lines) + done.stderr[-2000:]
    assert f"database {directory / 'fleetfix.db'}" in done.stderr
    report = directory / "report.html"
    assert f"report {report}" in done.stderr
    assert "<svg" in report.read_text(encoding="utf-8")
    with open_reader(directory / "fleetfix.db") as reader:
        hosts = reader.hosts()
        assert len(hosts) == 12
        assert {h.state for h in hosts} <= FINAL_STATES
        assert reader.verify_audit().ok
    assert _processes_mentioning(str(directory)) == []
    assert not (directory / "lab" / "control.sock").exists()
