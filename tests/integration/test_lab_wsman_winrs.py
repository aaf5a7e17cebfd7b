"""Real pywinrm clients against the lab's WS-Man server: WinRS cmd shells."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from pathlib import Path

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

from fleetfix.lab.tls import LabCA
from fleetfix.lab.wsman import auth
from tests.integration.wsman_helpers import PASSWORD, USER, Listener, ScriptedHost, listening

pytestmark = pytest.mark.integration


def _session(listener: Listener, transport: str, **options: object) -> winrm.Session:
    return winrm.Session(listener.url(), auth=(USER, PASSWORD), transport=transport, **options)


async def test_basic_run_cmd_returns_stdout_and_exit_code() -> None:
    async with listening() as lab:
        result = await asyncio.to_thread(_session(lab, "basic").run_cmd, "echo", ["hello"])
    assert (result.std_out, result.std_err, result.status_code) == (b"hello\r\n", b"", 0)
    assert lab.host.history[0][0] == "echo hello"


async def test_basic_run_cmd_reports_stderr_and_nonzero_exit() -> None:
    async with listening() as lab:
        result = await asyncio.to_thread(_session(lab, "basic").run_cmd, "exit", ["3"])
    assert result.status_code == 3
    assert result.std_err == b"failing on purpose\r\n"


async def test_run_ps_sends_an_encoded_command_to_the_host() -> None:
    async with listening() as lab:
        result = await asyncio.to_thread(_session(lab, "basic").run_ps, "Get-Date")
    assert result.status_code == 0
    assert result.std_out == b"ps:Get-Date\r\n"
    assert "-encodedcommand" in lab.host.history[0][0].lower()


async def test_ntlm_with_message_encryption_runs_commands() -> None:
    async with listening() as lab:
        session = _session(lab, "ntlm", message_encryption="always")
        first = await asyncio.to_thread(session.run_cmd, "echo", ["sealed"])
        second = await asyncio.to_thread(session.run_cmd, "echo", ["again"])
    assert first.std_out == b"sealed\r\n"
    assert second.std_out == b"again\r\n"


async def test_wrong_password_raises_invalid_credentials_for_basic_and_ntlm() -> None:
    async with listening() as lab:
        for transport in ("basic", "ntlm"):
            session = winrm.Session(lab.url(), auth=(USER, "wrong"), transport=transport)
            with pytest.raises(InvalidCredentialsError):
                await asyncio.to_thread(session.run_cmd, "echo", ["x"])
        assert lab.host.history == []


async def test_unauthenticated_request_is_challenged_like_windows() -> None:
    async with listening() as lab:
        response = await asyncio.to_thread(requests.post, lab.url(), data=b"<x/>", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Negotiate, Basic realm="WSMAN"'


async def test_https_with_lab_ca_validates_and_a_wrong_ca_fails(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path / "lab")
    other = LabCA.create(tmp_path / "other")
    context = ca.server_context("LAB-WS01", "127.0.0.1")
    async with listening(ssl_context=context) as lab:
        good = winrm.Session(
            lab.url("https"),
            auth=(USER, PASSWORD),
            transport="ntlm",
            server_cert_validation="validate",
            ca_trust_path=str(ca.ca_path),
        )
        result = await asyncio.to_thread(good.run_cmd, "echo", ["tls"])
        bad = winrm.Session(
            lab.url("https"),
            auth=(USER, PASSWORD),
            transport="basic",
            server_cert_validation="validate",
            ca_trust_path=str(other.ca_path),
        )
        with pytest.raises(requests.exceptions.SSLError):
            await asyncio.to_thread(bad.run_cmd, "echo", ["tls"])
    assert result.std_out == b"tls\r\n"


def test_ca_keys_are_private_and_ca_cert_is_written(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path)
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "leaf-key.pem").stat().st_mode & 0o777 == 0o600
    assert ca.ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


async def test_a_reloaded_ca_issues_certificates_the_old_ca_pem_validates(
    tmp_path: Path,
) -> None:
    LabCA.create(tmp_path)
    reloaded = LabCA.load(tmp_path)
    context = reloaded.server_context("LAB-WS01", "127.0.0.1")
    async with listening(ScriptedHost(), ssl_context=context) as lab:
        session = winrm.Session(
            lab.url("https"),
            auth=(USER, PASSWORD),
            transport="basic",
            server_cert_validation="validate",
            ca_trust_path=str(tmp_path / "ca.pem"),
        )
        result = await asyncio.to_thread(session.run_cmd, "echo", ["again"])
    assert result.std_out == b"again\r\n"


def _protocol(
    listener: Listener, *, operation_timeout: int = 20, read_timeout: int = 30
) -> Protocol:
    return Protocol(
        listener.url(),
        transport="basic",
        username=USER,
        password=PASSWORD,
        operation_timeout_sec=operation_timeout,
        read_timeout_sec=read_timeout,
    )


def _shell_with_stdin(protocol: Protocol) -> tuple[bytes, bytes, int, int]:
    shell_id = protocol.open_shell(codepage=65001)
    command_id = protocol.run_command(shell_id, "more")
    protocol.send_command_input(shell_id, command_id, b"line one\r\n", end=False)
    protocol.send_command_input(shell_id, command_id, b"line two\r\n", end=True)
    out, err, code = protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    second = protocol.run_command(shell_id, "echo", ["same", "shell"])
    protocol.get_command_output(shell_id, second)
    protocol.cleanup_command(shell_id, second)
    protocol.close_shell(shell_id)
    return out, err, code, 0


async def test_protocol_keeps_a_utf8_shell_and_collects_stdin_until_end() -> None:
    async with listening() as lab:
        out, err, code, _ = await asyncio.to_thread(_shell_with_stdin, _protocol(lab))
    assert (out, err, code) == (b"line one\r\nline two\r\n", b"", 0)
    assert [entry[2] for entry in lab.host.history] == [65001, 65001]
    assert lab.host.history[0][1] == b"line one\r\nline two\r\n"


def _long_command(protocol: Protocol) -> bool:
    """True when the first Receive answered the OperationTimeout fault."""
    shell_id = protocol.open_shell()
    script = base64.b64encode("Start-Sleep -Seconds 3".encode("utf-16-le")).decode()
    command_id = protocol.run_command(shell_id, f"powershell -encodedcommand {script}")
    try:
        protocol._raw_get_command_output(shell_id, command_id)
    except WinRMOperationTimeoutError:
        return True
    finally:
        protocol.cleanup_command(shell_id, command_id)
        protocol.close_shell(shell_id)
    return False


async def test_long_command_answers_the_operation_timeout_fault() -> None:
    async with listening() as lab:
        protocol = _protocol(lab, operation_timeout=1, read_timeout=5)
        timed_out = await asyncio.to_thread(_long_command, protocol)
    assert timed_out is True


def _bad_ids(protocol: Protocol) -> tuple[str, str]:
    shell_id = protocol.open_shell()
    try:
        protocol.get_command_output(shell_id, "00000000-0000-0000-0000-000000000000")
    except WSManFaultError as exc:
        bad_command = f"{exc.code} {exc.wsman_fault_code} {exc.fault_subcode} {exc.response}"
    try:
        protocol.run_command("11111111-1111-1111-1111-111111111111", "echo", ["x"])
    except WSManFaultError as exc:
        bad_shell = f"{exc.code} {exc.wsman_fault_code} {exc.response}"
    protocol.close_shell(shell_id)
    return bad_command, bad_shell


async def test_unknown_shell_and_command_ids_answer_windows_faults() -> None:
    async with listening() as lab:
        bad_command, bad_shell = await asyncio.to_thread(_bad_ids, _protocol(lab))
    assert bad_command.startswith("500 2150858843 w:InvalidSelectors ")
    assert "command identifier that does not exist" in bad_command
    assert "2150858843" in bad_shell
    assert "ShellId 11111111-1111-1111-1111-111111111111" in bad_shell


async def test_ntlm_leaves_no_credential_file_or_variable_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fleetfix")
    async with listening() as lab:
        session = _session(lab, "ntlm", message_encryption="always")
        await asyncio.to_thread(session.run_cmd, "echo", ["x"])
        wrong = winrm.Session(lab.url(), auth=(USER, "not-it"), transport="ntlm")
        with pytest.raises(InvalidCredentialsError):
            await asyncio.to_thread(wrong.run_cmd, "echo", ["x"])
    assert "NTLM_USER_FILE" not in os.environ
    assert list(auth.credential_directory().iterdir()) == []
    assert PASSWORD not in caplog.text


def _chunked_create(url: str) -> requests.Response:
    envelope = RECORDED_CREATE.encode()
    return requests.post(
        url,
        data=(envelope[i : i + 100] for i in range(0, len(envelope), 100)),
        auth=(USER, PASSWORD),
        headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        timeout=10,
    )


RECORDED_CREATE = (
    '<s:Envelope xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
    "<wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</wsa:Action>"
    "<wsa:MessageID>uuid:FC40E3CD-53E9-4315-B486-6D538B25D1F5</wsa:MessageID>"
    "<wsman:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
    "</wsman:ResourceURI></s:Header><s:Body><rsp:Shell><rsp:InputStreams>stdin"
    "</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
    "</s:Body></s:Envelope>"
)


async def test_a_chunked_request_body_is_read_whole() -> None:
    async with listening() as lab:
        response = await asyncio.to_thread(_chunked_create, lab.url())
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200
    assert b"<rsp:ShellId>" in response.content
    assert b"uuid:FC40E3CD-53E9-4315-B486-6D538B25D1F5</a:RelatesTo>" in response.content


async def test_an_unknown_action_answers_action_not_supported() -> None:
    body = RECORDED_CREATE.replace("transfer/Create", "transfer/Get")
    async with listening() as lab:
        response = await asyncio.to_thread(
            requests.post,
            lab.url(),
            data=body.encode(),
            auth=(USER, PASSWORD),
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
            timeout=10,
        )
    assert response.status_code == 500
    assert b"<s:Value>a:ActionNotSupported</s:Value>" in response.content


async def test_a_garbled_negotiate_token_is_refused_not_fatal() -> None:
    async with listening(ScriptedHost()) as lab:
        garbled = await asyncio.to_thread(
            requests.post,
            lab.url(),
            data=b"",
            headers={"Authorization": "Negotiate " + base64.b64encode(b"NTLMSSP\x00junk").decode()},
            timeout=10,
        )
        after = await asyncio.to_thread(_session(lab, "ntlm").run_cmd, "echo", ["still"])
    assert garbled.status_code == 401
    assert after.std_out == b"still\r\n"
