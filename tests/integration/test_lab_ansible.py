"""Unmodified Ansible against the lab, through the inventory.ini the lab writes.

The password reaches Ansible only through the environment (an `env` lookup), never a file or
the command line. ansible-core is a test dependency: its winrm and psrp connection plugins
import pywinrm and pypsrp from the same virtualenv.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleetfix.lab import files
from fleetfix.lab.fleet import Lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOSTS = 3
ANSIBLE = Path(sys.executable).with_name("ansible")


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    # service-outage: every host boots fine, so every host must answer.
    running = await Lab.start(
        hosts=HOSTS,
        scenario="service-outage",
        seed=11,
        time_scale=1.0,
        directory=tmp_path / "lab",
        ssh_port=0,
        winrm_port=0,
        winrms_port=0,
    )
    yield running
    await running.stop()


def _ansible_env(lab: Lab, home: Path) -> dict[str, str]:
    secrets = files.read_lab_env(lab.directory / files.LAB_ENV)
    home.mkdir(exist_ok=True)
    return {
        "PATH": f"{ANSIBLE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORKS": str(HOSTS),
        "ANSIBLE_CONFIG": str(home / "none.cfg"),  # no stray ansible.cfg from the cwd
        "LAB_PASSWORD": secrets["FLEETFIX_PASSWORD"],
    }


async def _ansible(lab: Lab, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    if not ANSIBLE.exists():
        pytest.fail("ansible-core is a test dependency: pip install ansible-core")
    args = [str(ANSIBLE), "all", "-i", str(lab.directory / files.INVENTORY_INI)]
    args += ["-m", "raw", "-a", "hostname"]
    args += ["-e", "ansible_password={{ lookup('env', 'LAB_PASSWORD') }}", *extra]
    process = await asyncio.create_subprocess_exec(
        *args,
        env=_ansible_env(lab, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    code = process.returncode if process.returncode is not None else -1
    return subprocess.CompletedProcess(args, code, stdout.decode(), stderr.decode())


def _assert_every_host_answered(lab: Lab, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    for host in lab.fleet.hosts:
        assert f"{host.name} | CHANGED | rc=0" in done.stdout
        assert host.name in done.stdout.split(f"{host.name} | CHANGED | rc=0", 1)[1]
    password = files.read_lab_env(lab.directory / files.LAB_ENV)["FLEETFIX_PASSWORD"]
    assert password not in done.stdout + done.stderr


@pytest.mark.parametrize("transport", ["ntlm", "basic"])
async def test_ansible_raw_over_winrm_https_with_the_lab_ca(
    lab: Lab, tmp_path: Path, transport: str
) -> None:
    done = await _ansible(lab, tmp_path / "home", "-e", f"ansible_winrm_transport={transport}")
    _assert_every_host_answered(lab, done)
    assert all(any(r.command for r in h.history) for h in lab.fleet.hosts)


async def test_ansible_raw_over_psrp(lab: Lab, tmp_path: Path) -> None:
    done = await _ansible(lab, tmp_path / "home", "-e", "ansible_connection=psrp")
    _assert_every_host_answered(lab, done)
