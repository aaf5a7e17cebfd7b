"""After a real run against the lab (its own process, real WinRM), every export format shows
the numbers the store holds, the key read done through `fleetfix key lookup` is in the key
access log, and no recovery password the lab's escrow holds appears in any export."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fleetfix.cli import FleetfixGroup
from fleetfix.lab import files
from fleetfix.models import HostState
from fleetfix.store import open_reader
from fleetfix.store.records import TransitionRecord

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_PASSWORD = re.compile(r"\d{6}(?:-\d{6}){7}")
RUN_OPTIONS = ("--hands-on-after", "10", "--watch-interval", "0.1", "--retry-deadline", "20",
               "--reboot-timeout", "40", "--concurrency", "10")  # fmt: skip


class _Main(FleetfixGroup):
    lazy_commands = {"export": "fleetfix.cli_export:export"}  # noqa: RUF012 - as in cli.py


@click.group(cls=_Main)
def main() -> None:
    """`fleetfix`, reduced to the export command until cli.py registers it."""


def _fleetfix(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetfix.cli", *args], env=env, text=True,
                          capture_output=True, timeout=240, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def after_a_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("export-lab")
    lab_dir = folder / "lab"
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetfix.cli", "lab", "up", "--hosts", "10", "--scenario",
         "crowdstrike-291", "--seed", "7", "--time-scale", "30", "--ssh-port", "0",
         "--winrm-port", "0", "--winrms-port", "0", "--dir", str(lab_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the lab did not come up"
        paths = json.loads(process.stdout.readline())
        db = folder / "incident.db"
        env = {**os.environ, **files.read_lab_env(Path(paths["lab_env"])), "FLEETFIX_DB": str(db)}
        inventory = paths["inventory_csv"]
        ran = _fleetfix("run", "-i", inventory, "--pack", "crowdstrike-291", *RUN_OPTIONS,
                        "--json", env=env)  # fmt: skip
        assert ran.returncode in {0, 6, 7}, ran.stderr[-3000:]
        _look_up_one_key(paths, env)
        yield db, Path(paths["keys_config"]).parent / "escrow.csv"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _look_up_one_key(paths: dict[str, str], env: dict[str, str]) -> None:
    truth = json.loads(Path(paths["truth"]).read_text(encoding="utf-8"))
    host = next(h for h in truth["hosts"] if h["recovery_key_ids"])
    key_id = host["recovery_key_ids"][0].strip("{}")
    looked = _fleetfix("key", "lookup", "--key-id", key_id[:8], "--host", host["name"],
                       "--reason", "DRILL-EXPORT", "--allow-pipe", "--config",
                       paths["keys_config"], "--operator", "tech-bob", env=env)  # fmt: skip
    assert looked.returncode == 0, looked.stderr


def _seconds_to_recover(chain: list[TransitionRecord]) -> float:
    # The report's definition, written out again here: first diagnosed hit (else first look)
    # to the transition that made the host recovered.
    hit = [t.at for t in chain if t.to_state in {HostState.AFFECTED, HostState.BOOT_LOOP}]
    looked = [t.at for t in chain if t.from_state is not None]
    start: datetime = (hit or looked)[0]
    return (chain[-1].at - start).total_seconds()


def _export(db: Path, fmt: str, target: Path) -> str:
    result = CliRunner().invoke(main, ["export", "--format", fmt, "-o", str(target),
                                       "--db", str(db)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return target.read_text(encoding="utf-8")


def test_every_format_shows_the_stores_numbers(after_a_run: tuple[Path, Path]) -> None:
    db, escrow = after_a_run
    with open_reader(db) as reader:
        counts = reader.state_counts()
        recovered = reader.hosts(state=HostState.RECOVERED)
        durations = sorted(_seconds_to_recover(reader.transitions(h.name)) for h in recovered)
        reads = reader.audit_log(event="bitlocker.key_read")
    assert counts[HostState.RECOVERED] > 0 and len(reads) == 1
    exports = {fmt: _export(db, fmt, db.with_name(f"report.{fmt}"))
               for fmt in ("csv", "jsonl", "md", "html")}  # fmt: skip

    summary = json.loads(exports["jsonl"].splitlines()[0])
    assert summary["states"] == {s.value: n for s, n in counts.counts.items()}
    assert summary["recovered"] == len(durations)
    middle = len(durations) // 2
    median = (durations[middle] if len(durations) % 2
              else (durations[middle - 1] + durations[middle]) / 2)  # fmt: skip
    assert summary["median_seconds_to_recover"] == pytest.approx(median)
    assert summary["p90_seconds_to_recover"] == durations[-(-9 * len(durations) // 10) - 1]
    key_line = next(json.loads(x) for x in exports["jsonl"].splitlines() if '"key_access"' in x)
    assert (key_line["actor"], key_line["reason"]) == ("tech-bob", "DRILL-EXPORT")
    assert key_line["key_id"] == reads[0].details["key_id"]

    recovered_row = f"recovered,{counts[HostState.RECOVERED]}"
    assert recovered_row in exports["csv"].replace("\r\n", "\n").splitlines()
    assert f"| recovered | {counts[HostState.RECOVERED]} |" in exports["md"]
    assert f"<td>hosts</td><td>{counts.total}</td>" in exports["html"]

    passwords = set(_PASSWORD.findall(escrow.read_text(encoding="utf-8")))
    assert passwords
    for fmt, text in exports.items():
        plain = text.replace("\\", "")
        assert not [p for p in passwords if p in plain], fmt
