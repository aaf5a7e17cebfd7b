"""Properties over generated files: nothing but an InventoryError ever escapes, and valid hosts
written out as txt or CSV come back unchanged."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetfix.errors import InventoryError
from fleetfix.inventory import FORMATS, Inventory, load_inventory
from fleetfix.inventory.tagging import tag_value
from fleetfix.models import Host, Transport

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of every supported syntax, so generated files reach deep into each parser.
FRAGMENTS = [
    "[pacs]\n", "[pacs:children]\n", "[pacs:vars]\n", "[all:vars]\n", "[x:bogus]\n",
    "web[01:03]", "web[a:c]", "[1:99999999]", " ansible_connection=winrm", " ansible_port=",
    " ansible_winrm_scheme=http", " ansible_password=pw", "all:\n", "  hosts:\n",
    "  children:\n", "    vars:\n", "&a ", "*a", "- ", "{", "}",
    "Hostname,IP,Port,Transport,Tags\n",
    "Computer Name;Local IP\n", "\t", '"', "'", ",", ";", "|", "\r\n", "\n", "\r", "::1",
    "[fd00::1]:5986", "10.0.0.1", ":5985", "#", "\ufeff", "é", "=", "...", "-",
    "123456-123456-123456-123456-123456-123456-123456-123456",
]  # fmt: skip
ALPHABET = "abcXYZ019-_.:[]{}=,;|\t\n\r \"'#&*!\\/é"

raw_bytes = st.binary(max_size=400)
syntax_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=ALPHABET, max_size=12)), max_size=40
).map("".join)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16"])


@contextmanager
def inventory_file(data: bytes, suffix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"inventory{suffix}"
        path.write_bytes(data)
        yield path


def load_or_refuse(path: Path, fmt: str, *, skip_invalid: bool) -> Inventory | None:
    """The property: a valid Inventory or an InventoryError, and nothing else."""
    try:
        inventory = load_inventory(path, fmt=fmt, skip_invalid=skip_invalid)
    except InventoryError as error:
        assert str(error)
        return None
    assert all(isinstance(host, Host) for host in inventory.hosts)
    assert skip_invalid or not inventory.rejected
    return inventory


@FUZZ
@given(data=raw_bytes, fmt=st.sampled_from(FORMATS), skip=st.booleans())
def test_any_bytes_give_an_inventory_or_an_inventory_error(
    data: bytes, fmt: str, skip: bool
) -> None:
    with inventory_file(data, ".dat") as path:
        load_or_refuse(path, fmt, skip_invalid=skip)


@FUZZ
@given(
    text=syntax_text,
    encoding=encodings,
    suffix=st.sampled_from(["", ".txt", ".csv", ".ini", ".yml"]),
    fmt=st.sampled_from(FORMATS),
    skip=st.booleans(),
)
def test_syntax_shaped_text_gives_an_inventory_or_an_inventory_error(
    text: str, encoding: str, suffix: str, fmt: str, skip: bool
) -> None:
    with inventory_file(text.encode(encoding), suffix) as path:
        load_or_refuse(path, fmt, skip_invalid=skip)


# --- round trips -------------------------------------------------------------------------

label = st.from_regex(r"[A-Za-z]([A-Za-z0-9-]{0,12}[A-Za-z0-9])?", fullmatch=True)
host_names = st.lists(label, min_size=1, max_size=3).map(".".join)
ports = st.none() | st.integers(min_value=1, max_value=65535)
addresses = st.none() | st.ip_addresses().map(str) | host_names
tag_text = (
    st.text(alphabet="abcdefXYZ0189 ./:_-()é", min_size=1, max_size=15).map(tag_value).filter(bool)
)
plain_tags = st.lists(tag_text, max_size=3)
# Column names that are no alias and hold no secret-sounding fragment.
SECRET_FRAGMENTS = ("pass", "secret", "token", "key")
column_keys = st.from_regex(r"x[a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda key: not any(fragment in key for fragment in SECRET_FRAGMENTS)
)


def unique_by_name(hosts: list[Host]) -> bool:
    names = [host.name.lower() for host in hosts]
    return len(names) == len(set(names))


txt_hosts = st.lists(
    st.builds(Host, name=host_names, port=ports)
    | st.builds(
        lambda ip, port: Host(ip, address=ip, port=port), st.ip_addresses().map(str), ports
    ),
    min_size=1,
    max_size=20,
).filter(unique_by_name)


def txt_line(host: Host) -> str:
    if host.port is None:
        return host.name
    return f"[{host.name}]:{host.port}" if ":" in host.name else f"{host.name}:{host.port}"


@ROUND_TRIP
@given(hosts=txt_hosts, line_end=st.sampled_from(["\n", "\r\n"]), encoding=encodings)
def test_hosts_written_as_txt_load_back_unchanged(
    hosts: list[Host], line_end: str, encoding: str
) -> None:
    text = "# generated\n" + line_end.join(txt_line(host) for host in hosts) + line_end
    with inventory_file(text.encode(encoding), ".txt") as path:
        assert load_inventory(path).hosts == tuple(hosts)


@st.composite
def csv_fleets(draw: st.DrawFn) -> tuple[list[str], list[list[str]], list[Host]]:
    keys = draw(st.lists(column_keys, max_size=3, unique=True))
    hosts = draw(st.lists(csv_host(keys), min_size=1, max_size=20).filter(unique_by_name))
    header = ["Hostname", "IP Address", "Port", "Transport", "Tags", *keys]
    rows = [csv_row(host, keys) for host in hosts]
    return header, rows, hosts


def csv_host(keys: list[str]) -> st.SearchStrategy[Host]:
    column_values = st.tuples(*[st.none() | tag_text for _ in keys])

    def build(
        name: str, address: str | None, port: int | None, transport: Transport, tags: list[str],
        values: tuple[str | None, ...],
    ) -> Host:  # fmt: skip
        column_tags = [f"{k}={v}" for k, v in zip(keys, values, strict=True) if v is not None]
        return Host(name, address, port, transport, tuple(tags) + tuple(column_tags))

    return st.builds(
        build, host_names, addresses, ports, st.sampled_from(Transport), plain_tags, column_values
    )


def csv_row(host: Host, keys: list[str]) -> list[str]:
    plain = [tag for tag in host.tags if "=" not in tag]
    row = [host.name, host.address or "", str(host.port or ""), host.transport.value]
    row.append("; ".join(plain))
    return row + [host.tag_value(key) or "" for key in keys]


@ROUND_TRIP
@given(
    fleet=csv_fleets(),
    delimiter=st.sampled_from([",", ";", "\t"]),
    line_end=st.sampled_from(["\n", "\r\n"]),
    encoding=encodings,
)
def test_hosts_written_as_csv_load_back_unchanged(
    fleet: tuple[list[str], list[list[str]], list[Host]],
    delimiter: str,
    line_end: str,
    encoding: str,
) -> None:
    header, rows, hosts = fleet
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows(rows)
    with inventory_file(buffer.getvalue().encode(encoding), ".csv") as path:
        assert load_inventory(path).hosts == tuple(hosts)


# Ansible: each transport spelled the ways Ansible spells it, so the expected host is known.
ANSIBLE_SPELLINGS: dict[Transport, list[dict[str, str]]] = {
    Transport.AUTO: [{}],
    Transport.SSH: [{"ansible_connection": "ssh"}, {"ansible_connection": "ansible.builtin.ssh"}],
    Transport.WINRM: [
        {"ansible_connection": "winrm", "ansible_winrm_scheme": "http"},
        {"ansible_connection": "winrm", "ansible_port": "5985"},
    ],
    Transport.WINRM_HTTPS: [
        {"ansible_connection": "winrm"},
        {"ansible_connection": "winrm", "ansible_winrm_scheme": "https", "ansible_port": "5985"},
    ],
    Transport.PSRP: [{"ansible_connection": "psrp", "ansible_psrp_protocol": "http"}],
    Transport.PSRP_HTTPS: [
        {"ansible_connection": "psrp"},
        {"ansible_connection": "psrp", "ansible_port": "5986"},
    ],
}
GROUPS = ["pacs", "ris", "emr", "radiology"]


@st.composite
def ansible_host(draw: st.DrawFn) -> tuple[Host, dict[str, str], list[str]]:
    """A host, the Ansible variables that say it, and the groups it is listed in."""
    name = draw(host_names)
    transport = draw(st.sampled_from(Transport))
    variables = dict(draw(st.sampled_from(ANSIBLE_SPELLINGS[transport])))
    address = draw(st.none() | st.ip_addresses().map(str))
    if address is not None:
        variables["ansible_host"] = address
    extra = draw(st.dictionaries(column_keys, tag_text.filter(lambda t: " " not in t), max_size=3))
    variables.update(extra)
    groups = sorted(draw(st.sets(st.sampled_from(GROUPS))))
    port = variables.get("ansible_port")
    tags = (*groups, *(f"{key}={value}" for key, value in sorted(extra.items())))
    host = Host(name, address, int(port) if port else None, transport, tags)
    return host, variables, groups


ansible_fleets = st.lists(ansible_host(), min_size=1, max_size=15).filter(
    lambda fleet: unique_by_name([host for host, _, _ in fleet])
)


def as_ini(fleet: list[tuple[Host, dict[str, str], list[str]]]) -> str:
    lines = [" ".join([host.name, *(f"{k}={v}" for k, v in variables.items())])
             for host, variables, _ in fleet]  # fmt: skip
    for group in GROUPS:
        lines += [f"[{group}]", *(host.name for host, _, groups in fleet if group in groups)]
    return "\n".join(lines) + "\n"


def as_yaml(fleet: list[tuple[Host, dict[str, str], list[str]]]) -> str:
    children = {
        group: {"hosts": {host.name: None for host, _, groups in fleet if group in groups}}
        for group in GROUPS
    }
    tree = {"all": {"hosts": {h.name: v or None for h, v, _ in fleet}, "children": children}}
    return str(yaml.safe_dump(tree, sort_keys=False))


@ROUND_TRIP
@given(fleet=ansible_fleets)
def test_hosts_written_as_ansible_ini_and_yaml_load_back_unchanged(
    fleet: list[tuple[Host, dict[str, str], list[str]]],
) -> None:
    expected = tuple(host for host, _, _ in fleet)
    with inventory_file(as_ini(fleet).encode(), ".ini") as path:
        assert load_inventory(path).hosts == expected
    with inventory_file(as_yaml(fleet).encode(), ".yml") as path:
        assert load_inventory(path).hosts == expected
