"""Parameters are data: whatever a string holds, it reaches the script unchanged on every
transport. The script answers with the value's UTF-8 bytes in base64, so the check is
byte-exact and does not depend on the console code page."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetfix.lab.fleet import Lab
from fleetfix.models import Transport
from fleetfix.transports import script
from fleetfix.transports.base import Session
from fleetfix.transports.selection import make_transport
from tests.integration.test_transport_support import (
    executor,
    inventory_host,
    lab,
    options,
    up_host,
)

__all__ = ["executor", "lab"]  # fixtures used by name
pytestmark = pytest.mark.integration

ECHO = "[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes([string]$Params.value))"
NASTY = st.sampled_from(
    ["'", "''", "‘", "’", "‚", "‛", '"', "$()", "$(whoami)", "`", "`n", "&", "|", "^", "%",
     "%PATH%", "\r\n", "\n", "\x00", "😀", "𝄞", ";", "#", "<#", "@'", "\\", " "]
)  # fmt: skip
VALUES = st.lists(
    st.one_of(NASTY, st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)),
    max_size=6,
).map("".join)


async def echo(session: Session, value: str) -> str:
    result = await session.run(ECHO, params={"value": value}, timeout=10)
    assert result.exit_code == 0, result.stderr
    return script.decode_base64_text(result.stdout.strip())


@pytest.mark.parametrize(
    "kind", [Transport.WINRM, Transport.PSRP, Transport.SSH], ids=lambda kind: str(kind)
)
async def test_any_string_parameter_comes_back_byte_identical(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(kind, options(lab), executor=executor).open(host, timeout=10)
    seen: list[str] = []

    # Hypothesis drives a sync function; the session lives on this loop, so values are
    # gathered first and sent afterwards in one pass.
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(VALUES)
    def collect(value: str) -> None:
        seen.append(value)

    collect()
    try:
        for value in seen:
            assert await echo(session, value) == value
    finally:
        await session.close()
