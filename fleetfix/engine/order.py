"""Which hosts go first, and in which waves.

`--priority-tag criticality` puts hosts tagged `criticality=1` before `criticality=2` (numbers
ascending, then other values alphabetically, untagged hosts last); `--priority-tag role=PACS,EMR`
puts PACS hosts first, then EMR, then everyone else. Ties keep the inventory's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fleetfix.engine.policy import Share
from fleetfix.models import Host

_LAST = (3, 0.0, "")


def priority_key(tag: str) -> Callable[[Host], tuple[int, float, str]]:
    """A sort key function for `tag` (see the module docstring)."""
    key, _, listed = tag.partition("=")
    wanted = [value.strip().casefold() for value in listed.split(",") if value.strip()]

    def rank(host: Host) -> tuple[int, float, str]:
        value = host.tag_value(key.strip())
        if value is None:
            return _LAST
        folded = value.casefold()
        if wanted:
            return (0, float(wanted.index(folded)), "") if folded in wanted else _LAST
        try:
            return (1, float(value), "")
        except ValueError:
            return (2, 0.0, folded)

    return rank


def order_hosts(hosts: Sequence[Host], priority_tag: str | None) -> list[Host]:
    if not priority_tag:
        return list(hosts)
    rank = priority_key(priority_tag)
    return sorted(hosts, key=rank)


def plan_waves(
    hosts: Sequence[Host], *, canary: Share | None, wave_size: Share | None
) -> list[list[Host]]:
    """The canary wave (if any) first, then waves of `wave_size` (else one wave of the rest)."""
    remaining = list(hosts)
    waves: list[list[Host]] = []
    if canary is not None and remaining:
        count = canary.of(len(hosts))
        waves.append(remaining[:count])
        remaining = remaining[count:]
    if not remaining:
        return waves
    size = wave_size.of(len(hosts)) if wave_size is not None else len(remaining)
    for start in range(0, len(remaining), size):
        waves.append(remaining[start : start + size])
    return waves
