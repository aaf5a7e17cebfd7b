"""Ansible INI and YAML inventories, checked against ansible-inventory itself where it can run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleetfix.errors import InventoryError
from fleetfix.inventory import load_inventory
from fleetfix.models import Host, Transport

DATA = Path(__file__).parent.parent / "data" / "inventory"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
# Variables fleetfix reads into the Host rather than keeping as tags, and the secrets it drops.
CONSUMED = {"ansible_host", "ansible_port", "ansible_connection", "ansible_psrp_protocol",
            "ansible_winrm_transport", "ansible_psrp_auth"}  # fmt: skip
SECRETS = {"ansible_password"}
# The auth= tag each sample host gets from its ansible_winrm_transport (the first one listed);
# a host not named here has none.
SAMPLE_AUTH = {"pacs-app01": "ntlm", "pacs-app02": "ntlm", "pacs-app03": "ntlm"}


def write(tmp_path: Path, text: str, name: str = "hosts.ini") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def ansible_view(path: Path) -> dict[str, tuple[set[str], dict[str, str]]]:
    """Each host's groups (ancestors included) and vars, as Ansible itself resolves them."""
    listed = json.loads(
        subprocess.run(
            [str(ANSIBLE_INVENTORY), "-i", str(path), "--list"],
            check=True,
            capture_output=True,
            text=True,
            env={"ANSIBLE_LOCAL_TEMP": str(path.parent), "HOME": str(path.parent)},
        ).stdout
    )
    hostvars = listed.pop("_meta")["hostvars"]
    parents: dict[str, set[str]] = {}
    for group, body in listed.items():
        for child in body.get("children", []):
            parents.setdefault(child, set()).add(group)
    view: dict[str, tuple[set[str], dict[str, str]]] = {}
    for group, body in listed.items():
        for host in body.get("hosts", []):
            groups, pending = set(), [group]
            while pending:
                name = pending.pop()
                groups.add(name)
                pending.extend(parents.get(name, set()) - groups)
            view.setdefault(host, (set(), {}))[0].update(groups - {"all", "ungrouped"})
    for host, variables in hostvars.items():
        view.setdefault(host, (set(), {}))[1].update({k: str(v) for k, v in variables.items()})
    return view


def fleetfix_view(path: Path) -> dict[str, tuple[set[str], dict[str, str]]]:
    view: dict[str, tuple[set[str], dict[str, str]]] = {}
    for host in load_inventory(path).hosts:
        groups = {tag for tag in host.tags if "=" not in tag}
        variables = dict(tag.split("=", 1) for tag in host.tags if "=" in tag)
        view[host.name] = (groups, variables)
    return view


@pytest.mark.parametrize("sample", ["hosts.ini", "hosts.yml"])
def test_hosts_groups_and_vars_match_what_ansible_inventory_resolves(sample: str) -> None:
    ours = fleetfix_view(DATA / sample)
    theirs = ansible_view(DATA / sample)
    assert set(ours) == set(theirs)
    with_transport = {n for n, (_, v) in theirs.items() if "ansible_winrm_transport" in v}
    assert with_transport == set(SAMPLE_AUTH)  # the table above covers the sample
    for name, (groups, variables) in theirs.items():
        expected = {k: v for k, v in variables.items() if k not in CONSUMED | SECRETS}
        if name in SAMPLE_AUTH:  # read into fleetfix's own auth= tag
            expected["auth"] = SAMPLE_AUTH[name]
        assert ours[name] == (groups, expected), name


@pytest.mark.parametrize("sample", ["hosts.ini", "hosts.yml"])
def test_connection_vars_map_to_transports_with_ansible_defaults(sample: str) -> None:
    hosts = {host.name: host for host in load_inventory(DATA / sample).hosts}
    assert hosts["jump01.example.org"].transport is Transport.SSH
    # winrm without a scheme or port: Ansible's winrm plugin picks https.
    assert hosts["pacs-app01"].transport is Transport.WINRM_HTTPS
    # ... and http when the port is 5985.
    assert hosts["pacs-db01"] == Host(
        "pacs-db01",
        address="10.20.1.5",
        port=5985,
        transport=Transport.WINRM,
        tags=hosts["pacs-db01"].tags,
    )
    assert hosts["ris-app01"].transport is Transport.PSRP_HTTPS
    assert hosts["ris-app02"].transport is Transport.PSRP


@pytest.mark.parametrize("sample", ["hosts.ini", "hosts.yml"])
def test_passwords_never_reach_hosts_or_warnings(sample: str) -> None:
    inventory = load_inventory(DATA / sample)
    everything = repr(inventory.hosts) + " ".join(str(w) for w in inventory.warnings)
    assert "Summer2024!" not in everything
    assert any("ansible_password" in str(w) for w in inventory.warnings)


def test_every_secret_looking_var_is_dropped(tmp_path: Path) -> None:
    text = (
        "web01 ansible_become_password=a ansible_ssh_pass=b ansible_winrm_password=c "
        "api_token=d client_secret=e ansible_ssh_private_key_file=/k site=north\n"
    )
    inventory = load_inventory(write(tmp_path, text))
    assert inventory.hosts[0].tags == ("site=north",)
    assert len(inventory.warnings) == 6


def test_secret_warnings_are_counted_not_repeated(tmp_path: Path) -> None:
    text = "\n".join(f"web{n:02} ansible_password=pw{n}" for n in range(30)) + "\n"
    inventory = load_inventory(write(tmp_path, text))
    assert len(inventory.warnings) == 1
    assert "30 times" in inventory.warnings[0].message
    assert inventory.warnings[0].line == 1


@pytest.mark.parametrize(
    ("variables", "transport"),
    [
        ("ansible_connection=winrm ansible_winrm_scheme=http", Transport.WINRM),
        ("ansible_connection=winrm ansible_port=5986", Transport.WINRM_HTTPS),
        ("ansible_connection=winrm ansible_winrm_scheme=https ansible_port=5985", "winrm-https"),
        ("ansible_connection=psrp ansible_psrp_protocol=http", Transport.PSRP),
        ("ansible_connection=psrp ansible_port=5986", Transport.PSRP_HTTPS),
        ("ansible_connection=psrp", Transport.PSRP_HTTPS),
        ("ansible_connection=ansible.builtin.ssh", Transport.SSH),
        ("ansible_connection=paramiko", Transport.SSH),
        ("", Transport.AUTO),
    ],
)
def test_transport_follows_connection_scheme_and_port(
    tmp_path: Path, variables: str, transport: Transport
) -> None:
    inventory = load_inventory(write(tmp_path, f"web01 {variables}\n"))
    assert inventory.hosts[0].transport == transport


def test_an_unusable_connection_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.ini:2: .*'local' is not a connection"):
        load_inventory(write(tmp_path, "[x]\nweb01 ansible_connection=local\n"))


def test_ranges_expand_with_padding_letters_steps_and_port(tmp_path: Path) -> None:
    text = "[pacs]\npacs[01:03]\nris-[a:c]\nws[1:9:4]:5986\n"
    hosts = load_inventory(write(tmp_path, text)).hosts
    assert [h.name for h in hosts] == [
        "pacs01", "pacs02", "pacs03", "ris-a", "ris-b", "ris-c", "ws1", "ws5", "ws9",
    ]  # fmt: skip
    assert {h.port for h in hosts[-3:]} == {5986}
    assert all(h.tags == ("pacs",) for h in hosts)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("web[03:01]", "runs backwards"),
        ("web[1:2:0]", "whole number above 0"),
        ("web[a:9]", "two numbers or two letters"),
        ("web[1:99999999]", "more than 1,000,000 hosts"),
        ("web[1:" + "9" * 5000 + "]", "bounds too long"),
        ("web[a:é]", "two numbers or two letters"),
        ("web[1:9", "unbalanced bracket"),
        ("web:http", "must be a port number"),
    ],
)
def test_bad_host_patterns_are_refused(tmp_path: Path, pattern: str, problem: str) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.ini:1: ") as caught:
        load_inventory(write(tmp_path, f"{pattern}\n"))
    assert problem in str(caught.value)


def test_child_group_vars_override_parent_vars_and_host_vars_win(tmp_path: Path) -> None:
    text = (
        "[pacs]\npacs01\npacs02 site=east\n"
        "[radiology:children]\npacs\n"
        "[radiology:vars]\nsite=north\n"
        "[pacs:vars]\nsite='south'\n"
        "[all:vars]\nsite=central\n"
    )
    hosts = load_inventory(write(tmp_path, text)).hosts
    assert hosts[0].tags == ("pacs", "radiology", "site=south")
    assert hosts[1].tag_value("site") == "east"


def test_a_host_in_two_groups_is_one_host_with_both_tags(tmp_path: Path) -> None:
    hosts = load_inventory(write(tmp_path, "[pacs]\nweb01\n[critical]\nweb01\n")).hosts
    assert hosts == (Host("web01", tags=("critical", "pacs")),)


def test_group_loops_do_not_hang(tmp_path: Path) -> None:
    text = "[a:children]\nb\n[b:children]\na\n[a]\nweb01\n"
    assert load_inventory(write(tmp_path, text)).hosts[0].tags == ("a", "b")


def test_an_unclosed_quote_is_refused_without_echoing_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "web01 ansible_password='open site=north\n")
    with pytest.raises(InventoryError, match="never closed") as caught:
        load_inventory(path)
    assert "open" not in str(caught.value)


def test_a_bare_word_after_the_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="expected key=value variables; word 2 has no '='"):
        load_inventory(write(tmp_path, "web01 north\n"))


def test_a_password_split_off_by_a_space_is_not_quoted_back(tmp_path: Path) -> None:
    path = write(
        tmp_path, "web01 ansible_password= Summer2024!\n[x:vars]\nansible_password: Hunter2\n"
    )
    with pytest.raises(InventoryError, match="2 problems") as caught:
        load_inventory(path)
    assert "Summer2024!" not in str(caught.value)
    assert "Hunter2" not in str(caught.value)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "all:\n  hosts:\n    web01:\n   bad: [\n", name="hosts.yml")
    with pytest.raises(InventoryError, match=r"hosts\.yml:\d+: not valid YAML"):
        load_inventory(path)


def test_yaml_top_level_groups_and_null_hosts_load(tmp_path: Path) -> None:
    text = "pacs:\n  hosts:\n    pacs01:\n    pacs02: {ansible_host: 10.0.0.2}\n"
    hosts = load_inventory(write(tmp_path, text, name="inventory.yaml")).hosts
    assert hosts == (Host("pacs01", tags=("pacs",)), Host("pacs02", "10.0.0.2", tags=("pacs",)))


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="mapping of groups"):
        load_inventory(write(tmp_path, "- web01\n- web02\n", name="hosts.yml"))


def test_yaml_aliases_doubling_a_tree_are_walked_once(tmp_path: Path) -> None:
    # 2**30 paths down to web01 if every alias were expanded.
    lines = ["a0: &a0 {hosts: {web01: }}"]
    lines += [
        f"a{n}: &a{n} {{children: {{x{n}: *a{n - 1}, y{n}: *a{n - 1}}}}}" for n in range(1, 30)
    ]
    hosts = load_inventory(write(tmp_path, "\n".join(lines) + "\n", name="aliases.yml")).hosts
    assert [h.name for h in hosts] == ["web01"]
    assert {"a0", "a29", "x1", "y29"} <= set(hosts[0].tags)


def test_yaml_group_containing_itself_is_refused(tmp_path: Path) -> None:
    text = "pacs: &pacs\n  children:\n    inner: *pacs\n  hosts:\n    web01:\n"
    with pytest.raises(InventoryError, match="contains itself"):
        load_inventory(write(tmp_path, text, name="loop.yml"))


def test_an_unknown_section_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.ini:1: section \[pacs:hostvars\]"):
        load_inventory(write(tmp_path, "[pacs:hostvars]\nweb01\n"))


def test_yaml_unknown_group_keys_are_a_warning(tmp_path: Path) -> None:
    text = "all:\n  hosts:\n    web01:\n  host_vars:\n    web01: {}\n"
    inventory = load_inventory(write(tmp_path, text, name="hosts.yml"))
    assert [h.name for h in inventory.hosts] == ["web01"]
    assert inventory.warnings[0].line == 4
    assert "unknown key ignored" in inventory.warnings[0].message


@pytest.mark.parametrize(
    ("variables", "tag"),
    [
        ("ansible_connection=winrm ansible_winrm_transport=kerberos", "auth=kerberos"),
        ("ansible_connection=winrm ansible_winrm_transport=ntlm,kerberos", "auth=ntlm"),
        ("ansible_connection=winrm ansible_winrm_transport=plaintext", "auth=basic"),
        ("ansible_connection=psrp ansible_psrp_auth=negotiate", "auth=negotiate"),
        ("ansible_connection=winrm", None),
    ],
)
def test_winrm_transport_becomes_the_hosts_auth(
    tmp_path: Path, variables: str, tag: str | None
) -> None:
    (host,) = load_inventory(write(tmp_path, f"[pacs]\npacs01 {variables}\n")).hosts
    assert host.tag_value("auth") == (tag.split("=")[1] if tag else None)
    assert not any(
        t.startswith(("ansible_winrm_transport", "ansible_psrp_auth")) for t in host.tags
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [("certificate", "client-certificate logons are not supported"),
     ("digest", "is not an authentication fleetfix knows")],
)  # fmt: skip
def test_an_unusable_winrm_transport_is_refused_with_its_line(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = write(tmp_path, f"[pacs]\npacs01 ansible_connection=winrm\n"
                           f"pacs02 ansible_winrm_transport={value}\n")  # fmt: skip
    with pytest.raises(InventoryError) as raised:
        load_inventory(path)
    assert "hosts.ini:3" in str(raised.value) and problem in str(raised.value)
