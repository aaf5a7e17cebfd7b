"""Machines for the shell tests: a default Windows Server built from a fixed seed and time."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime

from fleetfix.lab.machine import Machine

BOOT_TIME = datetime(2024, 7, 19, 6, 0, tzinfo=UTC)
# Passed in as data only: the shell never needs it, and no test prints it.
ADMIN_PASSWORD = "Lab-Only-Passw0rd"


def new_machine(*, seed: int = 291, hostname: str = "pacs-01") -> Machine:
    return Machine.default(
        hostname=hostname,
        rng=random.Random(seed),
        administrator_password=ADMIN_PASSWORD,
        at=BOOT_TIME,
    )


def encoded_command(script: str) -> str:
    """The command line pywinrm's `run_ps` sends: UTF-16LE, base64."""
    return "powershell -encodedcommand " + base64.b64encode(script.encode("utf-16-le")).decode()
