"""8.3 short names as NTFS makes them, per folder, and Get-ChildItem -Filter matching them as
Windows does (the file system matches the alias too; PowerShell's own -Include does not)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from fleetfix.lab.machine.files import FileSystem
from fleetfix.lab.machine.shortnames import is_valid_short_name, short_name
from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import encoded_command, new_machine

WHEN = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
FOLDER = "C:\\Windows\\System32\\drivers\\VendorX"


@pytest.mark.parametrize("name", ["hosts", "csagent.sys", "vxdrv.sys", "HOSTS.TXT", "a.b", "~$x"])
def test_a_name_that_is_already_8_3_gets_no_alias(name: str) -> None:
    assert is_valid_short_name(name)
    assert short_name(name, set()) is None


@pytest.mark.parametrize("name", ["ß.txt", "a b.txt", "a.b.c", "toolongname", "a.", ".a"])
def test_a_name_that_breaks_an_8_3_rule_is_not_valid_8_3(name: str) -> None:
    assert not is_valid_short_name(name)


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("vxdrv.sys_old", "VXDRV~1.SYS"),
        ("C-00000291-00000000-00000032.sys", "C-0000~1.SYS"),
        ("Program Files", "PROGRA~1"),
        ("longextension.html", "LONGEX~1.HTM"),
        ("my file.tar.gz", "MYFILE~1.GZ"),  # spaces and all but the last dot dropped
        ("a+b=c.txt", "A_B_C~1.TXT"),  # + , ; = [ ] become _
        (".gitignore", "GITIGN~1"),  # leading dots dropped
        ("Grüße.txt", "GR__E~1.TXT"),
        ("abc.defg", "ABC~1.DEF"),
    ],
)
def test_the_alias_is_six_valid_characters_a_tail_and_three_of_the_last_extension(
    name: str, alias: str
) -> None:
    assert not is_valid_short_name(name)
    assert short_name(name, set()) == alias


def test_aliases_in_one_folder_count_up_and_switch_to_a_checksum_after_four() -> None:
    files = FileSystem()
    names = [f"C-00000291-00000000-0000003{n}.sys" for n in range(6)]
    for name in names:
        files.write_file(f"{FOLDER}\\{name}", b"", last_write_utc=WHEN)
    aliases = [entry.short_name for entry in (files.get(f"{FOLDER}\\{n}") for n in names) if entry]
    assert aliases[:4] == ["C-0000~1.SYS", "C-0000~2.SYS", "C-0000~3.SYS", "C-0000~4.SYS"]
    assert all(re.fullmatch(r"C-[0-9A-F]{4}~1\.SYS", alias or "") for alias in aliases[4:])
    assert len(set(aliases)) == len(aliases)


def test_aliases_are_unique_per_folder_and_kept_for_the_life_of_the_file() -> None:
    files = FileSystem()
    first = files.add_directory("C:\\Program Files", last_write_utc=WHEN)
    second = files.add_directory("C:\\Program Files (x86)", last_write_utc=WHEN)
    data = files.add_directory("C:\\ProgramData", last_write_utc=WHEN)
    assert (first.short_name, second.short_name, data.short_name) == (
        "PROGRA~1", "PROGRA~2", "PROGRA~3",
    )  # fmt: skip
    # Another folder starts again at ~1.
    other = files.write_file("C:\\Temp\\Program Files.txt", b"", last_write_utc=WHEN)
    assert other.short_name == "PROGRA~1.TXT"
    # Rewriting a file keeps its alias; removing one frees its alias and renames nothing.
    again = files.write_file("C:\\Temp\\Program Files.txt", b"new", last_write_utc=WHEN)
    assert again.short_name == "PROGRA~1.TXT"
    files.remove("C:\\Program Files")
    assert (files.get("C:\\Program Files (x86)") or second).short_name == "PROGRA~2"
    newest = files.add_directory("C:\\Programs and more", last_write_utc=WHEN)
    assert newest.short_name == "PROGRA~1"


def test_an_alias_is_not_given_when_a_long_name_already_holds_it() -> None:
    files = FileSystem()
    files.write_file(f"{FOLDER}\\VXDRV~1.SYS", b"", last_write_utc=WHEN)
    entry = files.write_file(f"{FOLDER}\\vxdrv.sys_old", b"", last_write_utc=WHEN)
    assert entry.short_name == "VXDRV~2.SYS"


# -Filter ----------------------------------------------------------------------------------


def _listing(script: str) -> list[str]:
    machine = new_machine()
    for leaf in ("vxdrv.sys", "vxdrv.sys_old", "vxdrv.inf"):
        machine.files.write_file(f"{FOLDER}\\{leaf}", b"MZ", last_write_utc=WHEN)
    result = run_command_line(machine, encoded_command(script))
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode("cp437").split()


def test_get_childitem_filter_matches_the_8_3_alias_too() -> None:
    script = f"Get-ChildItem -LiteralPath '{FOLDER}' -Filter '*.sys' -File | ForEach-Object Name"
    assert _listing(script) == ["vxdrv.sys", "vxdrv.sys_old"]


def test_get_childitem_filter_finds_a_file_by_its_alias() -> None:
    script = f"(Get-ChildItem -Path '{FOLDER}' -Filter 'VXDRV~1.SYS').Name"
    assert _listing(script) == ["vxdrv.sys_old"]


def test_include_is_powershells_own_matching_and_sees_long_names_only() -> None:
    script = f"Get-ChildItem -Path '{FOLDER}\\*' -Include '*.sys' | ForEach-Object Name"
    assert _listing(script) == ["vxdrv.sys"]


def test_remove_item_filter_matches_the_alias_as_windows_does() -> None:
    script = (
        f"Remove-Item -Path '{FOLDER}\\*' -Filter '*.sys'\n"
        f"Get-ChildItem -LiteralPath '{FOLDER}' | ForEach-Object Name"
    )
    assert _listing(script) == ["vxdrv.inf"]
