"""A whole crowdstrike-291 recovery of a lab fleet (the engine, the real clients, the
escalation to safe-mode-cycle), then the proof issue 5 asks for, on every host: nothing
outside C:\\Windows\\System32\\drivers\\CrowdStrike was deleted, and inside it only files
that were bad.

Two witnesses, each checked against the other:
- the file system: every host's files (and folders) are snapshot before and after the run;
- the lab's command history: every script that reached a host, decoded. The only script
  that can delete a file is crowdstrike-291's remediate.ps1, and the files it reported
  deleting (its JSON, kept in the history) are exactly the files that went missing.

Decoys the community scripts of July 2024 would have hit sit on every host: the bad
content in the wrong folder (`drivers\\C-00000291*.sys`), under another channel's name, in a
subfolder and under a lookalike name.
"""

from __future__ import annotations

import fnmatch
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetfix.engine import RunPolicy
from fleetfix.lab.clock import LabClock
from fleetfix.lab.fleet import Lab
from fleetfix.lab.host import LabContext, LabHost
from fleetfix.lab.machine import Machine, add_channel_file
from fleetfix.lab.truth import Condition
from fleetfix.models import HostState
from fleetfix.packs import Script, load_packs
from fleetfix.transports.script import command_for, last_line_json, with_params
from tests.integration.test_engine_run import (
    carried,
    drive,
    final_states,
    lab_hosts,
    open_store,
    script_of,
    start_lab,
    truths,
)

pytestmark = pytest.mark.integration

CS = "C:\\Windows\\System32\\drivers\\CrowdStrike"
BAD_FILE = f"{CS}\\C-00000291-00000000-00000032.sys"  # what add_channel_file writes
BAD_HEADER = bytes.fromhex("AAAAAAAA01002301")
BAD_TIME = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
# The pack's default (strict) rule: good only if written after 06:27 UTC.
STRICT_GOOD_AFTER = datetime(2024, 7, 19, 6, 27, tzinfo=UTC)
DECOYS = (
    "C:\\Windows\\System32\\drivers\\C-00000291-00000000-00000032.sys",  # the wrong folder
    f"{CS}\\C-00000290-00000000-00000001.sys",  # another channel
    f"{CS}\\Backup\\C-00000291-00000000-00000032.sys",  # a subfolder
    f"{CS}\\C-00000291-00000000-00000032.sys.bak",  # a lookalike name
)


def _remediate() -> Script:
    script = load_packs()["crowdstrike-291"].steps[0].script
    assert script is not None and script.path.name == "remediate.ps1"
    return script


REMEDIATE = _remediate()

# Anything in PowerShell or cmd.exe that deletes a file or folder: Remove-Item and its
# aliases (not Remove-ItemProperty, a registry value), and .NET's Delete methods.
DELETES = re.compile(
    r"(?<![\w-])(remove-item|ri|rm|rmdir|rd|del|erase)(?![\w-])|(::|\.)delete\s*\(",
    re.IGNORECASE,
)

# 12 hosts, seed 7: 2 healthy, 2 affected_up, 1 tamper-protected, 4 boot_loop_window,
# 2 boot_loop_unreachable, 1 bitlocker_recovery (see test_engine_run).
POLICY = RunPolicy(
    pack="crowdstrike-291", concurrency=12, hands_on_after=8.0, watch_interval=0.05,
    retry_initial=0.2, retry_max_wait=2.0, retry_deadline=10.0, reboot_timeout=30.0,
    connect_timeout=3.0, probe_timeout=30.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Seen:
    path: str
    data: bytes
    last_write_utc: datetime
    is_directory: bool


def snapshot(host: LabHost) -> dict[str, Seen]:
    """Every file and folder on the host, by case-folded path (Windows paths are)."""
    seen = (Seen(e.path, e.data, e.last_write_utc, e.is_directory) for e in host.machine.files)
    return {entry.path.casefold(): entry for entry in seen}


def plant_decoys(host: LabHost) -> None:
    for path in DECOYS:
        host.machine.files.write_file(path, BAD_HEADER + bytes(248), last_write_utc=BAD_TIME)


def was_bad(seen: Seen) -> bool:
    """A file the pack may delete: directly in the folder, the name pattern, the bad header,
    and written no later than the strict rule's cut-off."""
    folder, _, name = seen.path.rpartition("\\")
    return (
        not seen.is_directory
        and folder.casefold() == CS.casefold()
        and fnmatch.fnmatchcase(name.casefold(), "c-00000291*.sys")
        and seen.data.startswith(BAD_HEADER)
        and seen.last_write_utc <= STRICT_GOOD_AFTER
    )


def remediate_reports(host: LabHost) -> list[dict[str, Any]]:
    """From the host's history, oldest first: what each remediate.ps1 run reported. On the
    way, every other script that reached the host is shown to delete nothing."""
    # A bounded history that dropped records would leave the proof with holes.
    assert host.commands_received == len(host.history), host.name
    reports: list[dict[str, Any]] = []
    for record in host.history:
        # A PSRP pipeline is recorded by cmdlet names only: it would hide the script.
        assert record.transport != "psrp", (host.name, record.command)
        if carried(record, REMEDIATE.text):
            report = last_line_json(record.stdout)
            assert report is not None, (host.name, record.stdout[-300:])
            reports.append(report)
        else:
            script = script_of(record)
            assert not DELETES.search(script), (host.name, script[:300])
    return reports


def check_host(host: LabHost, before: dict[str, Seen], after: dict[str, Seen]) -> set[str]:
    """The proof for one host; returns the paths it lost."""
    gone = set(before) - set(after)
    not_bad = sorted(before[p].path for p in gone if not was_bad(before[p]))
    assert not_bad == [], (host.name, not_bad)
    reports = remediate_reports(host)
    witnessed = {f"{CS}\\{name}".casefold() for r in reports for name in r["deleted"]}
    assert witnessed <= gone, (host.name, sorted(witnessed - gone))
    # The lab's own healing (the sensor fetched good content) removes bad files too;
    # otherwise every missing file is one that remediate.ps1 reported deleting.
    if host.status().heals == 0:
        assert gone == witnessed, (host.name, sorted(gone ^ witnessed))
    for decoy in DECOYS:
        assert decoy.casefold() in after, (host.name, decoy)
    return gone


def test_the_deletion_detector_sees_deleting_scripts() -> None:
    assert DELETES.search(REMEDIATE.text)
    for line in ("Remove-Item -LiteralPath $p -Force", "del C:\\x.sys", "[IO.File]::Delete($p)",
                 "gci $f | rm", "$file.Delete()"):  # fmt: skip
        assert DELETES.search(line), line
    for line in ("Remove-ItemProperty -Path $k -Name v", "bcdedit /deletevalue safeboot",
                 "$deleted += $file.Name", "# deletes nothing"):  # fmt: skip
        assert not DELETES.search(line), line


def one_host() -> LabHost:
    context = LabContext.create(LabClock(time_scale=10_000.0))
    machine = Machine.default(hostname="PACS-WS-0001", rng=random.Random(5),
                              administrator_password="Lab-Passw0rd!",
                              at=context.clock.start - timedelta(hours=5))  # fmt: skip
    machine.tamper_protection = False
    add_channel_file(machine, bad=True)
    host = LabHost(name="PACS-WS-0001", address="127.77.0.1", machine=machine,
                   context=context, rng=random.Random(5))  # fmt: skip
    plant_decoys(host)
    return host


def send(host: LabHost, script: str) -> None:
    """As a transport sends a script: fixed prologue, -EncodedCommand or stdin."""
    command, stdin = command_for(with_params(script, {}))
    host.execute(command, stdin=stdin, codepage=65001)


@pytest.mark.parametrize("deleting", [False, True], ids=["remediate-only", "community-script"])
def test_the_proof_fails_a_host_where_anything_else_was_deleted(deleting: bool) -> None:
    host = one_host()
    before = snapshot(host)
    send(host, REMEDIATE.text)
    if not deleting:
        assert check_host(host, before, snapshot(host)) == {BAD_FILE.casefold()}
        return
    send(host, f"Remove-Item -Path '{DECOYS[0]}' -Force")  # July 2024: one folder too high
    with pytest.raises(AssertionError, match=re.escape(repr(DECOYS[0]))):
        check_host(host, before, snapshot(host))


@pytest.mark.slow
async def test_a_fleet_recovery_deletes_only_bad_channel_files_on_every_host(
    tmp_path: Path,
) -> None:
    lab: Lab = await start_lab(tmp_path / "lab", hosts=12)
    try:
        hosts = lab_hosts(lab)
        answer_key = truths(lab)
        for host in lab.fleet.hosts:
            plant_decoys(host)
        before = {host.name: snapshot(host) for host in lab.fleet.hosts}
        with open_store(tmp_path / "i.db", hosts) as store:
            events = await drive(lab, store, hosts, POLICY)
        after = {host.name: snapshot(host) for host in lab.fleet.hosts}
        states = final_states(events)

        lost = {h.name: check_host(h, before[h.name], after[h.name]) for h in lab.fleet.hosts}

        # Not a vacuous proof: the up hosts were fixed, so bad files were deleted; the
        # tamper-protected one was denied in normal mode and fixed inside the safe-mode cycle.
        up = {n for n, t in answer_key.items() if t.condition is Condition.AFFECTED_UP}
        (tamper,) = [n for n, t in answer_key.items()
                     if t.condition is Condition.AFFECTED_TAMPER_PROTECTED]  # fmt: skip
        assert {states[n] for n in {*up, tamper}} == {HostState.RECOVERED}, states
        assert all(lost[n] for n in {*up, tamper}), lost
        reports = remediate_reports(lab.host(tamper))
        assert reports[0]["reason"] == "access_denied" and reports[0]["deleted"] == []
        assert reports[-1]["ok"] and reports[-1]["deleted"], reports
    finally:
        await lab.stop()
