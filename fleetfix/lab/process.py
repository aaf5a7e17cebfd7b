"""A lab in its own process (`fleetfix lab up`), for the demo, drills, tests and benchmarks:
started on free ports, ready once it prints its JSON line, always stopped with SIGTERM (then
killed if it will not go), so nothing is left running behind a crashed caller."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from fleetfix.errors import LabError

if TYPE_CHECKING:
    from fleetfix.transports.base import ConnectOptions

START_LIMIT = 300.0  # seconds: thousands of hosts on a busy 2-core box


@dataclass
class LabProcess:
    process: subprocess.Popen[str]
    directory: Path
    paths: dict[str, Any]

    @classmethod
    def start(
        cls, directory: Path, *, hosts: int, scenario: str = "crowdstrike-291", seed: int = 0,
        time_scale: float = 1.0, log: IO[str] | None = None, limit: float = START_LIMIT,
    ) -> LabProcess:  # fmt: skip
        """Start the lab; `log` receives its stderr (discarded when None)."""
        args = [sys.executable, "-m", "fleetfix.cli", "lab", "up", "--hosts", str(hosts),
                "--scenario", scenario, "--seed", str(seed), "--time-scale", str(time_scale),
                "--dir", str(directory), "--ssh-port", "0", "--winrm-port", "0",
                "--winrms-port", "0"]  # fmt: skip
        stderr = log if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], limit)
        line = process.stdout.readline() if ready else ""
        if not line:
            _end(process)
            raise LabError(f"the lab in {directory} did not start within {limit:g} s")
        return cls(process, directory, json.loads(line))

    def env(self) -> dict[str, str]:
        """The FLEETFIX_* variables a client needs (credentials, CA, known_hosts)."""
        from fleetfix.lab.files import read_lab_env

        return read_lab_env(Path(self.paths["lab_env"]))

    def connect_options(self) -> ConnectOptions:
        """How a client reaches every host: the lab's credentials, its CA and known_hosts."""
        from fleetfix.credentials import Credentials, Secret
        from fleetfix.transports.base import ConnectOptions, Security

        env = self.env()
        secret = Secret(env["FLEETFIX_PASSWORD"])
        return ConnectOptions(
            credentials=Credentials(env["FLEETFIX_USERNAME"], secret, "lab.env"),
            security=Security(ca_file=Path(self.paths["ca"]),
                              known_hosts=Path(self.paths["known_hosts"])),
        )  # fmt: skip

    def truth(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(Path(self.paths["truth"]).read_text(encoding="utf-8"))
        return found

    def stop(self) -> None:
        _end(self.process)

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()


def _end(process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
