"""Registry values through Set-ItemProperty and New-ItemProperty: which kind a value gets, and
how its data is converted, as Windows PowerShell 5.1's registry provider does it."""

from __future__ import annotations

import pytest

from fleetfix.lab.api import Completed
from fleetfix.lab.machine import Machine, RegistryValueKind
from fleetfix.lab.machine.registry import RegistryData
from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import encoded_command, new_machine

KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\WinRM"
PS_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\WinRM"


def _ps(machine: Machine, script: str) -> Completed:
    result = run_command_line(machine, encoded_command(script))
    assert result.exit_code == 0, result.stderr
    return result


def _value(machine: Machine, name: str) -> tuple[RegistryValueKind, RegistryData]:
    key = machine.registry.key(KEY)
    value = None if key is None else key.value(name)
    assert value is not None, name
    return value.kind, value.data


@pytest.mark.parametrize("given", ["4", "'4'"], ids=["number", "text"])
def test_set_itemproperty_without_type_keeps_an_existing_dword_a_dword(given: str) -> None:
    machine = new_machine()
    assert _value(machine, "Start") == (RegistryValueKind.DWORD, 2)
    result = _ps(
        machine,
        f"Set-ItemProperty -Path '{PS_KEY}' -Name Start -Value {given}\n"
        f"$v = (Get-ItemProperty -Path '{PS_KEY}').Start\n$v.GetType().Name\n$v + 1",
    )
    assert _value(machine, "Start") == (RegistryValueKind.DWORD, 4)
    assert result.stdout.split() == [b"Int32", b"5"]


def test_set_itemproperty_with_a_type_changes_the_kind() -> None:
    machine = new_machine()
    _ps(machine, f"Set-ItemProperty -Path '{PS_KEY}' -Name Start -Value 4 -Type String")
    assert _value(machine, "Start") == (RegistryValueKind.STRING, "4")


def test_an_existing_string_stays_a_string_when_given_a_number() -> None:
    machine = new_machine()
    machine.registry.set_value(KEY, "Note", "old")
    _ps(machine, f"Set-ItemProperty -Path '{PS_KEY}' -Name Note -Value 7")
    assert _value(machine, "Note") == (RegistryValueKind.STRING, "7")


@pytest.mark.parametrize("cmdlet", ["Set-ItemProperty", "New-ItemProperty"])
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("1", (RegistryValueKind.DWORD, 1)),
        ("'1'", (RegistryValueKind.STRING, "1")),
        ("5000000000", (RegistryValueKind.QWORD, 5000000000)),
        ("@('a', 'b')", (RegistryValueKind.MULTI_STRING, ["a", "b"])),
    ],
)
def test_a_new_value_without_a_type_takes_the_kind_of_its_data(
    cmdlet: str, given: str, stored: tuple[RegistryValueKind, RegistryData]
) -> None:
    machine = new_machine()
    _ps(machine, f"{cmdlet} -Path '{PS_KEY}' -Name Fresh -Value {given} | Out-Null")
    assert _value(machine, "Fresh") == stored
