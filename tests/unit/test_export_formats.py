"""Every format carries the same numbers as the store, byte for byte reproducibly, with no
secret and no live markup from hosts."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fleetfix.export import FORMATS, read_report, render
from fleetfix.export.model import Report
from fleetfix.models import Host, HostState
from fleetfix.store import Store, open_reader
from tests.unit.test_export_model import (
    CANARY_KEY,
    CANARY_PASSWORD,
    EXPECTED_SECONDS,
    SetClock,
    build_incident,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    incident = build_incident(tmp_path_factory.mktemp("incident"))
    incident.store.close()
    with open_reader(incident.path) as reader:
        return read_report(reader)


def csv_tables(text: str) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    rows = iter(csv.reader(io.StringIO(text, newline="")))
    for row in rows:
        if len(row) == 1 and row[0].startswith("["):
            columns = next(rows)
            body = found.setdefault(row[0][1:-1], [])
            for line in rows:
                if not line:
                    break
                body.append(dict(zip(columns, line, strict=True)))
    return found


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> _Html:
    parser = _Html()
    parser.feed(text)
    parser.close()
    return parser


def test_csv_numbers_equal_the_store(report: Report) -> None:
    found = csv_tables(render(report, "csv"))
    summary = {row["field"]: row["value"] for row in found["summary"]}
    assert (summary["hosts"], summary["hit"], summary["recovered"]) == ("8", "6", "4")
    assert summary["share_recovered"] == "0.6667"
    assert (summary["median_seconds_to_recover"], summary["p90_seconds_to_recover"]) == (
        "2700", "5400")  # fmt: skip
    states = {row["state"]: int(row["hosts"]) for row in found["states"]}
    assert states == {s.value: n for s, n in report.summary.overall.counts}
    assert states["unreachable"] == 1 and states["failed"] == 1
    lyon = next(r for r in found["breakdown"] if (r["dimension"], r["value"]) == ("site", "lyon"))
    assert (lyon["median_seconds_to_recover"], lyon["p90_seconds_to_recover"]) == ("3030", "5400")
    seconds = {
        r["host"]: r["seconds_to_recover"] for r in found["hosts"] if r["seconds_to_recover"]
    }
    assert seconds == {name: f"{value:.0f}" for name, value in EXPECTED_SECONDS.items()}
    assert len(found["timeline"]) == len(report.timeline)
    assert found["tamper_evidence"][0] == {"field": "chain_ok", "value": "yes"}


def test_jsonl_numbers_equal_the_store(report: Report) -> None:
    objects = [json.loads(line) for line in render(report, "jsonl").splitlines()]
    summary = objects[0]
    assert summary["type"] == "summary"
    assert (summary["hosts"], summary["hit"], summary["recovered"]) == (8, 6, 4)
    assert summary["share_recovered"] == 0.6667
    assert (summary["median_seconds_to_recover"], summary["p90_seconds_to_recover"]) == (
        2700.0, 5400.0)  # fmt: skip
    assert summary["states"] == {s.value: n for s, n in report.summary.overall.counts}
    hosts = {o["host"]: o for o in objects if o["type"] == "host"}
    assert {n: h["seconds_to_recover"] for n, h in hosts.items() if h["seconds_to_recover"]} == (
        EXPECTED_SECONDS
    )
    assert hosts["PACS01"]["evidence"]["bugchecks"] == [
        {"code": "0x50", "events": 2}, {"code": "0x7E", "events": 1}]  # fmt: skip
    assert summary["first_detection"] == "2024-07-19T04:10:00Z"
    assert sum(o["type"] == "timeline" for o in objects) == len(report.timeline)
    assert objects[-1]["type"] == "tamper_evidence" and objects[-1]["chain_ok"] is True


def test_markdown_numbers_equal_the_store(report: Report) -> None:
    text = render(report, "md")
    assert "4 of 6 hosts hit are recovered (66.7 %)" in text
    assert "| hosts | 8 |" in text and "| median\\_seconds\\_to\\_recover | 2700 |" in text
    assert "| site | lyon | 4 |" in text
    assert "| unreachable | 1 |" in text and "| failed | 1 |" in text


def test_html_parses_and_charts_one_point_per_sample(report: Report) -> None:
    parsed = parse_html(render(report, "html"))
    lines = [attrs for tag, attrs in parsed.tags if tag == "polyline"]
    assert [a["class"] for a in lines] == ["recovered", "still_affected"]
    for attrs in lines:
        assert len((attrs["points"] or "").split()) == len(report.timeline) > 5
    text = " ".join(parsed.text)
    assert "4 of 6 hosts hit are recovered (66.7 %)" in text
    cells = [t for t in parsed.text if t.strip()]
    assert "2700" in cells and "5400" in cells
    # Self-contained: nothing fetched, no script.
    assert not [t for t, a in parsed.tags if t in {"script", "link", "img", "iframe"}]
    assert not [a for _, a in parsed.tags if a.get("src") or a.get("href")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_database_gives_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    incident = build_incident(tmp_path)
    incident.store.close()
    outputs = []
    for _ in range(2):
        with open_reader(incident.path) as reader:
            outputs.append(render(read_report(reader), fmt).encode())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_reaches_any_export(report: Report, fmt: str) -> None:
    # Without Markdown's backslashes, which would otherwise hide `123453\-234564...`.
    text = render(report, fmt).replace("\\", "")
    assert CANARY_KEY not in text and CANARY_PASSWORD not in text
    assert "hmac-sha256" not in text  # the key's HMAC stays in the database
    assert "[redacted]" in text  # the pasted key was found and scrubbed, not dropped silently


def test_local_time_shows_the_offset(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        text = render(report, "jsonl", local=True)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert json.loads(text.splitlines()[0])["first_detection"] == "2024-07-19T06:10:00+02:00"


HOSTILE = '=HYPERLINK("http://evil.example/x")<img src=http://evil.example/y>[a](http://e/)'


def test_host_text_is_escaped_everywhere(tmp_path: Path) -> None:
    with Store.open(tmp_path / "hostile.db", clock=SetClock()) as store:
        store.import_hosts([Host(HOSTILE, tags=(f"site={HOSTILE}",))], source="x", actor="a")
        store.transition(HOSTILE, HostState.UNREACHABLE, reason=HOSTILE, actor="engine")
    with open_reader(tmp_path / "hostile.db") as reader:
        report = read_report(reader)
    html_text = render(report, "html")
    assert not [t for t, _ in parse_html(html_text).tags if t == "img"]
    assert HOSTILE in " ".join(parse_html(html_text).text)  # shown, as text
    md = render(report, "md")
    assert "<img" not in md
    assert not re.search(r"(?<!\\)\]\(", md), "an unescaped ](...) would be a link"
    hosts = csv_tables(render(report, "csv"))["hosts"]
    assert hosts[0]["host"] == "'" + HOSTILE  # a spreadsheet shows it, never runs it


def test_the_canaries_are_really_in_the_database(tmp_path: Path) -> None:
    # Otherwise the canary test above would pass for the wrong reason.
    incident = build_incident(tmp_path)
    incident.store.close()
    with open_reader(incident.path) as reader:
        assert any(CANARY_PASSWORD in a.detail for a in reader.actions())
        assert any(CANARY_KEY in json.dumps(r.details) for r in reader.audit_log())
        assert any(CANARY_PASSWORD in json.dumps(f.facts) for f in reader.facts("PACS01"))


def test_every_csv_table_has_unique_column_names(report: Report) -> None:
    rows = list(csv.reader(io.StringIO(render(report, "csv"), newline="")))
    headers = [rows[i + 1] for i, row in enumerate(rows) if len(row) == 1]
    assert len(headers) == 9
    for header in headers:
        assert len(set(header)) == len(header), header
