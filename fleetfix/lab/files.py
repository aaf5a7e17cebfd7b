"""The files a running lab leaves for its clients: who is where, how to trust them, and the
credentials, each in the format the client at hand already reads.

The password is written to `lab.env` only (mode 0600, never readable by anyone else, not
even for a moment); inventories are meant to be copied around and must never hold it.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

INVENTORY_CSV = "inventory.csv"
INVENTORY_INI = "inventory.ini"
LAB_ENV = "lab.env"
KNOWN_HOSTS = "known_hosts"
TRUTH = "truth.json"
ESCROW_CSV = "escrow.csv"
KEYS_CONFIG = "fleetfix.toml"
CONTROL = "control.sock"
USERNAME = "Administrator"
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One lab host as clients see it from outside."""

    name: str
    address: str
    ssh_port: int
    winrm_port: int
    winrms_port: int
    # "ssh-ed25519 AAAA..." without a comment.
    ssh_public_key: str
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The lab must never be reachable from, or point clients at, anything off this box.
        if not ipaddress.ip_address(self.address).is_loopback:
            raise ValueError(f"lab address {self.address} is outside 127.0.0.0/8")


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file created with mode 0600 (an existing file is replaced)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_inventory_csv(path: Path, hosts: Sequence[HostEntry]) -> None:
    """name, address, port, transport, tags: one row per host, over WinRM on HTTPS (the
    transport that keeps certificate validation on); the other ports are tags."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "address", "port", "transport", "tags"])
        for host in hosts:
            tags = [*host.tags, f"winrm_port={host.winrm_port}", f"ssh_port={host.ssh_port}"]
            writer.writerow(
                [host.name, host.address, host.winrms_port, "winrm-https", ";".join(tags)]
            )


def _group_name(tag: str) -> str:
    # role=pacs -> role_pacs: Ansible group names are letters, digits and underscores.
    return _GROUP_UNSAFE.sub("_", tag).strip("_").lower()


def _groups(hosts: Iterable[HostEntry]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for host in hosts:
        for tag in host.tags:
            groups.setdefault(_group_name(tag), []).append(host.name)
    return groups


def inventory_ini(hosts: Sequence[HostEntry], *, ca_path: Path, winrm_transport: str) -> str:
    """An Ansible INI inventory for WinRM (and PSRP with `-e ansible_connection=psrp`) over
    HTTPS with the lab CA. The password is not in it: pass `-e ansible_password=...`."""
    lines = ["[windows]"]
    lines += [
        f"{host.name} ansible_host={host.address} ansible_port={host.winrms_port}" for host in hosts
    ]
    for group, names in sorted(_groups(hosts).items()):
        lines += ["", f"[{group}]", *names]
    ca = shlex.quote(str(ca_path))
    lines += [
        "",
        "[windows:vars]",
        f"ansible_user={USERNAME}",
        "ansible_connection=winrm",
        f"ansible_winrm_transport={winrm_transport}",
        "ansible_winrm_scheme=https",
        "ansible_winrm_server_cert_validation=validate",
        f"ansible_winrm_ca_trust_path={ca}",
        "ansible_psrp_protocol=https",
        "ansible_psrp_auth=negotiate",
        "ansible_psrp_cert_validation=validate",
        f"ansible_psrp_ca_cert={ca}",
        "",
    ]
    return "\n".join(lines)


def write_inventory_ini(
    path: Path, hosts: Sequence[HostEntry], *, ca_path: Path, winrm_transport: str = "ntlm"
) -> None:
    path.write_text(
        inventory_ini(hosts, ca_path=ca_path, winrm_transport=winrm_transport), encoding="utf-8"
    )


def write_known_hosts(path: Path, hosts: Sequence[HostEntry]) -> None:
    """OpenSSH known_hosts: each host under its name and its address, with its port."""
    lines = []
    for host in hosts:
        names = [host.name, host.address]
        if host.ssh_port != 22:
            names = [f"[{name}]:{host.ssh_port}" for name in names]
        lines.append(f"{','.join(names)} {host.ssh_public_key}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True, slots=True)
class LabEnv:
    username: str
    password: str
    ca_bundle: Path
    known_hosts: Path
    control: Path

    def __repr__(self) -> str:
        return f"LabEnv(username={self.username!r}, password='***', control={self.control!s})"

    def variables(self) -> dict[str, str]:
        return {
            "FLEETFIX_USERNAME": self.username,
            "FLEETFIX_PASSWORD": self.password,
            "FLEETFIX_CA_BUNDLE": str(self.ca_bundle),
            "FLEETFIX_KNOWN_HOSTS": str(self.known_hosts),
            "FLEETFIX_LAB_CONTROL": str(self.control),
        }


def write_lab_env(path: Path, env: LabEnv) -> None:
    """Shell-sourceable KEY=value lines (values quoted for sh), mode 0600."""
    text = "".join(f"{key}={shlex.quote(value)}\n" for key, value in env.variables().items())
    write_private(path, text)


def read_lab_env(path: Path) -> dict[str, str]:
    """The variables of a `lab.env` written by `write_lab_env`."""
    variables: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        words = shlex.split(value)
        variables[key.strip()] = words[0] if words else ""
    return variables


def write_escrow(directory: Path, rows: Iterable[tuple[str, str, str]]) -> None:
    """The site's key escrow export (`ComputerName,KeyID,RecoveryKey`, mode 0600) and a
    `fleetfix.toml` whose [keys.escrow] points at it, so drills can look keys up the way an
    incident would: `fleetfix key lookup --config <lab>/fleetfix.toml --key-id ...`.
    The keys go nowhere else: not into truth.json, the inventories or lab.env."""
    lines = ["ComputerName,KeyID,RecoveryKey"]
    lines += [f"{host},{{{key_id.strip('{}')}}},{password}" for host, key_id, password in rows]
    write_private(directory / ESCROW_CSV, "\n".join(lines) + "\n")
    config = f'[keys]\nproviders = ["escrow"]\n\n[keys.escrow]\npath = "{ESCROW_CSV}"\n'
    (directory / KEYS_CONFIG).write_text(config, encoding="utf-8")
