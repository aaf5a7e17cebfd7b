"""`--limit` for the probe: the same fnmatch selection as `ping`/`exec` (Ansible-like)."""

from __future__ import annotations

from fleetfix.cli_transport import select_hosts
from fleetfix.models import Host

FLEET = (
    Host(name="pacs-01", tags=("site=north", "role=pacs")),
    Host(name="pacs-02", tags=("site=south", "role=pacs")),
    Host(name="ris-01", tags=("site=north", "role=ris")),
    Host(name="EMR-01", tags=("site=east",)),
)


def _names(limit: str | None) -> list[str]:
    return [host.name for host in select_hosts(FLEET, limit)]


def test_no_limit_selects_every_host() -> None:
    assert _names(None) == ["pacs-01", "pacs-02", "ris-01", "EMR-01"]
    assert _names("") == ["pacs-01", "pacs-02", "ris-01", "EMR-01"]


def test_name_glob_selects_matching_hosts_only() -> None:
    assert _names("pacs-*") == ["pacs-01", "pacs-02"]


def test_tag_glob_selects_by_key_value() -> None:
    assert _names("site=north") == ["pacs-01", "ris-01"]


def test_comma_separated_patterns_are_a_union_in_inventory_order() -> None:
    assert _names("ris-*, role=pacs") == ["pacs-01", "pacs-02", "ris-01"]


def test_matching_ignores_case() -> None:
    assert _names("emr-*") == ["EMR-01"]


def test_pattern_matching_nothing_selects_nothing() -> None:
    assert _names("vna-*") == []
