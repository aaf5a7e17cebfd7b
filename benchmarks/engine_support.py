"""What the engine benchmarks share: a lab in its own process (`fleetfix lab up`), `fleetfix
run` as a child process with the lab's environment, and plain SQL over the incident database.
Not a benchmark itself."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetfix.lab import files
from fleetfix.lab.process import LabProcess

_STARTUP_LIMIT = 300.0


@dataclass(frozen=True)
class RunningLab:
    process: subprocess.Popen[str]
    directory: Path
    paths: dict[str, str]

    def env(self, db: Path) -> dict[str, str]:
        lab_env = files.read_lab_env(Path(self.paths["lab_env"]))
        return {**os.environ, **lab_env, "FLEETFIX_DB": str(db)}

    def truth(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(Path(self.paths["truth"]).read_text())
        return found

    def ask(self, *args: str) -> str:
        """A `fleetfix lab ...` client command against this lab; its stdout."""
        done = subprocess.run(
            [*fleetfix(), "lab", *args, "--dir", str(self.directory)],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return done.stdout


def fleetfix() -> list[str]:
    return [sys.executable, "-m", "fleetfix.cli"]


@contextmanager
def lab_process(
    directory: Path, *, hosts: int, seed: int, time_scale: float, scenario: str = "crowdstrike-291"
) -> Iterator[RunningLab]:
    """`fleetfix lab up` in its own process (free ports per host), stopped with SIGTERM."""
    with LabProcess.start(directory, hosts=hosts, seed=seed, time_scale=time_scale,
                          scenario=scenario) as lab:  # fmt: skip
        yield RunningLab(lab.process, lab.directory, lab.paths)


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as connection:
        return list(connection.execute(sql, args))


def final_states(db: Path) -> dict[str, str]:
    rows = query(db, "SELECT h.name, s.state FROM host_state s JOIN hosts h ON h.id = s.host_id")
    return {str(name): str(state) for name, state in rows}


def parse_at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run_started(db: Path, run_id: int) -> datetime:
    """The run's `started_at` (UTC): the zero every benchmark time of that run is counted from."""
    return parse_at(query(db, "SELECT started_at FROM runs WHERE id = ?", run_id)[0][0])


def seconds_to_final(db: Path, run_id: int, final: Sequence[str]) -> dict[str, float]:
    """Per host, seconds from the run's start to its last transition into a final state."""
    started = run_started(db, run_id)
    marks = ",".join("?" for _ in final)  # placeholders only: the states travel as values
    sql = (
        "SELECT h.name, max(t.at) FROM transitions t JOIN hosts h ON h.id = t.host_id "  # noqa: S608
        f"WHERE t.run_id = ? AND t.to_state IN ({marks}) GROUP BY h.name"
    )
    rows = query(db, sql, run_id, *final)
    return {str(name): (parse_at(at) - started).total_seconds() for name, at in rows}


def first_transition(db: Path, run_id: int) -> dict[str, float]:
    """Per host, seconds from the run's start to its first transition in the run."""
    started = run_started(db, run_id)
    rows = query(db, "SELECT h.name, min(t.at) FROM transitions t JOIN hosts h ON h.id = "
                     "t.host_id WHERE t.run_id = ? GROUP BY h.name", run_id)  # fmt: skip
    return {str(name): (parse_at(at) - started).total_seconds() for name, at in rows}


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A Markdown table, ready to paste into benchmarks/README.md."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
