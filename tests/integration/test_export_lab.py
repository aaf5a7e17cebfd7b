"""After a real run against the lab (its own process, real WinRM), every export format shows
the numbers the store holds, the key read done through `fleetfix key lookup` is in the key
access log, and no recovery password the lab's escrow holds appears in any export."""

from __future__ import annotations

import html
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from fleetfix.cli import FleetfixGroup
from fleetfix.lab import files
from fleetfix.models import HostState
from fleetfix.store import open_reader
from fleetfix.store.records import HostRecord, TransitionRecord
from tests.unit.test_export_formats import csv_tables

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


@dataclass(frozen=True)
class AfterARun:
    db: Path
    escrow: Path
    password: str  # the lab's login password (FLEETFIX_PASSWORD in its lab.env)


@pytest.fixture(scope="module")
def after_a_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AfterARun]:
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
        escrow = Path(paths["keys_config"]).parent / "escrow.csv"
        yield AfterARun(db, escrow, env["FLEETFIX_PASSWORD"])
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


def _p90(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[-(-9 * len(ordered) // 10) - 1] if ordered else None  # nearest rank


@dataclass(frozen=True)
class Numbers:
    """What a report says, flattened: whole numbers, and times (seconds; -1 for none)."""

    counts: dict[str, int]
    times: dict[str, float]


def _stats(prefix: str, states: dict[str, int], hosts: int, hit: int,
           recovered: list[float]) -> Numbers:  # fmt: skip
    counts = {f"{prefix}hosts": hosts, f"{prefix}hit": hit, f"{prefix}recovered": len(recovered)}
    counts |= {f"{prefix}state:{state}": n for state, n in states.items()}
    median = statistics.median(recovered) if recovered else None
    times = {f"{prefix}median": median, f"{prefix}p90": _p90(recovered)}
    return Numbers(counts, {k: -1.0 if v is None else v for k, v in times.items()})


def _merge(*parts: Numbers) -> Numbers:
    return Numbers({k: v for p in parts for k, v in p.counts.items()},
                   {k: v for p in parts for k, v in p.times.items()})  # fmt: skip


def _store_numbers(db: Path) -> Numbers:
    """The store's numbers, with the report's definitions written out again here."""
    with open_reader(db) as reader:
        hosts = reader.hosts()
        chains = {h.name: reader.transitions(h.name) for h in hosts}
        counts = reader.state_counts()
        tag_counts = reader.tag_counts()
    detected = {HostState.AFFECTED, HostState.BOOT_LOOP}

    def hit(name: str, state: HostState) -> bool:
        return state is HostState.RECOVERED or any(t.to_state in detected for t in chains[name])

    seconds = {h.name: _seconds_to_recover(chains[h.name]) for h in hosts
               if h.state is HostState.RECOVERED}  # fmt: skip
    overall = _stats("", {s.value: n for s, n in counts.counts.items()}, counts.total,
                     sum(hit(h.name, h.state) for h in hosts), list(seconds.values()))  # fmt: skip
    groups: list[Numbers] = []
    for dimension in ("site", "role", "criticality"):
        members: dict[str, list[HostRecord]] = {}
        for host in hosts:
            values = [t.partition("=")[2].casefold() for t in host.tags
                      if t.partition("=")[0].casefold() == dimension]  # fmt: skip
            members.setdefault(values[0] if values else "(none)", []).append(host)
        for value, group in members.items():
            states = tag_counts[f"{dimension}={value}"]
            assert sum(states.values()) == len(group)
            durations = [seconds[h.name] for h in group if h.name in seconds]
            groups.append(_stats(f"{dimension}={value}:", {str(s): n for s, n in states.items()},
                                 len(group), sum(hit(h.name, h.state) for h in group),
                                 durations))  # fmt: skip
    per_host = Numbers({}, {f"seconds:{name}": value for name, value in seconds.items()})
    return _merge(overall, *groups, per_host)


def _time(text: str) -> float:
    return float(text) if text else -1.0


def _numbers_from_tables(tables: dict[str, list[dict[str, str]]]) -> Numbers:
    """CSV, Markdown and HTML show the same tables: summary, states, breakdown, hosts."""
    summary = {row["field"]: row["value"] for row in tables["summary"]}
    states = {row["state"]: int(row["hosts"]) for row in tables["states"]}
    overall = Numbers(
        {"hosts": int(summary["hosts"]), "hit": int(summary["hit"]),
         "recovered": int(summary["recovered"])} | {f"state:{s}": n for s, n in states.items()},
        {"median": _time(summary["median_seconds_to_recover"]),
         "p90": _time(summary["p90_seconds_to_recover"])},
    )  # fmt: skip
    groups = []
    for row in tables["breakdown"]:
        if row["dimension"] == "all":
            continue
        prefix = f"{row['dimension']}={row['value']}:"
        groups.append(Numbers(
            {f"{prefix}hosts": int(row["hosts"]), f"{prefix}hit": int(row["hit"]),
             f"{prefix}recovered": int(row["recovered"])}
            | {f"{prefix}state:{s.value}": int(row[s.value]) for s in HostState},
            {f"{prefix}median": _time(row["median_seconds_to_recover"]),
             f"{prefix}p90": _time(row["p90_seconds_to_recover"])},
        ))  # fmt: skip
    per_host = Numbers({}, {f"seconds:{row['host']}": float(row["seconds_to_recover"])
                            for row in tables["hosts"] if row["seconds_to_recover"]})  # fmt: skip
    return _merge(overall, *groups, per_host)


def _numbers_from_jsonl(text: str) -> Numbers:
    objects = [json.loads(line) for line in text.splitlines()]

    def stats(obj: dict[str, Any], prefix: str) -> Numbers:
        median, p90 = obj["median_seconds_to_recover"], obj["p90_seconds_to_recover"]
        return Numbers(
            {f"{prefix}hosts": obj["hosts"], f"{prefix}hit": obj["hit"],
             f"{prefix}recovered": obj["recovered"]}
            | {f"{prefix}state:{s}": n for s, n in obj["states"].items()},
            {f"{prefix}median": -1.0 if median is None else median,
             f"{prefix}p90": -1.0 if p90 is None else p90},
        )  # fmt: skip

    groups = [stats(o, f"{o['dimension']}={o['value']}:") for o in objects
              if o["type"] == "breakdown"]  # fmt: skip
    hosts = [o for o in objects if o["type"] == "host" and o["seconds_to_recover"] is not None]
    per_host = Numbers({}, {f"seconds:{o['host']}": o["seconds_to_recover"] for o in hosts})
    return _merge(stats(objects[0], ""), *groups, per_host)


def _markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    titles = {"Summary": "summary", "Hosts per state": "states",
              "By site, role and criticality": "breakdown", "Hosts": "hosts"}  # fmt: skip
    found: dict[str, list[dict[str, str]]] = {}
    key: str | None = None
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("## "):
            key, columns = titles.get(_md_unescape(line[3:])), []
        elif key is not None and line.startswith("|") and not line.startswith("|---"):
            cells = _md_cells(line)
            if not columns:
                columns = cells
            else:
                found.setdefault(key, []).append(dict(zip(columns, cells, strict=True)))
    return found


def _md_cells(line: str) -> list[str]:
    """`| a | b\\|c |` -> ["a", "b|c"]: split on pipes that are not escaped."""
    cells: list[str] = []
    cell, escaped = "", False
    for char in line.strip()[1:]:
        if escaped:
            cell, escaped = cell + "\\" + char, False
        elif char == "\\":
            escaped = True
        elif char == "|":
            cells.append(_md_unescape(cell.strip()))
            cell = ""
        else:
            cell += char
    return cells


def _md_unescape(text: str) -> str:
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


class _HtmlTables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in {"td", "th"} and self._row is not None:
            self._row.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._table is not None and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._row:
            self._row[-1] += data


def _html_tables(text: str) -> dict[str, list[dict[str, str]]]:
    parser = _HtmlTables()
    parser.feed(text)
    parser.close()
    return {key: [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
            for key, rows in parser.tables.items()}  # fmt: skip


def test_every_format_shows_the_stores_numbers(after_a_run: AfterARun) -> None:
    db = after_a_run.db
    with open_reader(db) as reader:
        reads = reader.audit_log(event="bitlocker.key_read")
    truth = _store_numbers(db)
    assert truth.counts["recovered"] > 0 and len(reads) == 1
    assert any(k.startswith("site=") for k in truth.counts)  # the lab's hosts carry tags
    exports = {fmt: _export(db, fmt, db.with_name(f"report.{fmt}"))
               for fmt in ("csv", "jsonl", "md", "html")}  # fmt: skip
    shown = {
        "jsonl": _numbers_from_jsonl(exports["jsonl"]),
        "csv": _numbers_from_tables(csv_tables(exports["csv"])),
        "md": _numbers_from_tables(_markdown_tables(exports["md"])),
        "html": _numbers_from_tables(_html_tables(exports["html"])),
    }
    for fmt, numbers in shown.items():
        assert numbers.counts == truth.counts, fmt
        # The text formats print seconds to the millisecond.
        assert numbers.times == pytest.approx(truth.times, abs=5e-4), fmt

    key_line = next(json.loads(x) for x in exports["jsonl"].splitlines() if '"key_access"' in x)
    assert (key_line["actor"], key_line["reason"]) == ("tech-bob", "DRILL-EXPORT")
    assert key_line["key_id"] == reads[0].details["key_id"]

    passwords = set(_PASSWORD.findall(after_a_run.escrow.read_text(encoding="utf-8")))
    assert passwords and after_a_run.password
    for fmt, text in exports.items():
        plain = text.replace("\\", "")
        assert not [p for p in passwords if p in plain], fmt
        assert after_a_run.password not in plain and after_a_run.password not in text, fmt
