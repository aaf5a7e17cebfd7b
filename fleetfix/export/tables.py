"""The report as titled tables of text cells, shared by the CSV, Markdown and HTML renderers,
so a number reads the same in every format. Rows keep the model's order (already sorted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fleetfix.export.model import GroupStats, HostReport, Report
from fleetfix.export.text import seconds_text, share_value, time_text
from fleetfix.models import HostState

STATES = tuple(HostState)


@dataclass(frozen=True, slots=True)
class Table:
    key: str  # stable machine name: "summary", "hosts" ...
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def tables(report: Report, *, local: bool) -> list[Table]:
    summary = report.summary

    def when(moment: datetime | None) -> str:
        return time_text(moment, local=local)

    overall = summary.overall
    facts = [
        ("incident_start", when(summary.incident_start)),
        ("first_detection", when(summary.first_detection)),
        ("first_fix", when(summary.first_fix)),
        ("last_change", when(summary.last_change)),
        *_stats_pairs(overall),
        ("filter_tags", "; ".join(report.filters.tags)),
        ("filter_since", when(report.filters.since)),
    ]
    tamper = report.tamper
    return [
        Table("summary", "Summary", ("field", "value"), tuple(facts)),
        Table(
            "states",
            "Hosts per state",
            ("state", "hosts"),
            tuple((s.value, str(n)) for s, n in overall.counts),
        ),
        Table(
            "breakdown",
            "By site, role and criticality",
            _BREAKDOWN_COLUMNS,
            tuple(_breakdown_row(g) for g in (overall, *summary.by_tag)),
        ),
        Table(
            "timeline",
            "Timeline",
            ("at", "recovered", "still_affected"),
            tuple((when(s.at), str(s.recovered), str(s.still_affected)) for s in report.timeline),
        ),
        Table("hosts", "Hosts", _HOST_COLUMNS, tuple(_host_row(h, local) for h in report.hosts)),
        Table(
            "actions",
            "Actions",
            ("host", "started_at", "finished_at", "step", "attempt", "result", "actor"),
            tuple(
                (
                    h.name,
                    when(a.started_at),
                    when(a.finished_at),
                    a.step,
                    str(a.attempt),
                    a.result,
                    a.actor,
                )
                for h in report.hosts
                for a in h.actions
            ),
        ),
        Table(
            "open_items",
            "Open items",
            ("kind", "host", "since", "detail"),
            tuple((i.kind, i.host, when(i.since), i.detail) for i in report.open_items),
        ),
        Table(
            "key_access",
            "Key access log",
            ("at", "event", "key_id", "host", "actor", "reason", "purpose", "provider"),
            tuple(
                (when(k.at), k.event, k.key_id, k.host, k.actor, k.reason, k.purpose, k.provider)
                for k in report.key_access
            ),
        ),
        Table(
            "tamper_evidence",
            "Tamper evidence (audit chain)",
            ("field", "value"),
            (
                ("chain_ok", "yes" if tamper.ok else "NO"),
                ("rows_checked", str(tamper.rows_checked)),
                ("first_bad_row", _text(tamper.first_bad_row)),
                ("problem", tamper.problem or ""),
                ("last_row_hash", tamper.last_row_hash or ""),
            ),
        ),
    ]


_BREAKDOWN_COLUMNS = (
    # `recovered` is one of the states' columns already.
    "dimension", "value", "hosts", *(s.value for s in STATES), "hit", "share_recovered",
    "median_seconds_to_recover", "p90_seconds_to_recover",
)  # fmt: skip
_HOST_COLUMNS = (
    "host", "tags", "diagnosis", "diagnosed_at", "diagnosis_reason", "bad_channel_files",
    "bugchecks", "fixed_by", "state", "state_since", "seconds_to_recover", "actors",
)  # fmt: skip


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _share(value: float | None) -> str:
    rounded = share_value(value)
    return "" if rounded is None else f"{rounded:.4f}".rstrip("0").rstrip(".")


def _stats_pairs(stats: GroupStats) -> list[tuple[str, str]]:
    return [
        ("hosts", str(stats.hosts)),
        ("hit", str(stats.hit)),
        ("recovered", str(stats.recovered)),
        ("share_recovered", _share(stats.share_recovered)),
        ("median_seconds_to_recover", seconds_text(stats.median_seconds_to_recover)),
        ("p90_seconds_to_recover", seconds_text(stats.p90_seconds_to_recover)),
    ]


def _breakdown_row(stats: GroupStats) -> tuple[str, ...]:
    return (
        stats.dimension,
        stats.value,
        str(stats.hosts),
        *(str(n) for _, n in stats.counts),
        str(stats.hit),
        _share(stats.share_recovered),
        seconds_text(stats.median_seconds_to_recover),
        seconds_text(stats.p90_seconds_to_recover),
    )


def _host_row(host: HostReport, local: bool) -> tuple[str, ...]:
    evidence = host.evidence
    files: Sequence[str] = ()
    bugchecks: Sequence[str] = ()
    if evidence is not None:
        files = [
            f"{f.name} ({f.verdict}, {time_text(f.last_write_utc, local=local)}, "
            f"sha256 {f.sha256 or 'unknown'})"
            for f in evidence.channel_files
        ]
        bugchecks = [f"{b.code} x{b.events}" for b in evidence.bugchecks]
    return (
        host.name,
        "; ".join(host.tags),
        _text(host.diagnosis and host.diagnosis.value),
        time_text(host.diagnosed_at, local=local),
        host.diagnosis_reason,
        "; ".join(files),
        "; ".join(bugchecks),
        host.fixed_by or "",
        host.state.value,
        time_text(host.state_since, local=local),
        seconds_text(host.seconds_to_recover),
        "; ".join(host.actors),
    )
