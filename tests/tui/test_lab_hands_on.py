"""The hands-on path in the war room, against a lab in its own process: a run hands a host on
the BitLocker recovery screen to a technician; the queue shows what to do and the key ID; the
key dialog reveals the key (audited); the technician types it at the lab console and fixes
the host; "fixed by hand" starts the verifying run and the host ends recovered."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import OptionList

from fleetfix.engine import RunPolicy
from fleetfix.engine.keyids import provider_key_ids
from fleetfix.inventory import load_inventory
from fleetfix.keys.audit import KEY_READ
from fleetfix.keys.config import load_keys_config
from fleetfix.lab.process import LabProcess
from fleetfix.models import HostState
from fleetfix.packs import load_packs
from fleetfix.store import Store, open_reader
from tests.integration.test_lab_cli import fleetfix
from tests.tui.conftest import wait_for
from tests.tui.test_lab_run import wait_until_idle
from tests.tui.ui import FIXED_BY_HAND, FleetAccess, FleetfixApp, HandsOnScreen, RunScreen

pytestmark = [pytest.mark.integration, pytest.mark.slow]
S = HostState
_PASSWORD = re.compile(r"\b\d{6}(?:-\d{6}){7}\b")


@pytest.fixture
def outage_lab(tmp_path: Path) -> Iterator[LabProcess]:
    with LabProcess.start(tmp_path / "outage", hosts=20, seed=7, time_scale=20) as lab:
        yield lab


def policy_for(pack: str, dry_run: bool) -> RunPolicy:
    # A silent host goes to the queue after 10 s of watching: long enough for the verifying
    # run to outwait the restart the technician started (90 lab seconds, 4.5 s here).
    return RunPolicy(pack=pack, dry_run=dry_run, concurrency=4, hands_on_after=10.0,
                     watch_interval=0.1, reboot_timeout=60.0, retry_deadline=30.0,
                     connect_timeout=3.0)  # fmt: skip


def console(lab: LabProcess, host: str, *args: str) -> dict[str, object]:
    done = fleetfix("lab", "console", host, *args, "--dir", str(lab.directory))
    assert done.returncode == 0, done.stderr
    shown: dict[str, object] = json.loads(done.stdout)
    return shown


async def wait_for_boot(lab: LabProcess, host: str) -> dict[str, object]:
    # Awaited, the status command in a thread: the dashboard's event loop runs meanwhile.
    for _ in range(150):  # 90 lab seconds of boot at 20x: about 5 s
        asked = await asyncio.to_thread(fleetfix, "lab", "status", "--json", "--dir",
                                        str(lab.directory))  # fmt: skip
        status = json.loads(asked.stdout)
        now: dict[str, object] = next(h for h in status["hosts"] if h["name"] == host)
        if now["state"] == "up":
            return now
        await asyncio.sleep(0.2)
    raise AssertionError(f"{host} did not boot: {now}")


def shown_key(app: FleetfixApp) -> str:
    return str(app.screen.query_one("#key-shown").render())


async def test_hands_on_queue_to_key_to_fixed_by_hand_to_recovered(
    outage_lab: LabProcess, tmp_path: Path
) -> None:
    status = json.loads(fleetfix("lab", "status", "--json", "--dir",
                                 str(outage_lab.directory)).stdout)  # fmt: skip
    stuck = next(h for h in status["hosts"] if h["state"] == "bitlocker_recovery")
    name, key_id = stuck["name"], stuck["recovery_key_id"].strip("{}")
    hosts = list(load_inventory(Path(outage_lab.paths["inventory_csv"])).hosts)
    db = tmp_path / "incident.db"
    with Store.open(db) as store:
        store.import_hosts(hosts, source="lab inventory", actor="pytest")
    keys = load_keys_config(Path(outage_lab.paths["keys_config"]))
    options = outage_lab.connect_options()
    access = FleetAccess(hosts, lambda _host: options, load_packs(), policy_for=policy_for,
                         key_ids_for=provider_key_ids(keys))  # fmt: skip
    app = FleetfixApp(db, actor="carol", keys=keys, access=access, poll_seconds=0.1,
                      reveal_seconds=60)  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        # The run, on the stuck host alone: it never answers, so it goes to the queue.
        await pilot.press("slash", *name, "enter", "a", "x")
        await pilot.click("#run-dry")
        await pilot.click("#run-go")
        await pilot.pause()
        await wait_until_idle(app, seconds=60)
        app.poll()
        record = app.model.get(name)
        assert record is not None and record.state is S.NEEDS_HANDS_ON

        await pilot.press("h")
        await pilot.pause()
        queue = app.screen
        assert isinstance(queue, HandsOnScreen) and [h.name for h in queue.hosts] == [name]
        listed = str(queue.query_one(OptionList).get_option_at_index(0).prompt)
        assert key_id[:8] in listed  # the key ID the recovery screen shows, from the providers
        todo = str(queue.query_one("#todo").render())
        assert "BitLocker recovery screen" in todo and "Safe Mode" in todo

        await pilot.press("k")  # the key dialog for the highlighted host
        await pilot.pause()
        await pilot.press(*key_id[:8], "tab", *"INC-4711 console", "enter")
        await wait_for(lambda: _PASSWORD.search(shown_key(app)), what="the key on screen")
        found = _PASSWORD.search(shown_key(app))
        assert found, shown_key(app)
        key = found.group(0)
        await pilot.press("escape")

        # The technician at the console: the key, safe mode, the channel file, a restart.
        assert console(outage_lab, name, "enter-key", key)["unlocked"] is True
        console(outage_lab, name, "boot", "safe-network")
        await wait_for_boot(outage_lab, name)
        delete = r"del C:\Windows\System32\drivers\CrowdStrike\C-00000291*.sys"
        deleted = console(outage_lab, name, "run", delete)
        assert deleted["exit_code"] == 0, deleted
        console(outage_lab, name, "run", "shutdown /r /t 0")

        # Back in the queue: fixed by hand, then the verifying run the dialog offers.
        await pilot.press("f")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RunScreen) and dialog.hosts == (name,)
        await pilot.click("#run-dry")
        await pilot.click("#run-go")
        await pilot.pause()
        await wait_until_idle(app, seconds=90)
        app.poll()
        record = app.model.get(name)
        assert record is not None and record.state is S.RECOVERED, record
    with open_reader(db) as reader:
        (read,) = reader.audit_log(event=KEY_READ)
        (fixed,) = reader.audit_log(event=FIXED_BY_HAND)
        handed = reader.audit_log(event="host.hands_on")
        assert reader.verify_audit().ok
    assert (read.actor, read.host, read.details["reason"]) == ("carol", name, "INC-4711 console")
    assert (fixed.actor, fixed.host) == ("carol", name)
    assert [r.host for r in handed] == [name]
    for path in tmp_path.glob("incident.db*"):
        if not path.name.endswith(".hmac-key"):
            assert key.encode() not in path.read_bytes(), path
