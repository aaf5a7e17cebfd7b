"""`read_report`: the one function that reads the incident database for an export.

Everything is read inside one read transaction, so a report taken while a run is writing is
still one consistent moment of the incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from fleetfix.errors import ConfigError
from fleetfix.export import queries
from fleetfix.export.hosts import host_report
from fleetfix.export.model import (
    BREAKDOWN_KEYS,
    UNTAGGED,
    Filters,
    GroupStats,
    KeyAccess,
    OpenItem,
    Report,
    Summary,
    TamperEvidence,
)
from fleetfix.export.stats import DETECTED, group_stats, timeline
from fleetfix.export.text import scrub
from fleetfix.keys.audit import KEY_READ, KEY_REJECTED, pending_rotations
from fleetfix.models import HostState
from fleetfix.store import Reader
from fleetfix.store import audit as audit_chain
from fleetfix.store.connect import fold, snapshot
from fleetfix.store.records import ActionRecord, AuditRecord, HostRecord, TransitionRecord

_KEY_EVENTS = (KEY_READ, KEY_REJECTED)


def read_report(
    reader: Reader, *, tags: Sequence[str] = (), since: datetime | None = None
) -> Report:
    """The report for hosts carrying every tag in `tags` (`key=value`, case-insensitive).
    `since` limits the listed events (timeline, actions, key reads); counts and times to
    recover always describe the hosts as they are now."""
    wanted = tuple(_parse_tag(tag) for tag in tags)
    with snapshot(queries.connection(reader)) as conn:
        hosts = [h for h in reader.hosts() if all(_has_tag(h, t) for t in wanted)]
        names = {h.name for h in hosts}
        transitions = [t for t in reader.transitions() if t.host in names]
        history = _by_host(transitions)
        runs = {run.id: run for run in reader.runs()}
        actions = [a for a in reader.actions() if a.host in names]
        facts = queries.all_facts(reader)
        audit = reader.audit_log()
        verified = audit_chain.verify(conn)
        last_hash = queries.last_audit_hash(reader)
        rotations = pending_rotations(reader)
    actions_by_host: dict[str, list[ActionRecord]] = {}
    for action in actions:
        actions_by_host.setdefault(action.host, []).append(action)
    host_reports = tuple(
        host_report(
            host,
            history=history.get(host.name, []),
            actions=actions_by_host.get(host.name, []),
            facts=facts.get(host.name, []),
            runs=runs,
            since=since,
        )
        for host in hosts
    )
    started = [t.at for t in transitions] + [r.started_at for r in runs.values()]
    summary = Summary(
        incident_start=min(started, default=None),
        first_detection=min((t.at for t in transitions if t.to_state in DETECTED), default=None),
        first_fix=min(
            (t.at for t in transitions if t.to_state is HostState.RECOVERED), default=None
        ),
        last_change=max((t.at for t in transitions), default=None),
        overall=group_stats("all", "all", hosts, history),
        by_tag=tuple(_breakdowns(hosts, history)),
    )
    open_items = _open_items(hosts) + tuple(
        OpenItem(
            kind="key_rotation",
            host=rotation.host or "",
            since=rotation.first_read,
            detail="key IDs " + ", ".join(rotation.key_ids),
        )
        for rotation in rotations
        if (rotation.host in names if wanted else True)
    )
    return Report(
        filters=Filters(tags=tuple(f"{k}={v}" for k, v in wanted), since=since),
        summary=summary,
        timeline=timeline(transitions, since=since),
        hosts=host_reports,
        open_items=tuple(sorted(open_items, key=lambda i: (i.kind, fold(i.host), i.since))),
        key_access=_key_access(audit, names=names if wanted else None, since=since),
        tamper=TamperEvidence(
            ok=verified.ok,
            rows_checked=verified.rows_checked,
            first_bad_row=verified.first_bad_row,
            problem=verified.problem,
            last_row_hash=last_hash,
        ),
    )


def _parse_tag(tag: str) -> tuple[str, str]:
    key, sep, value = tag.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--tag {tag!r}: give it as KEY=VALUE, e.g. site=paris")
    return fold(key.strip()), fold(value.strip())


def _tag_pairs(host: HostRecord) -> Iterable[tuple[str, str]]:
    for tag in host.tags:
        key, sep, value = tag.partition("=")
        if sep:
            yield fold(key.strip()), fold(value.strip())


def _has_tag(host: HostRecord, wanted: tuple[str, str]) -> bool:
    return wanted in set(_tag_pairs(host))


def _by_host(transitions: Sequence[TransitionRecord]) -> dict[str, list[TransitionRecord]]:
    history: dict[str, list[TransitionRecord]] = {}
    for record in transitions:
        history.setdefault(record.host, []).append(record)
    return history


def _breakdowns(
    hosts: Sequence[HostRecord], history: dict[str, list[TransitionRecord]]
) -> Iterable[GroupStats]:
    for key in BREAKDOWN_KEYS:
        groups: dict[str, list[HostRecord]] = {}
        for host in hosts:
            value = next((v for k, v in _tag_pairs(host) if k == key), UNTAGGED)
            groups.setdefault(value, []).append(host)
        if set(groups) == {UNTAGGED}:
            continue  # nobody carries this tag: a breakdown would be one row saying so
        for value in sorted(groups):
            yield group_stats(key, value, groups[value], history)


def _open_items(hosts: Sequence[HostRecord]) -> tuple[OpenItem, ...]:
    # The state's reason is fleetfix's own words for why it stopped (the last error for a
    # failed host); a step's raw output is never shown.
    kinds = {HostState.NEEDS_HANDS_ON: "needs_hands_on", HostState.FAILED: "failed"}
    return tuple(
        OpenItem(kind=kinds[h.state], host=h.name, since=h.since, detail=scrub(h.reason))
        for h in hosts
        if h.state in kinds
    )


def _key_access(
    audit: Sequence[AuditRecord], *, names: set[str] | None, since: datetime | None
) -> tuple[KeyAccess, ...]:
    folded = None if names is None else {fold(n) for n in names}
    return tuple(
        _key_line(row)
        for row in audit
        if row.event in _KEY_EVENTS
        and (since is None or row.at >= since)
        and (folded is None or (row.host is not None and fold(row.host) in folded))
    )


def _key_line(row: AuditRecord) -> KeyAccess:
    # Whitelisted fields only: key_hmac stays in the database, and anything else a caller
    # put in the details (by mistake, a key) is never looked at.
    details = row.details
    return KeyAccess(
        at=row.at,
        event=row.event,
        key_id=scrub(str(details.get("key_id", ""))),
        host=row.host or "",
        actor=row.actor,
        reason=scrub(str(details.get("reason", ""))),
        purpose=scrub(str(details.get("purpose", ""))),
        provider=scrub(str(details.get("provider", ""))),
    )
