"""Stopping a lab while clients still have commands running on it: every connection handler
ends with the lab, so nothing is left pending when its event loop closes, and clients see
their connection go (as from a host that is switched off) instead of waiting on it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import requests
import winrm

from fleetfix.lab import files
from fleetfix.lab.api import Service
from fleetfix.lab.fleet import Lab

pytestmark = pytest.mark.integration

PASSWORD = "Stop-Lab-Passw0rd"
# Real time: `Start-Sleep -Seconds 600` really outlives the test unless the lab cuts it off.
REAL_TIME = 1.0
LONG_COMMAND = "Start-Sleep -Seconds 600"


class LabOnAThread:
    """A lab on its own event loop in a background thread, as the CLI tests run it
    (test_transport_cli.LabThread)."""

    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab", daemon=True)
        self.thread.start()
        self.stopped = False
        starting = Lab.start(
            hosts=2, scenario="service-outage", seed=11, time_scale=REAL_TIME,
            directory=directory, password=PASSWORD, ssh_port=0, winrm_port=0, winrms_port=0,
        )  # fmt: skip
        self.lab: Lab = self.call(starting)

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def stop_lab(self) -> None:
        self.stopped = True
        self.call(self.lab.stop())

    def pending_tasks(self) -> list[str]:
        async def others() -> list[str]:
            me = asyncio.current_task()
            return [repr(t) for t in asyncio.all_tasks() if t is not me and not t.done()]

        found: list[str] = self.call(others())
        return found

    def close(self) -> None:
        if not self.stopped:  # a test that failed before it stopped the lab
            self.stop_lab()
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()


@pytest.fixture
def lab_thread(tmp_path: Path) -> Iterator[LabOnAThread]:
    running = LabOnAThread(tmp_path / "lab")
    yield running
    running.close()


@pytest.fixture
def client_pool() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2, thread_name_prefix="stop-test-client")
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def _up_entry(lab: Lab) -> files.HostEntry:
    host = next(h for h in lab.fleet.hosts if h.is_listening(Service.WINRM))
    return next(e for e in lab.entries() if e.name == host.name)


def _wait_for(check: Callable[[], bool], *, what: str, within: float = 10.0) -> None:
    give_up = time.monotonic() + within
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def _command_started(lab: Lab, name: str) -> bool:
    # The command is recorded once it ran: its (lab-time) reply is what is still pending.
    return any("-encodedcommand" in r.command.lower() for r in lab.host(name).history)


def _hung_up(client: socket.socket) -> bool:
    client.settimeout(5)
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True


def _run_ps(url: str) -> Any:
    session = winrm.Session(url, auth=(files.USERNAME, PASSWORD), transport="ntlm")
    return session.run_ps(LONG_COMMAND)


def test_stopping_the_lab_mid_winrm_command_leaves_no_task_pending(
    lab_thread: LabOnAThread, client_pool: ThreadPoolExecutor
) -> None:
    lab = lab_thread.lab
    entry = _up_entry(lab)
    url = f"http://{entry.address}:{entry.winrm_port}/wsman"
    running: Future[Any] = client_pool.submit(_run_ps, url)
    _wait_for(lambda: _command_started(lab, entry.name), what="the command reached the host")
    lab_thread.stop_lab()
    assert lab_thread.pending_tasks() == []
    # The client's connection went with the lab: an error now, not a wait for its timeouts.
    with pytest.raises(requests.exceptions.ConnectionError):
        running.result(timeout=10)


async def _ssh_run(entry: files.HostEntry, known_hosts: str) -> Any:
    async with asyncssh.connect(
        entry.address, port=entry.ssh_port, username=files.USERNAME, password=PASSWORD,
        known_hosts=known_hosts, encoding=None,
    ) as conn:  # fmt: skip
        return await conn.run(f"powershell -Command {LONG_COMMAND}")


def test_stopping_the_lab_mid_ssh_command_leaves_no_task_pending(
    lab_thread: LabOnAThread, client_pool: ThreadPoolExecutor
) -> None:
    lab = lab_thread.lab
    entry = _up_entry(lab)
    known_hosts = lab.paths()["known_hosts"]
    running: Future[Any] = client_pool.submit(asyncio.run, _ssh_run(entry, known_hosts))
    _wait_for(
        lambda: any("start-sleep" in r.command.lower() for r in lab.host(entry.name).history),
        what="the command reached the host",
    )
    lab_thread.stop_lab()
    assert lab_thread.pending_tasks() == []
    # asyncssh's run() ends without an exit status when the connection goes under it.
    completed = running.result(timeout=10)
    assert (completed.exit_status, completed.stdout) == (None, b"")


def test_stopping_the_lab_ends_connections_to_listeners_closed_when_a_host_went_down(
    lab_thread: LabOnAThread,
) -> None:
    lab = lab_thread.lab
    entry = _up_entry(lab)
    station = lab.station(entry.name)
    # A client's idle keep-alive connection: its handler waits for the next request.
    idle = socket.create_connection((entry.address, entry.winrm_port))
    try:
        _wait_for(lambda: len(lab._handlers) == 1, what="the lab served the connection")

        async def crash() -> None:
            lab.host(entry.name).crash(restart_after=3600.0)
            await lab.settle()

        lab_thread.call(crash())
        assert station.http is None  # that listener is gone; its connection's handler is not
        lab_thread.stop_lab()
        assert lab_thread.pending_tasks() == []
        assert _hung_up(idle)
    finally:
        idle.close()
