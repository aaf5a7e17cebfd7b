"""Which hosts a resumed run treats as finished, from a real incident database: a host in a
final state whose last action has no outcome is not finished (found by the kill -9 test: the
probe had called the host healthy, fleetfix died during its detect, and `--resume` skipped it,
leaving the intent open for ever)."""

from __future__ import annotations

from pathlib import Path

from fleetfix.engine import RunPolicy, find_resumable
from fleetfix.models import Host, HostState, Transport
from fleetfix.store import Store


def hosts() -> list[Host]:
    return [
        Host(name, address=f"127.77.0.{i}", port=5985, transport=Transport.WINRM)
        for i, name in enumerate(("WS-DETECTING", "WS-DONE", "WS-WORKING"), start=1)
    ]


def test_a_healthy_host_with_an_open_intent_is_resumed_not_skipped(tmp_path: Path) -> None:
    with Store.open(tmp_path / "incident.db") as store:
        store.import_hosts(hosts(), source="test", actor="test")
        policy = RunPolicy(pack="crowdstrike-291")
        run_id = store.begin_run(command="run", actor="test", pack="crowdstrike-291",
                                 options=policy.as_dict())  # fmt: skip
        for name in ("WS-DETECTING", "WS-DONE"):
            store.transition(name, HostState.HEALTHY, reason="probe", actor="test", run_id=run_id)
        closed = store.record_intent(run_id=run_id, host="WS-DONE", step="crowdstrike-291/detect",
                                     destructive=False, params={})  # fmt: skip
        store.record_outcome(closed, status="ok", detail="compliant")
        store.record_intent(run_id=run_id, host="WS-DETECTING", step="crowdstrike-291/detect",
                            destructive=False, params={})  # fmt: skip
        store.transition("WS-WORKING", HostState.AFFECTED, reason="probe", actor="test",
                         run_id=run_id)  # fmt: skip

        found, _, resume = find_resumable(store, None)

    assert found == run_id
    assert resume.done == frozenset({"ws-done"})
    assert [a.step for a in resume.earlier["ws-detecting"]] == ["crowdstrike-291/detect"]
