"""ConvertTo-Json as Windows PowerShell 5.1 writes it, quirks included."""

from __future__ import annotations

from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import encoded_command, new_machine


def ps(script: str) -> str:
    result = run_command_line(new_machine(), encoded_command(script))
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode("cp437")


def test_pretty_output_indents_nested_values_under_their_column() -> None:
    text = ps("[pscustomobject]@{ a = 1; b = [pscustomobject]@{ c = 'x' } } | ConvertTo-Json")
    assert text == (
        '{\r\n    "a":  1,\r\n    "b":  {\r\n              "c":  "x"\r\n          }\r\n}\r\n'
    )


def test_dates_are_written_as_ms_since_the_epoch() -> None:
    text = ps("[datetime]::Parse('2024-07-19T04:09:00Z') | ConvertTo-Json")
    assert text == '"\\/Date(1721362140000)\\/"\r\n'


def test_enums_are_written_as_numbers() -> None:
    text = ps("(Get-Service WinRM).Status | ConvertTo-Json")
    assert text == "4\r\n"
    text = ps("Get-Service WinRM | Select-Object Name, StartType | ConvertTo-Json -Compress")
    assert text == '{"Name":"WinRM","StartType":2}\r\n'


def test_objects_deeper_than_depth_become_their_string() -> None:
    # The root and two levels of contained objects are written; the third level is text.
    script = "@{ l1 = @{ l2 = @{ l3 = @{ l4 = 'deep' } } } } | ConvertTo-Json -Compress"
    assert ps(script) == '{"l1":{"l2":{"l3":"System.Collections.Hashtable"}}}\r\n'
    script = "@{ l1 = @{ l2 = @{ l3 = @{ l4 = 'deep' } } } } | ConvertTo-Json -Compress -Depth 5"
    assert ps(script) == '{"l1":{"l2":{"l3":{"l4":"deep"}}}}\r\n'


def test_html_sensitive_characters_and_quotes_are_unicode_escaped() -> None:
    assert (
        ps('"it\'s <b>&</b>" | ConvertTo-Json')
        == '"it\\u0027s \\u003cb\\u003e\\u0026\\u003c/b\\u003e"\r\n'
    )


def test_piping_one_item_of_an_array_gives_the_item_not_an_array() -> None:
    assert ps("@(7) | ConvertTo-Json") == "7\r\n"
    assert ps("ConvertTo-Json -InputObject @(7) -Compress") == "[7]\r\n"


def test_iso_dates_made_by_the_script_survive_as_strings() -> None:
    script = (
        "$boot = (Get-CimInstance Win32_OperatingSystem).LastBootUpTime\n"
        "@{ boot = $boot.ToUniversalTime().ToString('o') } | ConvertTo-Json -Compress"
    )
    assert ps(script) == '{"boot":"2024-07-19T06:00:00.0000000Z"}\r\n'


def test_convert_from_json_reads_what_convert_to_json_wrote() -> None:
    script = (
        "$j = [pscustomobject]@{ n = 3; s = 'x'; l = @(1, 2) } | ConvertTo-Json\n"
        "$o = $j | ConvertFrom-Json\n"
        '"$($o.n) $($o.s) $($o.l.Count)"'
    )
    assert ps(script) == "3 x 2\r\n"


def test_a_bad_json_document_is_an_error() -> None:
    result = run_command_line(new_machine(), encoded_command("'{nope' | ConvertFrom-Json"))
    assert result.exit_code == 1
    assert b"Invalid JSON primitive" in result.stderr


def test_get_date_is_written_as_an_object_with_its_display_hint() -> None:
    assert ps("@{ at = Get-Date } | ConvertTo-Json -Compress") == (
        '{"at":{"value":"\\/Date(1721368800000)\\/","DisplayHint":2,'
        '"DateTime":"Friday, July 19, 2024 6:00:00 AM"}}\r\n'
    )


def test_a_date_from_a_method_or_a_cast_is_plain_again() -> None:
    assert ps("(Get-Date).ToUniversalTime() | ConvertTo-Json") == '"\\/Date(1721368800000)\\/"\r\n'
    assert ps("[datetime](Get-Date) | ConvertTo-Json") == '"\\/Date(1721368800000)\\/"\r\n'
