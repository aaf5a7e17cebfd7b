"""A real OpenLDAP slapd on loopback, carrying AD's BitLocker schema, for the AD provider tests.

`start_slapd(tmp_path)` writes a slapd.conf into a temp dir, starts slapd in the foreground on
127.0.0.1 with a free port, waits until it answers, and loads a small directory: a domain,
`OU=Computers`, and three accounts: the admin (rootdn), `keyreader` (may read
msFVE-RecoveryPassword, as a delegated BitLocker reader in AD) and `helpdesk` (may search but
not read the confidential attribute, as most AD accounts). `plant_keys` adds computers with
their `msFVE-RecoveryInformation` children. `stop_slapd` stops it and waits for it.
`lab_tls_files(ca)` turns a lab CA into the certificate files `start_slapd(tls=...)` takes.

Simple bind over plain LDAP is used here because the server is on loopback; fleetfix's config
refuses plain LDAP to anything else.

Needs Debian's slapd: `DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ldap3

from fleetfix.lab.tls import LEAF_KEY_NAME, LabCA

SCHEMA = Path(__file__).parent.parent / "data" / "keys" / "bitlocker.schema"
BASE_DN = "dc=example,dc=org"
COMPUTERS_DN = f"ou=Computers,{BASE_DN}"
ADMIN_DN = f"cn=admin,{BASE_DN}"
READER_DN = f"cn=keyreader,{BASE_DN}"
HELPDESK_DN = f"cn=helpdesk,{BASE_DN}"
ADMIN_PASSWORD = "slapd-admin-Passw0rd"
READER_PASSWORD = "keyreader-Passw0rd"
HELPDESK_PASSWORD = "helpdesk-Passw0rd"
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/local/libexec")
_MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib/openldap", "/usr/local/libexec/openldap")


class SlapdMissingError(RuntimeError):
    pass


@dataclass(frozen=True)
class PlantedKey:
    """One recovery key as AD stores it under a computer object."""

    host: str
    key_id: str  # GUID, no braces
    password: str
    created: str = "2024-07-01T09:00:00-00:00"
    volume_guid: str = "7A1B2C3D-0000-4000-8000-000000000001"

    @property
    def cn(self) -> str:
        return f"{self.created}{{{self.key_id.upper()}}}"


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate (with 127.0.0.1 as a SAN), its key, and the CA that issued it."""

    ca: Path
    certificate: Path
    key: Path


def lab_tls_files(ca: LabCA) -> TlsFiles:
    """A leaf from the lab CA for 127.0.0.1, so clients verify slapd against `ca.ca_path`."""
    ca.server_context("localhost", "127.0.0.1")  # issues and writes the leaf certificate
    return TlsFiles(
        ca=ca.ca_path,
        certificate=ca.directory / "hosts" / "localhost_127.0.0.1.pem",
        key=ca.directory / LEAF_KEY_NAME,
    )


@dataclass
class Slapd:
    uri: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    ldaps_uri: str | None = None


def slapd_binary() -> str:
    found = shutil.which("slapd") or next(
        (str(Path(d) / "slapd") for d in _SBIN if (Path(d) / "slapd").is_file()), None
    )
    if found is None:
        raise SlapdMissingError(
            "slapd is not installed; the AD provider tests run against a real OpenLDAP. "
            "Install it: DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils"
        )
    return found


def _module_dir() -> str:
    for directory in _MODULE_DIRS:
        if list(Path(directory).glob("back_mdb*")):
            return directory
    raise SlapdMissingError(f"slapd's back_mdb module not found in {', '.join(_MODULE_DIRS)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tls_config(tls: TlsFiles | None) -> str:
    if tls is None:
        return ""
    return (
        f"TLSCACertificateFile {tls.ca}\n"
        f"TLSCertificateFile {tls.certificate}\n"
        f"TLSCertificateKeyFile {tls.key}\n"
    )


def _config(workdir: Path, tls: TlsFiles | None) -> str:
    schema_dir = Path("/etc/ldap/schema")
    return (
        _tls_config(tls)
        + f"""
include {schema_dir / "core.schema"}
include {schema_dir / "cosine.schema"}
include {SCHEMA}
pidfile {workdir / "slapd.pid"}
modulepath {_module_dir()}
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {workdir / "db"}
access to attrs=userPassword
    by anonymous auth
    by * none
access to attrs=msFVE-RecoveryPassword
    by dn.exact="{READER_DN}" read
    by * none
access to * by * read
"""
    )


def start_slapd(workdir: Path, *, tls: TlsFiles | None = None) -> Slapd:
    """slapd on ldap://127.0.0.1 (StartTLS too when `tls` is given), plus ldaps:// then."""
    binary = slapd_binary()
    (workdir / "db").mkdir(parents=True)
    conf = workdir / "slapd.conf"
    conf.write_text(_config(workdir, tls))
    port = _free_port()
    uri = f"ldap://127.0.0.1:{port}"
    ldaps_uri = f"ldaps://127.0.0.1:{_free_port()}" if tls is not None else None
    listeners = " ".join(f"{u}/" for u in (uri, ldaps_uri) if u is not None)
    log = (workdir / "slapd.log").open("wb")
    # -d keeps slapd in the foreground so the test owns the process and can stop it.
    process = subprocess.Popen(
        [binary, "-f", str(conf), "-h", listeners, "-d", "0"], stdout=log, stderr=log
    )
    slapd = Slapd(uri=uri, port=port, workdir=workdir, process=process, ldaps_uri=ldaps_uri)
    try:
        _wait_until_listening(slapd)
        _load_base(slapd)
    except BaseException:
        stop_slapd(slapd)
        raise
    return slapd


def _wait_until_listening(slapd: Slapd, *, attempts: int = 200) -> None:
    for _ in range(attempts):
        if slapd.process.poll() is not None:
            log = (slapd.workdir / "slapd.log").read_text(errors="replace")
            raise RuntimeError(f"slapd exited with {slapd.process.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", slapd.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"slapd did not listen on {slapd.uri}")


def stop_slapd(slapd: Slapd) -> None:
    slapd.process.terminate()
    try:
        slapd.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        slapd.process.kill()
        slapd.process.wait(timeout=10)


def admin_connection(slapd: Slapd) -> ldap3.Connection:
    server = ldap3.Server(slapd.uri, get_info=ldap3.NONE)
    return ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)


def _add(
    conn: ldap3.Connection, dn: str, classes: list[str], attributes: dict[str, object]
) -> None:
    if not conn.add(dn, classes, attributes):  # type: ignore[no-untyped-call] # stubs lack it
        raise RuntimeError(f"slapd refused {dn}: {conn.result}")


def _load_base(slapd: Slapd) -> None:
    conn = admin_connection(slapd)
    try:
        _add(conn, BASE_DN, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
        _add(conn, COMPUTERS_DN, ["organizationalUnit"], {"ou": "Computers"})
        for dn, password in ((READER_DN, READER_PASSWORD), (HELPDESK_DN, HELPDESK_PASSWORD)):
            cn = dn.split(",")[0][3:]
            _add(conn, dn, ["person"], {"cn": cn, "sn": cn, "userPassword": password})
    finally:
        conn.unbind()


def computer_dn(host: str) -> str:
    return f"cn={host},{COMPUTERS_DN}"


def plant_keys(slapd: Slapd, keys: Sequence[PlantedKey]) -> None:
    """Add each key's computer (once) and the key object under it."""
    conn = admin_connection(slapd)
    try:
        for host in dict.fromkeys(key.host for key in keys):
            attributes = {"cn": host, "sAMAccountName": f"{host}$"}
            attributes["dNSHostName"] = f"{host.lower()}.example.org"
            _add(conn, computer_dn(host), ["computer"], dict(attributes))
        for key in keys:
            _add(
                conn,
                f"cn={key.cn},{computer_dn(key.host)}",
                ["msFVE-RecoveryInformation"],
                {
                    "cn": key.cn,
                    "msFVE-RecoveryPassword": key.password,
                    "msFVE-RecoveryGuid": uuid.UUID(key.key_id).bytes_le,
                    "msFVE-VolumeGuid": uuid.UUID(key.volume_guid).bytes_le,
                },
            )
    finally:
        conn.unbind()
