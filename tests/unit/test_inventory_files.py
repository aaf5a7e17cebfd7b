"""What load_inventory does with whole files: refusing non-inventories cleanly, all or nothing,
duplicates, skip_invalid, and choosing the format."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetfix.errors import InventoryError
from fleetfix.inventory import FORMATS, MAX_INVENTORY_BYTES, Problem, load_inventory

DATA = Path(__file__).parent.parent / "data" / "inventory"


def write(tmp_path: Path, data: str | bytes, name: str = "hosts.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="the file is empty"):
        load_inventory(write(tmp_path, b""))


def test_a_file_of_comments_has_no_hosts(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"no hosts found \(read as txt\)"):
        load_inventory(write(tmp_path, "# nothing yet\n\n"))


def test_a_binary_file_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.txt:2: contains the control character"):
        load_inventory(write(tmp_path, b"web01\n\x00\x01\x02binary"))


def test_undecodable_bytes_are_refused_with_advice_to_save_as_utf8(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.csv:2: not valid UTF-8 .*CSV UTF-8"):
        load_inventory(write(tmp_path, "Hostname\nK\xd6LN01\n".encode("cp1252"), "hosts.csv"))


def test_utf16_without_bom_is_refused_not_misread(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="without a byte order mark"):
        load_inventory(write(tmp_path, "web01\n".encode("utf-16-le")))


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as sparse:  # sparse: no disk space, and nothing to read
        sparse.truncate(MAX_INVENTORY_BYTES + 1)
    with pytest.raises(InventoryError, match="larger than the 200 MB"):
        load_inventory(path)


def test_a_missing_file_and_a_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such file"):
        load_inventory(tmp_path / "missing.csv")
    with pytest.raises(InventoryError, match="not a regular file"):
        load_inventory(tmp_path)


def test_an_unknown_format_is_refused_listing_the_formats(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="use one of auto, txt, csv"):
        load_inventory(write(tmp_path, "web01\n"), fmt="xlsx")
    assert FORMATS == ("auto", "txt", "csv", "ansible-ini", "ansible-yaml")


def test_one_bad_line_means_no_host_is_imported(tmp_path: Path) -> None:
    path = write(tmp_path, "web01\nweb_02\nweb03\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 1 problem, so no host was imported")
    assert "--skip-invalid" in message
    assert f"{path}:2: host name 'web_02'" in message


def test_the_refusal_lists_twenty_problems_and_counts_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(f"bad_{n}\n" for n in range(25)))
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    lines = str(caught.value).splitlines()
    assert "25 problems" in lines[0]
    assert len(lines) == 1 + 20 + 1
    assert lines[-1].strip() == "... and 5 more"


def test_skip_invalid_keeps_valid_hosts_and_lists_each_rejected_line(tmp_path: Path) -> None:
    inventory = load_inventory(
        write(tmp_path, "web01\nweb_02\nweb03:99999\nweb04\n"), skip_invalid=True
    )
    assert [h.name for h in inventory.hosts] == ["web01", "web04"]
    assert [p.line for p in inventory.rejected] == [2, 3]


def test_skip_invalid_with_nothing_valid_returns_no_hosts(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "bad_1\n"), skip_invalid=True)
    assert inventory.hosts == ()
    assert len(inventory.rejected) == 1


def test_duplicates_ignoring_case_name_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "Hostname\nPACS01\nris01\npacs01.\n", name="hosts.csv")
    with pytest.raises(InventoryError, match=r"hosts\.csv:4: duplicate host 'pacs01'.*line 2"):
        load_inventory(path)
    inventory = load_inventory(path, skip_invalid=True)
    assert [h.name for h in inventory.hosts] == ["PACS01", "ris01"]


def test_problem_prints_as_file_line_message() -> None:
    assert str(Problem(Path("hosts.csv"), 12, "bad")) == "hosts.csv:12: bad"
    assert str(Problem(Path("hosts.csv"), None, "bad")) == "hosts.csv: bad"


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("hosts", "web01\nweb02:5986\n", "txt"),
        ("hosts", "[pacs]\npacs01\n", "ansible-ini"),
        ("hosts", "pacs01 ansible_host=10.0.0.1\n", "ansible-ini"),
        ("hosts", "# fleet\nall:\n  hosts:\n    web01:\n", "ansible-yaml"),
        ("hosts", "---\nall: {hosts: {web01: }}\n", "ansible-yaml"),
        ("export", "Hostname;IP\nweb01;10.0.0.1\n", "csv"),
        ("hosts.list", "[::1]:5986\n", "txt"),
        ("hosts.TXT", "Computer Name\tIP\nweb01\t10.0.0.1\n", "csv"),
        ("hosts.txt", "web01\n", "txt"),
        ("hosts.txt", "Computer Name\nweb01\n", "csv"),
        ("hosts.CSV", "Hostname\nweb01\n", "csv"),
        ("hosts.ini", "web01\n", "ansible-ini"),
        ("hosts.yaml", "all:\n  hosts:\n    web01:\n", "ansible-yaml"),
    ],
)
def test_format_is_detected_from_extension_then_content(
    tmp_path: Path, name: str, text: str, fmt: str
) -> None:
    inventory = load_inventory(write(tmp_path, text, name))
    assert inventory.fmt == fmt
    assert inventory.path == tmp_path / name


def test_an_explicit_format_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path, "web01\nweb02\n", name="hosts.csv")
    assert [h.name for h in load_inventory(path, fmt="txt").hosts] == ["web01", "web02"]


def test_accepts_str_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "web01\n")
    assert load_inventory(str(path)).path == path
