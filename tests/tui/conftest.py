"""What the TUI's tests share: the fixed incident in a fresh file, an app over it, and waiting
for the screen without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetfix.keys.audit import HMAC_ENV
from tests.tui.incident import ESCROW_KEYS, NOW, build_incident
from tests.tui.ui import FleetfixApp


@pytest.fixture
def incident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The per-database HMAC key file is used, as on a jump host without the variable.
    monkeypatch.delenv(HMAC_ENV, raising=False)
    return build_incident(tmp_path / "incident.db")


def make_app(path: Path, *, actor: str = "alice", reveal_seconds: float = 30.0) -> FleetfixApp:
    """The dashboard over `path`, with the escrow keys and the screen's clock pinned (30 s
    before a revealed key is hidden: the app's own default)."""
    return FleetfixApp(path, actor=actor, keys=ESCROW_KEYS, clock=lambda: NOW,
                       reveal_seconds=reveal_seconds)  # fmt: skip


async def wait_for(
    condition: Callable[[], object], *, seconds: float = 10.0, what: str = "the screen"
) -> None:
    """Return once `condition()` is true; fail after `seconds` (a budget for a loaded CI
    machine, not an expectation of speed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        await asyncio.sleep(0.05)
