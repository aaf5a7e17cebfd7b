"""`fleetfix doctor` against a real lab: each check's verdict comes from what a real client
sees, and every failure says what to fix."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli_doctor import doctor, spread_sample
from fleetfix.doctor import Check, Verdict, _clock, diagnose_sample
from fleetfix.lab import files
from fleetfix.lab.fleet import Lab
from fleetfix.lab.tls import LabCA
from fleetfix.models import Host, Transport
from fleetfix.transports.base import Security, WinrmAuth
from fleetfix.transports.ports import port_for
from fleetfix.transports.selection import port_open
from tests.integration.test_transport_support import (
    PASSWORD,
    executor,
    inventory_host,
    lab,
    options,
    up_host,
)

__all__ = ["executor", "lab"]  # fixtures
pytestmark = pytest.mark.integration


def _by_check(checks: list[Check], host: str) -> dict[str, Check]:
    return {check.name: check for check in checks if check.host == host}


async def test_a_healthy_host_passes_every_check_but_the_lab_clock(lab: Lab) -> None:
    host = inventory_host(lab, up_host(lab).name, Transport.WINRM_HTTPS)
    checks = _by_check(
        await diagnose_sample([host], lambda _h: options(lab), concurrency=2, timeout=10),
        host.name,
    )
    assert [checks[n].verdict for n in ("resolve", "ports", "tls", "logon")] == [Verdict.OK] * 4
    assert checks["logon"].detail == "logged on over winrm-https"
    # The lab's hosts live on 19 July 2024: far beyond Kerberos's five minutes.
    assert checks["clock"].verdict is Verdict.WARN and "behind" in checks["clock"].detail
    assert "w32tm" in checks["clock"].fix


async def test_wrong_password_and_untrusted_certificate_say_what_to_fix(
    lab: Lab, tmp_path: Path
) -> None:
    host = inventory_host(lab, up_host(lab).name, Transport.WINRM_HTTPS)
    wrong = await diagnose_sample(
        [host], lambda _h: options(lab, password="not-it"), concurrency=1, timeout=10
    )
    logon = _by_check(wrong, host.name)["logon"]
    assert logon.verdict is Verdict.FAIL and "password" in logon.fix
    other_ca = LabCA.create(tmp_path / "other-ca")
    untrusted = options(lab, security=Security(ca_file=other_ca.ca_path))
    checks = _by_check(
        await diagnose_sample([host], lambda _h: untrusted, concurrency=1, timeout=10), host.name
    )
    assert checks["tls"].verdict is Verdict.FAIL and "--ca-file" in checks["tls"].fix
    assert checks["logon"].verdict is Verdict.FAIL


async def test_a_down_host_and_an_unknown_name_fail_early_and_skip_the_rest(lab: Lab) -> None:
    machine = up_host(lab)
    down = inventory_host(lab, machine.name, Transport.WINRM)
    machine.shutdown(reason="doctor test: powered off", delay=0)
    for _ in range(100):  # the lab closes a host's listeners as it goes down
        if not await port_open(down.target, port_for(down, Transport.WINRM)):
            break
        await asyncio.sleep(0.05)
    nameless = Host("no-such-host.invalid", transport=Transport.WINRM)
    checks = await diagnose_sample(
        [down, nameless], lambda _h: options(lab), concurrency=2, timeout=5
    )
    refused = _by_check(checks, down.name)
    assert refused["ports"].verdict is Verdict.FAIL and refused["ports"].fix
    assert {refused[n].verdict for n in ("tls", "logon", "clock")} == {Verdict.SKIPPED}
    unknown = _by_check(checks, nameless.name)
    assert unknown["resolve"].verdict is Verdict.FAIL and "DNS" in unknown["resolve"].fix
    assert unknown["ports"].verdict is Verdict.SKIPPED


def test_a_sample_is_spread_over_the_inventory() -> None:
    hosts = [Host(f"H{i:02d}") for i in range(10)]
    assert [h.name for h in spread_sample(hosts, 3)] == ["H00", "H03", "H06"]
    assert spread_sample(hosts, 0) == hosts
    assert spread_sample(hosts, 50) == hosts


async def test_doctor_command_exits_6_when_a_check_fails(lab: Lab) -> None:
    paths = lab.paths()
    env = {
        "FLEETFIX_USERNAME": files.USERNAME, "FLEETFIX_PASSWORD": PASSWORD,
        "FLEETFIX_CA_BUNDLE": paths["ca"], "FLEETFIX_KNOWN_HOSTS": paths["known_hosts"],
    }  # fmt: skip
    args = ["-i", paths["inventory_csv"], "--sample", "0", "--json"]
    done = await asyncio.to_thread(CliRunner(env=env).invoke, doctor, args)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert {line["host"] for line in lines} == {h.name for h in lab.fleet.hosts}
    failed = [line for line in lines if line["verdict"] == "fail"]
    assert done.exit_code == (6 if failed else 0), done.output
    # service-outage hosts are all up: the only warnings are the lab's 2024 clocks.
    assert not failed
    assert {line["check"] for line in lines if line["verdict"] == "warn"} == {"clock"}


async def test_clock_skew_fails_when_the_run_logs_on_with_kerberos(lab: Lab) -> None:
    # SSH logs on with the password whatever --auth says, so the lab's clock can be read; the
    # lab's 2024 clocks are far beyond the five minutes Kerberos allows.
    host = inventory_host(lab, up_host(lab).name, Transport.SSH)
    kerberos = dataclasses.replace(options(lab), auth=WinrmAuth.KERBEROS)
    checks = _by_check(
        await diagnose_sample([host], lambda _h: kerberos, concurrency=1, timeout=10), host.name
    )
    assert checks["logon"].verdict is Verdict.OK
    clock = checks["clock"]
    assert clock.verdict is Verdict.FAIL and "behind" in clock.detail
    assert "Kerberos refuses logons" in clock.fix and "w32tm" in clock.fix


async def test_tls_is_checked_for_psrp_over_https_too(lab: Lab, tmp_path: Path) -> None:
    host = inventory_host(lab, up_host(lab).name, Transport.PSRP_HTTPS)
    trusted = _by_check(
        await diagnose_sample([host], lambda _h: options(lab), concurrency=1, timeout=10),
        host.name,
    )
    assert trusted["tls"].verdict is Verdict.OK and "certificate trusted" in trusted["tls"].detail
    assert trusted["logon"].detail == "logged on over psrp-https"
    other_ca = LabCA.create(tmp_path / "other-ca")
    untrusted = options(lab, security=Security(ca_file=other_ca.ca_path))
    checks = _by_check(
        await diagnose_sample([host], lambda _h: untrusted, concurrency=1, timeout=10), host.name
    )
    assert checks["tls"].verdict is Verdict.FAIL and "--ca-file" in checks["tls"].fix


async def test_doctor_records_nothing_and_its_options_say_so(lab: Lab, tmp_path: Path) -> None:
    shown = " ".join(CliRunner().invoke(doctor, ["--help"]).stdout.split())
    assert "audit" not in shown and "--db" not in shown and "--operator" not in shown
    assert "the tls check then only warns" in shown
    refused = CliRunner().invoke(doctor, ["-i", lab.paths()["inventory_csv"], "--db", "x.db"])
    assert refused.exit_code == 2 and "--db" in refused.stderr
    db = tmp_path / "incident.db"
    paths = lab.paths()
    env = {
        "FLEETFIX_USERNAME": files.USERNAME, "FLEETFIX_PASSWORD": PASSWORD,
        "FLEETFIX_CA_BUNDLE": paths["ca"], "FLEETFIX_DB": str(db),
    }  # fmt: skip
    args = ["-i", paths["inventory_csv"], "--sample", "1", "--insecure", "--json"]
    done = await asyncio.to_thread(CliRunner(env=env).invoke, doctor, args)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["verdict"] for line in lines if line["check"] == "tls"] == ["warn"]
    assert not db.exists()


def test_doctor_looks_up_no_actor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Doctor records nothing, so it has nobody to name: not even the OS user is asked for.
    def getuser() -> str:
        raise AssertionError("doctor looked up who is acting")

    monkeypatch.setattr(getpass, "getuser", getuser)
    inventory = tmp_path / "hosts.txt"
    inventory.write_text("no-such-host.invalid\n")
    env = {"FLEETFIX_USERNAME": "svc-fix", "FLEETFIX_PASSWORD": "not-used"}
    done = CliRunner(env=env).invoke(doctor, ["-i", str(inventory), "--json"])
    assert done.exit_code == 6, done.output
    assert json.loads(done.stdout.splitlines()[0])["check"] == "resolve"
    assert not {"db_path", "operator"} & {param.name for param in doctor.params}


@pytest.mark.parametrize(
    ("skew", "kerberos", "verdict"),
    [(299, True, Verdict.OK), (-301, False, Verdict.WARN), (301, True, Verdict.FAIL)],
)
def test_clock_skew_beyond_five_minutes_fails_only_for_kerberos(
    skew: float, kerberos: bool, verdict: Verdict
) -> None:
    now = time.time()
    remote = datetime.fromtimestamp(now + skew, tz=UTC).isoformat()
    clock = _clock(Host("PACS-01"), f"{remote}\n", midpoint=now, kerberos=kerberos)
    assert clock.verdict is verdict
    assert ("w32tm" in clock.fix) is (verdict is not Verdict.OK)
    assert ("use NTLM" in clock.fix) is (verdict is Verdict.WARN)
