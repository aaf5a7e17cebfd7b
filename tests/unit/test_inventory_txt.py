"""Plain-text host lists: one host per line, comments, ports and IPv6."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetfix.errors import InventoryError
from fleetfix.inventory import load_inventory
from fleetfix.models import Host, Transport

DATA = Path(__file__).parent.parent / "data" / "inventory"


def write(tmp_path: Path, text: str, name: str = "hosts.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_host_list_loads_every_host_with_ports_and_ipv6() -> None:
    inventory = load_inventory(DATA / "hosts.txt")
    assert inventory.fmt == "txt"
    assert inventory.hosts == (
        Host("pacs-app01"),
        Host("pacs-app02.rad.example.org"),
        Host("ris-db01", port=5986),
        Host("10.20.0.15", address="10.20.0.15"),
        Host("fd00::15", address="fd00::15", port=5985),
        Host("fd00::16", address="fd00::16"),
    )
    assert inventory.rejected == ()


def test_comments_and_blank_lines_are_not_hosts(tmp_path: Path) -> None:
    path = write(tmp_path, "# header\n\n   \nweb01  # trailing comment\n\t# indented comment\n")
    assert [h.name for h in load_inventory(path).hosts] == ["web01"]


def test_crlf_and_cr_line_ends_count_lines_like_an_editor(tmp_path: Path) -> None:
    path = write(tmp_path, "web01\r\nweb02\rbad_name\r\n")
    with pytest.raises(InventoryError, match=r"hosts\.txt:3: host name 'bad_name'"):
        load_inventory(path)


def test_two_words_on_a_line_are_rejected_not_guessed(tmp_path: Path) -> None:
    path = write(tmp_path, "web01 web02\n")
    with pytest.raises(InventoryError, match="one host per line"):
        load_inventory(path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("web01:0", "port 0 is out of range"),
        ("web01:65536", "port 65536 is out of range"),
        ("web01:" + "9" * 5000, "is out of range"),
        ("web01:https", "is not a number"),
        ("web01:", "is not a number"),
        ("[fd00::1]:99999", "out of range"),
        ("fd00::zz", "not a valid IPv6 address"),
        ("[fd00::1", "write an IPv6 address and port as"),
        ("-web01", "not a valid host name"),
        ("10.0.0.256", "looks like an IPv4 address"),
        ("a" * 64 + ".example.org", "label of 64 characters"),
    ],
)
def test_invalid_lines_are_refused_with_their_line_number(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = write(tmp_path, f"good01\n{line}\n")
    with pytest.raises(InventoryError, match=r"hosts\.txt:2: .*") as caught:
        load_inventory(path)
    assert problem in str(caught.value)


def test_bracketed_ipv6_without_port_is_an_address(tmp_path: Path) -> None:
    path = write(tmp_path, "[::1]\n")
    assert load_inventory(path).hosts == (Host("::1", address="::1"),)


def test_names_of_253_characters_are_accepted_and_254_refused(tmp_path: Path) -> None:
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(longest) == 253
    assert load_inventory(write(tmp_path, longest + "\n")).hosts[0].name == longest
    with pytest.raises(InventoryError, match="at most 253"):
        load_inventory(write(tmp_path, longest + "b\n", name="long.txt"))


def test_a_name_longer_than_netbios_allows_is_a_warning_not_an_error(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "radiology-reading-room-ws01.example.org\n"))
    assert len(inventory.hosts) == 1
    assert len(inventory.warnings) == 1
    assert "NetBIOS" in str(inventory.warnings[0])
    assert str(inventory.warnings[0]).startswith(f"{tmp_path / 'hosts.txt'}:1: ")


def test_txt_hosts_have_the_auto_transport(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "web01:5986\n"))
    assert inventory.hosts[0].transport is Transport.AUTO
