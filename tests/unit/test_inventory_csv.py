"""CSV host lists as real exports produce them: Excel, European Excel, CMDBs, CrowdStrike."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from fleetfix.errors import InventoryError
from fleetfix.inventory import load_inventory
from fleetfix.models import Host, Transport

DATA = Path(__file__).parent.parent / "data" / "inventory"


def write(tmp_path: Path, data: str | bytes, name: str = "hosts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_falcon_export_uses_local_ip_and_never_external_ip() -> None:
    inventory = load_inventory(DATA / "falcon_hosts.csv")
    assert inventory.fmt == "csv"
    assert len(inventory.hosts) == 6
    first = inventory.hosts[0]
    assert first.name == "PACS-APP01"
    assert first.address == "10.20.1.11"
    assert first.tag_value("external_ip") == "203.0.113.40"
    assert all(host.address != host.tag_value("external_ip") for host in inventory.hosts)


def test_falcon_export_keeps_every_other_column_as_a_tag() -> None:
    first = load_inventory(DATA / "falcon_hosts.csv").hosts[0]
    assert first.tag_value("host_id") == "4a1c2e8f9b3d47e6a0c5d2f1e8b7a691"
    assert first.tag_value("sensor_version") == "7.16.18605.0"
    assert first.tag_value("site") == "North"
    assert first.tag_value("model") == "VMware7,1"
    assert "SensorGroupingTags/PACS" in first.tags
    assert "FalconGroupingTags/Radiology" in first.tags


def test_falcon_export_warns_about_a_name_too_long_for_netbios() -> None:
    warnings = load_inventory(DATA / "falcon_hosts.csv").warnings
    assert [w.line for w in warnings] == [7]
    assert "VNA-ARCHIVE-PRIMARY01" in warnings[0].message


def test_european_excel_semicolons_and_bom_load_as_they_come() -> None:
    inventory = load_inventory(DATA / "excel_semicolon.csv")
    assert [h.name for h in inventory.hosts] == ["KH-PACS01", "KH-RIS01", "KH-EMR02"]
    assert inventory.hosts[2].address == "10.1.0.32"
    assert inventory.hosts[2].tag_value("standort") == "Klinikum Süd; Haus B"
    assert inventory.hosts[0].tag_value("kritikalität") == "hoch"


def test_excel_unicode_text_is_utf16_tabs_and_detected_as_csv_despite_txt() -> None:
    inventory = load_inventory(DATA / "excel_unicode.txt")
    assert inventory.fmt == "csv"
    assert inventory.hosts == (
        Host("PACS-APP01", "10.20.1.11", None, Transport.WINRM_HTTPS, ("role=pacs",)),
        Host("RIS-APP01", "10.20.2.11", None, Transport.PSRP, ("role=ris",)),
    )


def test_errors_name_the_physical_line_after_a_multiline_cell() -> None:
    with pytest.raises(InventoryError, match=r"cmdb_multiline\.csv:6: host name 'bad_host'"):
        load_inventory(DATA / "cmdb_multiline.csv")


def test_multiline_cells_become_one_line_tags() -> None:
    inventory = load_inventory(DATA / "cmdb_multiline.csv", skip_invalid=True)
    assert inventory.hosts[0].tag_value("notes") == (
        "Primary PACS. Call radiology on-call before reboot. BitLocker: key in AD"
    )
    assert inventory.hosts[0].tags[:2] == ("pacs", "radiology")
    assert inventory.hosts[1].transport is Transport.PSRP


@pytest.mark.parametrize(
    "header",
    ["hostname", "Host", "ComputerName", "Computer Name", "Device Name", "DEVICENAME", " name "],
)
def test_name_column_aliases_match_whatever_the_case_and_spacing(
    tmp_path: Path, header: str
) -> None:
    inventory = load_inventory(write(tmp_path, f"{header},site\nweb01,north\n"))
    assert inventory.hosts == (Host("web01", tags=("site=north",)),)


@pytest.mark.parametrize("header", ["ip", "Local_IP", "IP Address", "ipaddress", "Address", "FQDN"])
def test_address_column_aliases_fill_the_address(tmp_path: Path, header: str) -> None:
    value = "web01.example.org" if header == "FQDN" else "10.0.0.1"
    inventory = load_inventory(write(tmp_path, f"Hostname,{header}\nweb01,{value}\n"))
    assert inventory.hosts[0].address == value


def test_a_row_with_only_an_address_is_named_by_it(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "IP\n10.0.0.7\n"))
    assert inventory.hosts == (Host("10.0.0.7", address="10.0.0.7"),)


def test_transport_values_are_lenient_with_case_and_separators(tmp_path: Path) -> None:
    text = "host,transport\na,WinRM\nb,WINRM_HTTPS\nc,Psrp-Https\nd,SSH\ne,\nf,auto\n"
    transports = [h.transport for h in load_inventory(write(tmp_path, text)).hosts]
    assert transports == [
        Transport.WINRM,
        Transport.WINRM_HTTPS,
        Transport.PSRP_HTTPS,
        Transport.SSH,
        Transport.AUTO,
        Transport.AUTO,
    ]


def test_unknown_transport_is_refused_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.csv:2: .*'telnet' is not one of auto"):
        load_inventory(write(tmp_path, "host,transport\na,telnet\n"))


def test_tags_column_splits_on_semicolon_and_pipe(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, 'host,tags\na,"pacs; radiology|tier1"\n'))
    assert inventory.hosts[0].tags == ("pacs", "radiology", "tier1")


def test_crlf_quoted_delimiters_and_embedded_quotes(tmp_path: Path) -> None:
    text = 'Hostname,Role\r\nweb01,"PACS, ""primary"""\r\nweb02,RIS\r\n'
    inventory = load_inventory(write(tmp_path, text))
    assert inventory.hosts[0].tags == ('role=PACS, "primary"',)
    assert inventory.hosts[1].name == "web02"


def test_tab_delimited_utf8_is_sniffed(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "Hostname\tPort\nweb01\t5986\n"))
    assert inventory.hosts == (Host("web01", port=5986),)


def test_utf16_big_endian_with_bom_loads(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_BE + "Hostname;Site\r\nweb01;north\r\n".encode("utf-16-be")
    assert load_inventory(write(tmp_path, data)).hosts[0].tags == ("site=north",)


def test_secret_columns_are_dropped_with_a_warning_that_omits_values(tmp_path: Path) -> None:
    text = "Hostname,Local Admin Password,BitLocker Recovery Key,site\nweb01,Hunter2!,x,north\n"
    inventory = load_inventory(write(tmp_path, text))
    assert inventory.hosts[0].tags == ("site=north",)
    messages = " ".join(str(w) for w in inventory.warnings)
    assert "Local Admin Password" in messages
    assert "BitLocker Recovery Key" in messages
    assert "Hunter2!" not in messages


def test_a_recovery_password_in_an_innocent_column_is_not_imported(tmp_path: Path) -> None:
    key = "-".join(["123456"] * 8)
    inventory = load_inventory(write(tmp_path, f"Hostname,Notes\nweb01,{key}\n"))
    assert inventory.hosts[0].tags == ()
    assert key not in " ".join(str(w) for w in inventory.warnings)
    assert inventory.warnings[0].line == 2


def test_a_header_without_host_column_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.csv:1: no column names the hosts"):
        load_inventory(write(tmp_path, "site,role\nnorth,pacs\n"))


def test_a_row_with_more_fields_than_the_header_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.csv:3: the row has 3 fields"):
        load_inventory(write(tmp_path, "Hostname,Site\nweb01,north\nweb02,north,extra\n"))


def test_blank_rows_and_trailing_empty_cells_are_ignored(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "Hostname,Site,,\nweb01,,,\n,,,\n\nweb02\n"))
    assert inventory.hosts == (Host("web01"), Host("web02"))


def test_an_unclosed_quote_is_refused_naming_where_it_starts(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.csv:3: a quoted field starting on line 3"):
        load_inventory(write(tmp_path, 'Hostname,Notes\nweb01,ok\nweb02,"never closed\nweb03,x\n'))


def test_a_row_without_name_or_address_is_rejected(tmp_path: Path) -> None:
    inventory = load_inventory(
        write(tmp_path, "Hostname,IP,Site\n,,north\nweb01,,\n"), skip_invalid=True
    )
    assert [h.name for h in inventory.hosts] == ["web01"]
    assert inventory.rejected[0].line == 2
    assert "no host name and no address" in inventory.rejected[0].message


def test_an_address_that_is_neither_ip_nor_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.csv:2: host 'web01': address '10\.0\.0'"):
        load_inventory(write(tmp_path, "Hostname,Address\nweb01,10.0.0\n"))


def test_a_giant_cell_is_refused_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, "Hostname,Notes\nweb01," + "x" * 200_000 + "\n")
    with pytest.raises(InventoryError, match=r"hosts\.csv:2: a field is longer than"):
        load_inventory(path)
