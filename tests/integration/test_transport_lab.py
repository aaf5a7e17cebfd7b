"""Each transport against the lab's real servers: sessions, output, and each error class
produced by a real lab fault."""

from __future__ import annotations

import asyncio
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncssh
import pytest

from fleetfix.errors import ConfigError
from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.fleet import Lab
from fleetfix.models import Host, Transport
from fleetfix.transports import errors, script
from fleetfix.transports.base import ConnectOptions, Security, WinrmAuth
from fleetfix.transports.runner import RunOptions, run_everywhere
from fleetfix.transports.selection import make_transport, open_session
from fleetfix.transports.wsman import check_security
from tests.integration.test_transport_support import (
    ALL_TRANSPORTS,
    PASSWORD,
    executor,
    inventory_host,
    lab,
    options,
    up_host,
)

__all__ = ["executor", "lab"]  # fixtures used by name
pytestmark = pytest.mark.integration

REPORT = "Write-Output 'working'\n@{host = $env:COMPUTERNAME; n = 2} | ConvertTo-Json -Compress"


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
async def test_a_session_runs_several_scripts_and_parses_the_last_line(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(kind, options(lab), executor=executor).open(host, timeout=10)
    try:
        first = await session.run(REPORT, timeout=10)
        second = await session.run("Write-Output $Params.greeting", params={"greeting": "hi"},
                                   timeout=10)  # fmt: skip
    finally:
        await session.close()
    assert first.exit_code == 0
    assert first.json == {"host": host.name, "n": 2}
    assert first.stdout.startswith("working")
    assert first.transport == str(kind)
    assert second.stdout.strip() == "hi"


@pytest.mark.parametrize("kind", [Transport.WINRM, Transport.SSH])
async def test_a_script_too_long_for_the_command_line_runs_over_stdin(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    body = "".join(f"$line{i} = 'padding padding padding padding {i}'\n" for i in range(200))
    body += "@{last = $line199; p = $Params.p} | ConvertTo-Json -Compress\n"
    session = await make_transport(kind, options(lab), executor=executor).open(host, timeout=10)
    try:
        result = await session.run(body, params={"p": "x"}, timeout=10)
    finally:
        await session.close()
    assert result.json == {"last": "padding padding padding padding 199", "p": "x"}, result


@pytest.mark.parametrize("kind", [Transport.WINRM, Transport.SSH])
async def test_a_failing_script_is_a_result_with_its_exit_code_and_stderr(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(kind, options(lab), executor=executor).open(host, timeout=10)
    try:
        result = await session.run("Get-Item -LiteralPath 'C:\\no\\such\\file'", timeout=10)
    finally:
        await session.close()
    assert result.exit_code != 0
    assert "C:\\no\\such\\file" in result.stderr
    assert not result.stderr.startswith("#< CLIXML")


@pytest.mark.parametrize("kind", [Transport.WINRM, Transport.PSRP, Transport.SSH])
async def test_exit_n_gives_the_same_exit_code_over_every_transport(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(kind, options(lab), executor=executor).open(host, timeout=10)
    try:
        exited = await session.run("Write-Output 'partial'; exit 5", timeout=10)
        clean = await session.run("Write-Output 'ok'", timeout=10)
    finally:
        await session.close()
    assert (exited.exit_code, exited.stdout) == (5, "partial\r\n"), exited
    # The code of one script does not leak into the next on the same session.
    assert clean.exit_code == 0, clean


async def test_non_utf8_output_over_ssh_keeps_the_connection_and_the_rest_of_the_output(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(Transport.SSH, options(lab), executor=executor).open(
        host, timeout=10
    )
    try:
        # Over SSH the console code page is 437: é leaves the host as the byte 0x82.
        result = await session.run("Write-Output 'café'\nWrite-Output 'after'", timeout=10)
        again = await session.run("Write-Output 'still here'", timeout=10)
    finally:
        await session.close()
    assert result.stdout.splitlines() == ["caf\ufffd", "after"]
    assert again.stdout.strip() == "still here"


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
async def test_a_wrong_password_is_auth_failed(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    transport = make_transport(kind, options(lab, password="wrong"), executor=executor)
    with pytest.raises(errors.AuthFailed) as caught:
        await transport.open(host, timeout=10)
    assert caught.value.host == host.name
    assert "wrong" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
async def test_a_refused_connection_is_unreachable(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    name = up_host(lab).name
    lab.set_fault(name, Fault(FaultKind.REFUSE))
    await lab.settle()
    with pytest.raises(errors.Unreachable, match="refused"):
        await make_transport(kind, options(lab), executor=executor).open(
            inventory_host(lab, name), timeout=10
        )


@pytest.mark.parametrize("kind", [Transport.WINRM_HTTPS, Transport.PSRP_HTTPS])
async def test_an_untrusted_certificate_is_a_certificate_error(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    # No --ca-file: the system bundle does not know the lab's CA, and nothing is turned off.
    transport = make_transport(kind, options(lab, security=Security()), executor=executor)
    with pytest.raises(errors.CertificateError, match="--ca-file"):
        await transport.open(host, timeout=10)


async def test_insecure_skips_certificate_checks_only_when_asked(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    insecure = options(lab, security=Security(insecure=True))
    session = await make_transport(Transport.WINRM_HTTPS, insecure, executor=executor).open(
        host, timeout=10
    )
    await session.close()


async def test_an_unknown_ssh_host_key_is_a_host_key_mismatch(
    lab: Lab, executor: ThreadPoolExecutor, tmp_path: Path
) -> None:
    name = up_host(lab).name
    host = inventory_host(lab, name)
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known = tmp_path / "known_hosts"
    port = host.tag_value("ssh_port")
    known.write_text(f"[{host.address}]:{port} {stranger}", encoding="utf-8")
    transport = make_transport(
        Transport.SSH, options(lab, security=Security(known_hosts=known)), executor=executor
    )
    with pytest.raises(errors.HostKeyMismatch, match="known-hosts"):
        await transport.open(host, timeout=10)


@pytest.mark.parametrize("kind", [Transport.WINRM, Transport.PSRP])
async def test_a_wsman_fault_is_a_protocol_error(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    name = up_host(lab).name
    lab.set_fault(name, Fault(FaultKind.HTTP_500))
    with pytest.raises(errors.ProtocolError):
        await make_transport(kind, options(lab), executor=executor).open(
            inventory_host(lab, name), timeout=10
        )


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
async def test_a_reset_mid_command_is_connection_lost(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    name = up_host(lab).name
    session = await make_transport(kind, options(lab), executor=executor).open(
        inventory_host(lab, name), timeout=10
    )
    lab.set_fault(name, Fault(FaultKind.RESET))
    try:
        with pytest.raises(errors.ConnectionLost):
            await session.run("Write-Output 'x' * 100", timeout=10)
    finally:
        await session.close()


async def test_basic_over_plain_http_is_refused_before_connecting(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    basic = ConnectOptions(credentials=options(lab).credentials, auth=WinrmAuth.BASIC)
    for kind in (Transport.WINRM, Transport.PSRP):
        with pytest.raises(errors.TransportRefused, match="in clear"):
            await make_transport(kind, basic, executor=executor).open(
                inventory_host(lab, up_host(lab).name), timeout=10
            )


async def test_credssp_is_refused_unless_allowed(lab: Lab, executor: ThreadPoolExecutor) -> None:
    credssp = ConnectOptions(credentials=options(lab).credentials, auth=WinrmAuth.CREDSSP)
    with pytest.raises(errors.TransportRefused, match="CredSSP"):
        await make_transport(Transport.WINRM_HTTPS, credssp, executor=executor).open(
            inventory_host(lab, up_host(lab).name), timeout=10
        )


async def test_auto_picks_the_first_transport_that_answers(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await open_session(host, options(lab), executor=executor, timeout=10)
    await session.close()
    assert session.transport == "winrm-https"
    lab.set_fault(host.name, Fault(FaultKind.REFUSE))
    await lab.settle()
    with pytest.raises(errors.Unreachable, match="none of"):
        await open_session(host, options(lab), executor=executor, timeout=10)


async def test_a_hung_command_times_out_without_stalling_the_event_loop(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(Transport.WINRM, options(lab), executor=executor).open(
        host, timeout=10
    )
    task = asyncio.ensure_future(session.run("Start-Sleep -Seconds 100000", timeout=2))
    await asyncio.sleep(0.2)
    ticks = 0
    while not task.done():
        ticks += 1
        await asyncio.sleep(0.05)
    # The loop kept turning while the worker waited on the host.
    assert ticks > 10
    with pytest.raises(errors.OperationTimeout):
        task.result()
    await session.close()


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
async def test_check_turns_a_failed_script_into_a_remote_error_with_its_stderr(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(kind, options(lab), executor=executor).open(host, timeout=10)
    try:
        result = await session.run("Get-Item -LiteralPath 'C:\\nope'", timeout=10)
        assert (await session.run("Write-Output ok", timeout=10)).check().stdout.strip() == "ok"
    finally:
        await session.close()
    with pytest.raises(errors.RemoteError, match="exit code 1") as caught:
        result.check()
    assert caught.value.exit_code == 1
    assert "C:\\nope" in caught.value.stderr


async def test_a_long_non_ascii_script_travels_over_ssh_stdin_unchanged(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    word = "Überprüfung der Gerätetreiber: Größe ±5 °C, naïve café"
    body = "# Prüft, ob der Text unverändert ankommt\n"
    body += "Write-Output 'padding padding padding'\n" * 200
    body += f"$word = '{word}'\n"
    # Answered in base64 of UTF-8: over SSH the console would print é as one cp437 byte.
    body += "[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($word))\n"
    assert not script.fits_command_line(script.with_params(body, None))
    session = await make_transport(Transport.SSH, options(lab), executor=executor).open(
        host, timeout=10
    )
    try:
        result = await session.run(body, timeout=10)
        again = await session.run(body, timeout=10)  # the code page is asked once per session
    finally:
        await session.close()
    assert result.exit_code == 0, result.stderr
    assert script.decode_base64_text(result.stdout.splitlines()[-1]) == word
    assert again.stdout == result.stdout
    history = [entry["command"] for entry in lab.history(host.name)["commands"]]
    assert history.count("chcp") == 1


async def test_a_long_script_with_text_the_hosts_code_page_lacks_is_refused_over_ssh(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    host = inventory_host(lab, up_host(lab).name)
    body = "# ‘curly’ quotes 😀\n" + "Write-Output 'padding padding padding'\n" * 200
    session = await make_transport(Transport.SSH, options(lab), executor=executor).open(
        host, timeout=10
    )
    try:
        with pytest.raises(ValueError, match=r"code page 437.*U\+2018"):
            await session.run(body, timeout=10)
        # The same text as a parameter travels fine: parameters are base64.
        result = await session.run("Write-Output $Params.n.Length", params={"n": body},
                                   timeout=10)  # fmt: skip
    finally:
        await session.close()
    assert result.stdout.strip() == str(len(body))


@pytest.mark.parametrize("needs_chcp", [False, True], ids=["command line", "stdin after chcp"])
async def test_a_deadline_spent_before_an_ssh_command_starts_is_its_timeout_not_a_lost_host(
    lab: Lab, executor: ThreadPoolExecutor, needs_chcp: bool
) -> None:
    """No time left when the channel would be opened (a `chcp` that took the whole budget
    leaves the script none): the command times out, and the connection, which answered
    all along, stays open for the next one."""
    host = inventory_host(lab, up_host(lab).name)
    body = "Write-Output 'é'\n" + "Write-Output 'padding padding padding'\n" * 200
    if not needs_chcp:
        body = "hostname"
    session = await make_transport(Transport.SSH, options(lab), executor=executor).open(
        host, timeout=10
    )
    try:
        with pytest.raises(errors.OperationTimeout, match="deadline"):
            await session.run(body, timeout=0)
        again = await session.run("hostname", timeout=10)
    finally:
        await session.close()
    assert again.stdout.strip() == host.name


@pytest.mark.parametrize("kind", [Transport.WINRM, Transport.PSRP])
async def test_basic_over_plain_http_runs_when_allowed_by_name(
    lab: Lab, executor: ThreadPoolExecutor, kind: Transport
) -> None:
    allowed = ConnectOptions(
        credentials=options(lab).credentials, auth=WinrmAuth.BASIC,
        security=Security(allow_basic_over_http=True),
    )  # fmt: skip
    host = inventory_host(lab, up_host(lab).name)
    session = await make_transport(kind, allowed, executor=executor).open(host, timeout=10)
    try:
        result = await session.run("hostname", timeout=10)
    finally:
        await session.close()
    assert (result.exit_code, result.stdout.strip()) == (0, host.name)


async def test_allowed_credssp_is_not_refused_and_without_requests_credssp_stops_the_run_once(
    lab: Lab,
) -> None:
    if importlib.util.find_spec("requests_credssp") is not None:
        pytest.skip("requests-credssp is installed here: CredSSP would be tried for real")
    paths = lab.paths()
    allowed = ConnectOptions(
        credentials=options(lab).credentials, auth=WinrmAuth.CREDSSP,
        security=Security(ca_file=Path(paths["ca"]), allow_credssp=True),
    )  # fmt: skip
    check_security(allowed, host="any", https=True)  # allowed by name: no refusal
    hosts = [inventory_host(lab, host.name) for host in lab.fleet.hosts]
    run = RunOptions(transport=Transport.WINRM_HTTPS, connect_timeout=10, timeout=10)
    outcomes = []
    # The package is missing from this install, not from any host: one error for the run,
    # saying what to install, instead of a failure recorded against every host.
    with pytest.raises(ConfigError, match="pip install requests-credssp") as caught:
        async for outcome in run_everywhere(hosts, "hostname", options=allowed, run=run):
            outcomes.append(outcome)
    assert outcomes == []
    assert not isinstance(caught.value, errors.TransportRefused)
    assert "credssp" in str(caught.value).lower()
    assert PASSWORD not in str(caught.value)


async def test_a_peer_that_breaks_the_ssh_protocol_is_a_protocol_error(
    lab: Lab, executor: ThreadPoolExecutor
) -> None:
    """The lab's OpenSSH speaks correct SSH whatever the fault, so the peer here is something
    else on the SSH port: it announces itself as OpenSSH, then sends bytes that are no SSH
    packet (a middlebox, a half-upgraded service)."""

    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_for_Windows_9.5\r\n")
        await reader.readline()
        writer.write(b"\x00\x00\x00\x0c\x0a\x15" + b"\xff" * 20)
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(broken, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    host = Host("BROKEN-01", address="127.0.0.1", transport=Transport.SSH,
                tags=(f"ssh_port={port}",))  # fmt: skip
    try:
        with pytest.raises(errors.ProtocolError, match="SSH"):
            await make_transport(Transport.SSH, options(lab), executor=executor).open(
                host, timeout=10
            )
    finally:
        server.close()
        await server.wait_closed()


async def test_an_ssh_host_key_of_a_type_known_hosts_lacks_is_a_host_key_mismatch(
    lab: Lab, executor: ThreadPoolExecutor, tmp_path: Path
) -> None:
    """known_hosts holds an RSA key for the host, which now offers ed25519 (reinstalled):
    asyncssh fails the key exchange, which is the host key's doing, not the protocol's."""
    host = inventory_host(lab, up_host(lab).name)
    stranger = asyncssh.generate_private_key("ssh-rsa").export_public_key().decode()
    known = tmp_path / "known_hosts"
    known.write_text(f"[{host.address}]:{host.tag_value('ssh_port')} {stranger}", encoding="utf-8")
    transport = make_transport(
        Transport.SSH, options(lab, security=Security(known_hosts=known)), executor=executor
    )
    with pytest.raises(errors.HostKeyMismatch, match="known-hosts"):
        await transport.open(host, timeout=10)
