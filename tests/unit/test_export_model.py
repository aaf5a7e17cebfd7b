"""The report's numbers against an incident built through the real Store on a real SQLite file.

`build_incident` is also used by the other export tests: every time is set by hand, so the
expected numbers below are known by construction, not recomputed by the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetfix.credentials import Secret
from fleetfix.export import read_report
from fleetfix.export.model import Report, TimelineSample
from fleetfix.export.stats import median, p90
from fleetfix.keys.audit import KEY_READ, KeyRead, record_key_read, record_rotated
from fleetfix.keys.model import KeyId, RecoveryKeyInfo
from fleetfix.models import Host, HostState
from fleetfix.store import Store, open_reader

T0 = datetime(2024, 7, 19, 4, 0, tzinfo=UTC)
#: Valid BitLocker recovery password (every group divisible by 11) and a plain password, planted
#: where a careless exporter would find them. No export may ever contain either.
CANARY_KEY = "123453-234564-345675-456786-567897-111111-222222-333333"
CANARY_PASSWORD = "Canary-Pa55word-7f3e"
KEY_PACS01 = "D23F0824-128B-4F33-8C5C-7FD0A6A3A450"
KEY_EMR01 = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"  # as KeyId.guid spells it
S = HostState


class SetClock:
    """The store's clock, set by the test to minutes after T0."""

    def __init__(self) -> None:
        self.now = T0

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)

    def __call__(self) -> datetime:
        return self.now


def _host(name: str, site: str, role: str, criticality: str | None = None) -> Host:
    tags = [f"site={site}", f"role={role}"]
    if criticality:
        tags.append(f"criticality={criticality}")
    return Host(name, address="127.0.0.1", tags=tuple(tags))


HOSTS = [
    _host("PACS01", "paris", "pacs", "high"),
    _host("PACS02", "paris", "pacs", "high"),
    _host("RIS01", "lyon", "ris", "medium"),
    _host("EMR01", "lyon", "emr", "high"),
    _host("VNA01", "paris", "vna", "low"),
    _host("WS01", "lyon", "workstation"),
    _host("WS02", "lyon", "workstation"),
    _host("EMR02", "paris", "emr", "high"),
]


def probe_json(name: str, *, collected: datetime) -> dict[str, object]:
    """The probe's JSON as Windows PowerShell 5.1 prints it, plus a field nobody whitelisted."""
    bad_file = {
        "name": "C-00000291-00000000-00000032.sys",
        "path": "C:\\Windows\\System32\\drivers\\CrowdStrike\\C-00000291-00000000-00000032.sys",
        "size": 2048,
        "last_write_utc": "2024-07-19T04:09:00.0000000Z",
        "sha256": "AB" * 32,
        "header_hex": "AAAAAAAA01002301",
    }
    good_file = {**bad_file, "name": "C-00000291-00000000-00000033.sys",
                 "last_write_utc": "2024-07-19T07:00:00.0000000Z", "sha256": "CD" * 32}  # fmt: skip
    crash = {"id": 41, "time_utc": "2024-07-19T04:20:00Z", "bugcheck_code": 80}
    return {
        "host_name": name,
        "collected_at": collected.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        "channel_files": [good_file, bad_file],
        "crash_events": [
            crash,
            {**crash, "time_utc": "2024-07-19T04:30:00Z"},
            {**crash, "bugcheck_code": 126},
            {"id": 6008, "time_utc": "2024-07-19T04:31:00Z"},
        ],
        "bitlocker": {
            "mount_point": "C:",
            "protection_status": 1,
            "volume_status": 1,
            "recovery_key_ids": "{D23F0824-128B-4F33-8C5C-7FD0A6A3A450}",
        },
        "admin_password": CANARY_PASSWORD,
        "recovery_password": CANARY_KEY,
    }


@dataclass
class Incident:
    path: Path
    store: Store
    clock: SetClock

    def move(self, host: str, minutes: float, *states: HostState, actor: str = "engine") -> None:
        self.clock.at(minutes)
        for state in states:
            self.store.transition(host, state, reason=f"{state.value} by test", actor=actor)

    def step(self, run: int, host: str, minutes: float, step: str, status: str) -> None:
        self.clock.at(minutes)
        action = self.store.record_intent(run_id=run, host=host, step=step, destructive=True,
                                          params={"Password": CANARY_PASSWORD})  # fmt: skip
        self.clock.at(minutes + 1)
        # A script that printed what it should not have: the store keeps it, exports must not.
        detail = f'{{"stdout": "password={CANARY_PASSWORD} key={CANARY_KEY}"}}'
        self.store.record_outcome(action, status=status, detail=detail)


def build_incident(tmp_path: Path) -> Incident:
    clock = SetClock()
    store = Store.open(tmp_path / "incident.db", clock=clock)
    incident = Incident(tmp_path / "incident.db", store, clock)
    store.import_hosts(HOSTS, source="cmdb.csv", actor="alice")
    clock.at(5)
    for host in ("PACS01", "PACS02", "RIS01", "EMR01"):
        store.record_facts(host, probe_json(host, collected=clock.now))
    incident.move("PACS01", 10, S.BOOT_LOOP)
    incident.move("VNA01", 10, S.UNREACHABLE)
    incident.move("WS01", 10, S.HEALTHY)
    incident.move("EMR01", 11, S.BOOT_LOOP)
    incident.move("PACS02", 12, S.AFFECTED)
    incident.move("RIS01", 14, S.AFFECTED)
    incident.move("WS02", 15, S.AFFECTED)
    incident.move("EMR02", 18, S.AFFECTED)
    clock.at(12.5)
    fix = store.begin_run(command="run", actor="carol", pack="crowdstrike-291",
                          options={"password": CANARY_PASSWORD})  # fmt: skip
    clock.at(12.6)
    safe = store.begin_run(command="run", actor="dave", pack="safe-mode-cycle")
    incident.move("EMR01", 13, S.REMEDIATING)
    incident.move("EMR01", 14, S.AWAITING_REBOOT)
    incident.move("PACS02", 15, S.REMEDIATING)
    incident.step(fix, "PACS02", 15, "delete-bad-channel-files", "ok")
    incident.move("RIS01", 16, S.REMEDIATING)
    incident.step(fix, "RIS01", 16, "delete-bad-channel-files", "failed")
    incident.move("WS02", 16, S.REMEDIATING)
    incident.step(fix, "WS02", 17, "delete-bad-channel-files", "ok")
    incident.move("EMR02", 19, S.REMEDIATING)
    incident.move("PACS01", 20, S.REMEDIATING)
    incident.step(safe, "PACS01", 21, "enter-safe-mode", "ok")
    incident.step(safe, "PACS01", 23, "reboot-to-safe-mode", "ok")
    incident.move("PACS01", 23, S.AWAITING_REBOOT)
    incident.move("WS02", 26, S.RECOVERED)
    clock.at(30)
    store.transition("RIS01", S.FAILED, actor="engine",
                     reason="delete-bad-channel-files: access denied")  # fmt: skip
    incident.move("EMR01", 40, S.NEEDS_HANDS_ON)
    incident.move("PACS02", 42, S.RECOVERED)
    clock.at(50)
    store.transition("EMR02", S.NEEDS_HANDS_ON, actor="engine",
                     reason="did not come back with a new boot time within 900 s")  # fmt: skip
    incident.move("PACS01", 60, S.REMEDIATING)
    incident.move("PACS01", 70, S.RECOVERED)
    _key_reads(incident)
    incident.move("EMR01", 101, S.RECOVERED, actor="tech-bob")
    clock.at(110)
    store.finish_run(fix, status="finished")
    return incident


def _key_reads(incident: Incident) -> None:
    store, clock = incident.store, incident.clock
    clock.at(45)
    info = RecoveryKeyInfo(key_id=KeyId.parse(KEY_EMR01), provider="csv", host="EMR01")
    read = KeyRead(actor="tech-bob", reason="INC0042 EMR01 boot loop", purpose="lookup")
    record_key_read(store, info, Secret(CANARY_KEY), read=read, hmac_secret=b"s" * 32)
    clock.at(46)
    # A careless caller put the key itself into the details, and pasted it into the reason.
    store.audit(KEY_READ, actor="tech-eve", host="PACS01", details={
        "key_id": KEY_PACS01, "provider": "ad", "purpose": "lookup",
        "reason": f"INC0042 pasted {CANARY_KEY}", "recovery_password": CANARY_KEY,
        "password": CANARY_PASSWORD})  # fmt: skip
    clock.at(80)
    record_rotated(store, actor="alice", host="PACS01", key_id=KEY_PACS01)


@pytest.fixture
def incident(tmp_path: Path) -> Incident:
    built = build_incident(tmp_path)
    built.store.close()
    return built


def report_of(incident: Incident, **kwargs: object) -> Report:
    with open_reader(incident.path) as reader:
        return read_report(reader, **kwargs)  # type: ignore[arg-type]  # tags/since only


# Known by construction: recovered WS02 (15 -> 26 min), PACS02 (12 -> 42), PACS01 (10 -> 70),
# EMR01 (11 -> 101); hit = those four plus RIS01 (failed) and EMR02 (needs hands).
EXPECTED_SECONDS = {"WS02": 660.0, "PACS02": 1800.0, "PACS01": 3600.0, "EMR01": 5400.0}


def test_summary_counts_equal_the_store(incident: Incident) -> None:
    report = report_of(incident)
    overall = report.summary.overall
    with open_reader(incident.path) as reader:
        counts = reader.state_counts()
    assert dict(overall.counts) == dict(counts.counts)
    assert overall.hosts == counts.total == 8
    assert (overall.count(S.UNREACHABLE), overall.count(S.FAILED)) == (1, 1)
    assert (overall.hit, overall.recovered) == (6, 4)
    assert overall.share_recovered == pytest.approx(4 / 6)
    assert overall.median_seconds_to_recover == 2700.0
    assert overall.p90_seconds_to_recover == 5400.0


def test_incident_times(incident: Incident) -> None:
    summary = report_of(incident).summary
    assert summary.incident_start == T0  # the import
    assert summary.first_detection == T0 + timedelta(minutes=10)
    assert summary.first_fix == T0 + timedelta(minutes=26)
    assert summary.last_change == T0 + timedelta(minutes=101)


def test_breakdown_by_site_role_and_criticality(incident: Incident) -> None:
    groups = {(g.dimension, g.value): g for g in report_of(incident).summary.by_tag}
    paris, lyon = groups["site", "paris"], groups["site", "lyon"]
    assert (paris.hosts, paris.hit, paris.recovered) == (4, 3, 2)
    assert (paris.median_seconds_to_recover, paris.p90_seconds_to_recover) == (2700.0, 3600.0)
    assert (lyon.hosts, lyon.hit, lyon.recovered) == (4, 3, 2)
    assert (lyon.median_seconds_to_recover, lyon.p90_seconds_to_recover) == (3030.0, 5400.0)
    assert groups["criticality", "(none)"].hosts == 2  # WS01, WS02 carry no criticality
    assert groups["role", "pacs"].recovered == 2
    with open_reader(incident.path) as reader:
        tag_counts = reader.tag_counts()
    for (dimension, value), group in groups.items():
        if value != "(none)":
            assert dict(group.counts) == tag_counts[f"{dimension}={value}"]


def test_per_host_story(incident: Incident) -> None:
    hosts = {h.name: h for h in report_of(incident).hosts}
    assert [h for h in hosts] == sorted(hosts, key=str.casefold)
    assert {n: h.seconds_to_recover for n, h in hosts.items() if h.seconds_to_recover} == (
        EXPECTED_SECONDS
    )
    assert hosts["PACS01"].fixed_by == "safe-mode cycle"
    assert hosts["PACS02"].fixed_by == "remote"
    assert hosts["EMR01"].fixed_by == "by hand"
    assert hosts["EMR01"].actors == ("engine", "tech-bob")
    pacs = hosts["PACS01"]
    assert pacs.diagnosis is S.BOOT_LOOP
    assert pacs.evidence is not None
    assert [(f.name, f.verdict) for f in pacs.evidence.channel_files] == [
        ("C-00000291-00000000-00000032.sys", "bad")
    ]
    assert [(b.code, b.events) for b in pacs.evidence.bugchecks] == [("0x50", 2), ("0x7E", 1)]
    assert [(a.step, a.result, a.actor) for a in pacs.actions] == [
        ("enter-safe-mode", "ok", "dave"),
        ("reboot-to-safe-mode", "ok", "dave"),
    ]


def test_open_items(incident: Incident) -> None:
    items = [(i.kind, i.host, i.detail) for i in report_of(incident).open_items]
    assert items == [
        ("failed", "RIS01", "delete-bad-channel-files: access denied"),
        ("key_rotation", "EMR01", f"key IDs {KEY_EMR01}"),
        ("needs_hands_on", "EMR02", "did not come back with a new boot time within 900 s"),
    ]


def test_key_access_log_lists_reads_without_keys(incident: Incident) -> None:
    reads = report_of(incident).key_access
    assert [(k.host, k.actor, k.key_id) for k in reads] == [
        ("EMR01", "tech-bob", KEY_EMR01),
        ("PACS01", "tech-eve", KEY_PACS01),
    ]
    assert reads[1].reason == "INC0042 pasted [redacted]"


def test_tamper_evidence_is_the_chains(incident: Incident) -> None:
    tamper = report_of(incident).tamper
    with open_reader(incident.path) as reader:
        verified = reader.verify_audit()
        last = reader.audit_log()[-1]
    assert tamper.ok and tamper.rows_checked == verified.rows_checked == last.id
    assert tamper.last_row_hash is not None and len(tamper.last_row_hash) == 64


def test_timeline_ends_at_the_current_counts(incident: Incident) -> None:
    report = report_of(incident)
    last = report.timeline[-1]
    overall = report.summary.overall
    assert last.recovered == overall.recovered
    still = sum(overall.count(s) for s in (S.FAILED, S.NEEDS_HANDS_ON))
    assert last.still_affected == still
    assert [s.at for s in report.timeline] == sorted({s.at for s in report.timeline})


def test_tag_filter_and_since(incident: Incident) -> None:
    report = report_of(incident, tags=("SITE=Paris", "role=pacs"))
    assert [h.name for h in report.hosts] == ["PACS01", "PACS02"]
    assert report.summary.overall.hosts == 2
    assert [k.host for k in report.key_access] == ["PACS01"]
    since = T0 + timedelta(minutes=22)
    later = report_of(incident, since=since)
    assert all(s.at >= since for s in later.timeline)
    assert all(a.started_at >= since for h in later.hosts for a in h.actions)
    assert later.summary.overall == report_of(incident).summary.overall


def test_since_opens_the_timeline_with_the_counts_in_effect_then(incident: Incident) -> None:
    # At 22 min nobody is recovered yet and six hosts are still hit (PACS01, PACS02, RIS01,
    # EMR01, WS02, EMR02); the next change of counts is WS02 recovering at 26 min.
    since = T0 + timedelta(minutes=22)
    timeline = report_of(incident, since=since).timeline
    first, second = timeline[0], timeline[1]
    assert (first.at, first.recovered, first.still_affected) == (since, 0, 6)
    assert (second.at, second.recovered, second.still_affected) == (
        T0 + timedelta(minutes=26), 1, 5)  # fmt: skip
    assert timeline[1:] == tuple(s for s in report_of(incident).timeline if s.at >= since)
    # A change at `since` itself is the opening sample, not doubled.
    at_change = report_of(incident, since=T0 + timedelta(minutes=26)).timeline
    assert (at_change[0].at, at_change[0].recovered) == (T0 + timedelta(minutes=26), 1)
    assert at_change[1].at > at_change[0].at
    # Before anything happened, and after the last change.
    early = T0 - timedelta(hours=1)
    assert report_of(incident, since=early).timeline[0] == TimelineSample(early, 0, 0)
    late = T0 + timedelta(days=1)
    overall = report_of(incident).summary.overall
    assert report_of(incident, since=late).timeline == (
        TimelineSample(late, overall.recovered, 2),)  # fmt: skip


def test_percentiles_are_nearest_rank() -> None:
    assert p90([5.0, 1.0, 3.0]) == 5.0
    assert p90(list(map(float, range(1, 11)))) == 9.0
    assert median([1.0, 4.0]) == 2.5
    assert p90([]) is None and median([]) is None
