"""An import killed with SIGKILL leaves none of itself or all of it, and the audit chain whole."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetfix.store import Store, open_reader

HOSTS = 200_000

# The child builds its inventory first, says "ready", then imports: anything the WAL gains
# after "ready" is the import itself being written.
_CHILD = f"""
import sys
from fleetfix.models import Host
from fleetfix.store import Store

hosts = [Host(f"WS{{i:06d}}", address="127.0.0.1", tags=("site=paris", "ward=4"))
         for i in range({HOSTS})]
store = Store.open(sys.argv[1])
print("ready", flush=True)
store.import_hosts(hosts, source="cmdb-200k.csv", actor="scheduler")
print("done", flush=True)
"""


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _wait_for_import_to_write(wal: Path, child: subprocess.Popen[str]) -> None:
    start_size = _size(wal)
    deadline = time.monotonic() + 120  # a bound against hanging CI, not a speed assertion
    while _size(wal) <= start_size:
        assert child.poll() is None, "the child finished before the import wrote anything"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.005)


@pytest.mark.slow
def test_sigkill_mid_import_leaves_none_or_all(tmp_path: Path) -> None:
    path = tmp_path / "incident.db"
    seed = int.from_bytes(os.urandom(4), "big")
    delay = random.Random(seed).uniform(0.0, 0.4)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        _wait_for_import_to_write(path.with_name(path.name + "-wal"), child)
        time.sleep(delay)
        assert child.poll() is None, f"import finished before the kill (seed {seed})"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL

    with Store.open(path), open_reader(path) as reader:  # the writer's open recovers the WAL
        hosts = len(reader.hosts())
        audit = reader.verify_audit()
        counts = reader.state_counts()
    assert hosts in (0, HOSTS), f"partial import of {hosts} hosts (seed {seed}, delay {delay})"
    assert audit.ok, audit
    assert audit.rows_checked == (1 if hosts else 0)
    assert counts.total == hosts
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM transitions").fetchone()[0] == hosts
