"""Shared pieces for the transport tests: a running lab on 127.77.x.y with free ports, and the
connect options and inventory hosts a client would use. (No tests here.)"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fleetfix.credentials import Credentials, Secret
from fleetfix.lab import files
from fleetfix.lab.api import Service
from fleetfix.lab.fleet import Lab
from fleetfix.lab.host import LabHost
from fleetfix.models import Host, Transport
from fleetfix.transports.base import ConnectOptions, Security

PASSWORD = "Transport-Lab-Passw0rd"
# Lab seconds per real second: boots take milliseconds; `Start-Sleep 100000` takes 100 s.
FAST = 1000.0
ALL_TRANSPORTS = (
    Transport.WINRM,
    Transport.WINRM_HTTPS,
    Transport.PSRP,
    Transport.PSRP_HTTPS,
    Transport.SSH,
)


async def start_lab(directory: Path, *, hosts: int = 4) -> Lab:
    return await Lab.start(
        hosts=hosts, scenario="service-outage", seed=11, time_scale=FAST, directory=directory,
        password=PASSWORD, ssh_port=0, winrm_port=0, winrms_port=0,
    )  # fmt: skip


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    running = await start_lab(tmp_path / "lab")
    yield running
    await running.stop()


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4, thread_name_prefix="test-pool")
    yield pool
    pool.shutdown(wait=True)


def up_host(lab: Lab) -> LabHost:
    """A host that answers on WinRM and SSH."""
    return next(
        host
        for host in lab.fleet.hosts
        if host.is_listening(Service.WINRM) and host.is_listening(Service.SSH)
    )


def entry(lab: Lab, name: str) -> files.HostEntry:
    return next(e for e in lab.entries() if e.name == name)


def inventory_host(lab: Lab, name: str, transport: Transport = Transport.AUTO) -> Host:
    found = entry(lab, name)
    tags = (
        f"winrm_port={found.winrm_port}",
        f"winrms_port={found.winrms_port}",
        f"ssh_port={found.ssh_port}",
    )
    return Host(found.name, address=found.address, transport=transport, tags=tags)


def options(
    lab: Lab, *, password: str = PASSWORD, security: Security | None = None
) -> ConnectOptions:
    paths = lab.paths()
    trust = security or Security(ca_file=Path(paths["ca"]), known_hosts=Path(paths["known_hosts"]))
    return ConnectOptions(
        credentials=Credentials(files.USERNAME, Secret(password), "test"),
        security=trust,
        connect_timeout=5.0,
    )


def worker_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("fleetfix-")}
