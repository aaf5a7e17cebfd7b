"""A small, fixed incident written through the real Store API, for the TUI's tests.

Every time comes from a ticking clock pinned to the outage, so the same database (and the same
screen) comes out on every run: that is what makes the snapshots stable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fleetfix.keys.config import EscrowConfig, KeysConfig
from fleetfix.models import Host, HostState
from fleetfix.store import Store
from tests.conftest_store import TickingClock, path_from_new

S = HostState
DATA = Path(__file__).parent.parent / "data"
ESCROW = DATA / "keys" / "escrow.csv"
ESCROW_KEYS = KeysConfig(order=("escrow",), escrow=EscrowConfig(ESCROW))
RIS_KEY_ID = "5E6F7A8B"
RIS_KEY_ID_FULL = "{5E6F7A8B-3333-4000-8000-000000000003}"  # as in escrow.csv
RIS_INSTRUCTIONS = "RIS01: no answer. Boot to Safe Mode and delete the channel file."
RIS_KEY = "467808-117744-648175-092741-358270-289949-234168-389301"
#: What the screen's clock says: two hours after the bad content went out.
NOW = datetime(2024, 7, 19, 6, 9, tzinfo=UTC)
#: Host output a hostile or broken host could print: ANSI escapes, a CR, Rich markup.
HOSTILE = "\x1b[2J\x1b[31mgone[/] [bold red]pwned[/bold red]\rover\x07"

# Name -> the state it ends in. Enough of each to make counts, filters and sorts meaningful.
FLEET: dict[str, HostState] = {
    "PACS01": S.NEEDS_HANDS_ON,
    "RIS01": S.NEEDS_HANDS_ON,
    "EMR01": S.RECOVERED,
    "EMR02": S.RECOVERED,
    "EMR03": S.FAILED,
    "VNA01": S.BOOT_LOOP,
    "VNA02": S.AFFECTED,
    "LAB01": S.HEALTHY,
    "LAB02": S.HEALTHY,
    "LAB03": S.UNREACHABLE,
    "DESK01": S.NEW,
    "DESK02": S.SKIPPED,
}


def hosts() -> list[Host]:
    found = []
    for index, name in enumerate(FLEET):
        site = "paris" if index % 2 else "lyon"
        role = name.rstrip("0123456789").lower()
        found.append(Host(name, address=f"127.0.0.{index + 10}", tags=(f"site={site}", role)))
    return found


def boot_loop_facts() -> dict[str, object]:
    case = json.loads((DATA / "diagnosis" / "boot_loop_bad_files_and_bugchecks.json").read_text())
    facts: dict[str, object] = case["facts"]
    return facts


def build_incident(path: Path) -> Path:
    """Write the incident to `path` (a fresh file) and return it."""
    with Store.open(path, clock=TickingClock()) as store:
        store.import_hosts(hosts(), source="cmdb.csv", actor="alice")
        run_id = store.begin_run(command="run", actor="alice", pack="crowdstrike-291")
        for name, state in FLEET.items():
            for step in path_from_new(state):
                store.transition(name, step, reason=f"{step.value} by the lab", actor="engine",
                                 run_id=run_id)  # fmt: skip
        store.record_facts("PACS01", boot_loop_facts(), run_id=run_id)
        action = store.record_intent(run_id=run_id, host="EMR03", step="remove-channel-files",
                                     destructive=True, params={})  # fmt: skip
        store.record_outcome(action, status="failed", detail=HOSTILE + "x" * 1000)
        store.audit("operator.note", actor="alice", host="PACS01", details={"note": "on site"})
        # The engine's hand-over of RIS01 (PACS01 has none: it was moved by hand, say).
        store.audit("host.hands_on", actor="engine", host="RIS01",
                    details={"run_id": run_id, "why": "no answer", "key_ids": [RIS_KEY_ID_FULL],
                             "instructions": RIS_INSTRUCTIONS})  # fmt: skip
        store.finish_run(run_id, status="finished")
    return path
