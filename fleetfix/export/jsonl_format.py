"""JSON Lines for a SIEM: one object per line, each with a `type`; numbers as numbers.

Keys are sorted and times are strings (UTC ISO 8601, or local with its offset), so the same
database gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime

from fleetfix.export.model import GroupStats, HostReport, Report
from fleetfix.export.text import share_value, time_text


def render(report: Report, local: bool) -> str:
    lines = (json.dumps(o, sort_keys=True, ensure_ascii=False) for o in _objects(report, local))
    return "".join(line + "\n" for line in lines)


def _objects(report: Report, local: bool) -> Iterator[dict[str, object]]:
    def when(moment: datetime | None) -> str | None:
        return time_text(moment, local=local) or None

    summary = report.summary
    yield {
        "type": "summary",
        "incident_start": when(summary.incident_start),
        "first_detection": when(summary.first_detection),
        "first_fix": when(summary.first_fix),
        "last_change": when(summary.last_change),
        "filter_tags": list(report.filters.tags),
        "filter_since": when(report.filters.since),
        **_stats(summary.overall),
    }
    for group in summary.by_tag:
        yield {"type": "breakdown", **_stats(group)}
    for sample in report.timeline:
        yield {"type": "timeline", "at": when(sample.at), "recovered": sample.recovered,
               "still_affected": sample.still_affected}  # fmt: skip
    for host in report.hosts:
        yield _host(host, when)
    for item in report.open_items:
        yield {"type": "open_item", "kind": item.kind, "host": item.host,
               "since": when(item.since), "detail": item.detail}  # fmt: skip
    for key in report.key_access:
        yield {"type": "key_access", "at": when(key.at), "event": key.event,
               "key_id": key.key_id, "host": key.host, "actor": key.actor, "reason": key.reason,
               "purpose": key.purpose, "provider": key.provider}  # fmt: skip
    tamper = report.tamper
    yield {"type": "tamper_evidence", "chain_ok": tamper.ok, "rows_checked": tamper.rows_checked,
           "first_bad_row": tamper.first_bad_row, "problem": tamper.problem,
           "last_row_hash": tamper.last_row_hash}  # fmt: skip


def _stats(stats: GroupStats) -> dict[str, object]:
    return {
        "dimension": stats.dimension,
        "value": stats.value,
        "hosts": stats.hosts,
        "states": {state.value: count for state, count in stats.counts},
        "hit": stats.hit,
        "recovered": stats.recovered,
        "share_recovered": share_value(stats.share_recovered),
        "median_seconds_to_recover": stats.median_seconds_to_recover,
        "p90_seconds_to_recover": stats.p90_seconds_to_recover,
    }


def _host(host: HostReport, when: Callable[[datetime | None], str | None]) -> dict[str, object]:
    evidence = host.evidence
    return {
        "type": "host",
        "host": host.name,
        "tags": list(host.tags),
        "diagnosis": None if host.diagnosis is None else host.diagnosis.value,
        "diagnosed_at": when(host.diagnosed_at),
        "diagnosis_reason": host.diagnosis_reason,
        "evidence": None
        if evidence is None
        else {
            "collected_at": when(evidence.collected_at),
            "channel_files": [
                {
                    "name": f.name,
                    "verdict": f.verdict,
                    "last_write_utc": when(f.last_write_utc),
                    "sha256": f.sha256,
                }
                for f in evidence.channel_files
            ],
            "bugchecks": [{"code": b.code, "events": b.events} for b in evidence.bugchecks],
        },
        "actions": [
            {
                "started_at": when(a.started_at),
                "finished_at": when(a.finished_at),
                "step": a.step,
                "attempt": a.attempt,
                "result": a.result,
                "actor": a.actor,
            }
            for a in host.actions
        ],
        "fixed_by": host.fixed_by,
        "state": host.state.value,
        "state_since": when(host.state_since),
        "seconds_to_recover": host.seconds_to_recover,
        "actors": list(host.actors),
    }
