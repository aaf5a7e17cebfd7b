"""`fleetfix demo`, headless and on a terminal: the whole incident on a small simulated fleet,
ending with every host in a final state and no process left behind."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from fleetfix.engine import FINAL_STATES
from fleetfix.errors import FleetfixError
from fleetfix.store import open_reader

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        if text in args:
            found.append(args)
    return found


def test_headless_demo_recovers_the_fleet_and_leaves_nothing_running(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "fleetfix.cli", "demo", "--hosts", "12", "--headless",
         "--hands-on-after", "5", "--time-scale", "50", "--dir", str(directory)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if "| failed |" in line]
    assert done.returncode == 0, "\n".join(lines) + done.stderr[-2000:]
    assert f"database {directory / 'fleetfix.db'}" in done.stderr
    report = directory / "report.html"
    assert f"report {report}" in done.stderr
    assert "<svg" in report.read_text(encoding="utf-8")
    with open_reader(directory / "fleetfix.db") as reader:
        hosts = reader.hosts()
        assert len(hosts) == 12
        assert {h.state for h in hosts} <= FINAL_STATES
        assert reader.verify_audit().ok
    assert _processes_mentioning(str(directory)) == []
    assert not (directory / "lab" / "control.sock").exists()


def _drain(fd: int, into: bytearray) -> None:
    """Read a terminal's output until it closes: a full pty would block the TUI's writes."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            return
        if not chunk:
            return
        into.extend(chunk)


def _run_finished(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with open_reader(db) as reader:
            runs = [r for r in reader.runs() if r.command == "run"]
    except FleetfixError:  # not created yet
        return False
    return bool(runs) and all(r.finished_at is not None for r in runs)


# The dashboard's status line once the run's worker has seen the end of the run.
_FINISHED = re.compile(rb"run \d+ finished in")
# The yes button of the dialog `q` opens while a run is going.
_STOP_AND_QUIT = b"Stop and quit"


def _quit(leader: int, demo: subprocess.Popen[bytes], screen: bytearray) -> int:
    """Press q; if the run's worker was still winding down, q asks whether to stop the run:
    answer Stay and press q again. The demo's exit code."""
    deadline = time.monotonic() + 60
    mark = len(screen)
    os.write(leader, b"q")
    while (code := demo.poll()) is None:
        assert time.monotonic() < deadline, bytes(screen[-3000:]).decode(errors="replace")
        if _STOP_AND_QUIT in screen[mark:]:
            os.write(leader, b"n")
            time.sleep(0.5)  # the dialog goes; nothing on the dashboard is bound to n
            mark = len(screen)
            os.write(leader, b"q")
        time.sleep(0.1)
    return code


def test_demo_on_a_terminal_drives_the_run_in_the_tui_and_quits_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "110", "LINES": "30"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "fleetfix.cli", "demo", "--hosts", "12", "--hands-on-after", "5",
         "--time-scale", "50", "--dir", str(directory)],
        stdin=follower, stdout=follower, stderr=follower, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    screen = bytearray()
    drainer = threading.Thread(target=_drain, args=(leader, screen), daemon=True)
    drainer.start()
    try:
        deadline = time.monotonic() + 240
        while not (_run_finished(directory / "fleetfix.db") and _FINISHED.search(bytes(screen))):
            assert demo.poll() is None, bytes(screen[-3000:]).decode(errors="replace")
            assert time.monotonic() < deadline, "the run in the TUI did not finish"
            time.sleep(0.5)
        assert _quit(leader, demo, screen) == 0, bytes(screen[-3000:]).decode(errors="replace")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        drainer.join(timeout=5)
        os.close(leader)
    shown = bytes(screen).decode(errors="replace")
    assert "Hands-on" in shown and "recovered" in shown  # the dashboard, not headless lines
    assert f"report {directory / 'report.html'}" in shown
    with open_reader(directory / "fleetfix.db") as reader:
        assert {h.state for h in reader.hosts()} <= FINAL_STATES
        assert reader.verify_audit().ok
    assert _processes_mentioning(str(directory)) == []
    assert not (directory / "lab" / "control.sock").exists()


def test_demo_refuses_a_folder_it_did_not_make_and_keeps_its_files(tmp_path: Path) -> None:
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "incident.txt").write_text("do not delete", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "fleetfix.cli", "demo", "--headless", "--dir", str(precious)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "was not made by fleetfix demo" in done.stderr
    assert (precious / "incident.txt").read_text(encoding="utf-8") == "do not delete"


def test_an_earlier_demos_folder_is_replaced(tmp_path: Path) -> None:
    from fleetfix.cli_demo import DEMO_MARK, _fresh_folder

    folder = tmp_path / "demo-run"
    _fresh_folder(folder)
    assert (folder / DEMO_MARK).is_file()
    (folder / "fleetfix.db").write_text("the last demo's database", encoding="utf-8")
    _fresh_folder(folder)
    assert sorted(p.name for p in folder.iterdir()) == [DEMO_MARK]
