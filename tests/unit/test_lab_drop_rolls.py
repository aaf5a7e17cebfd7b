"""The random `drop` fault rolls anew at every boot: a boot-looping host whose listeners are
made again for each reachable window must not drop the same requests in every window."""

from __future__ import annotations

from fleetfix.lab.clock import LabClock
from fleetfix.lab.scenarios import build_fleet
from fleetfix.lab.wsman.server import WsmanEndpoint


def rolls(endpoint: WsmanEndpoint) -> list[float]:
    return [endpoint.rng.random() for _ in range(20)]


def test_drop_rolls_differ_between_boots_and_repeat_for_the_same_boot() -> None:
    clock = LabClock()
    fleet = build_fleet("service-outage", hosts=1, seed=3, clock=clock, password="Lab-1!")
    (host,) = fleet.hosts
    this_boot = rolls(WsmanEndpoint(host, clock))
    assert rolls(WsmanEndpoint(host, clock)) == this_boot  # a lab run can be replayed
    before = host.boot_generation
    host.crash()
    assert host.boot_generation != before
    assert rolls(WsmanEndpoint(host, clock)) != this_boot
