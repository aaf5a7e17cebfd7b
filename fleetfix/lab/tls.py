"""The lab's own certificate authority: one CA per lab, one leaf certificate per host.

Clients verify the lab's WinRM listeners on 5986 against `ca.pem`, the same way they would
trust an enterprise CA, so certificate validation stays on in tests. Keys are EC P-256
because 2,000 listeners must start within seconds: an RSA key per host would not.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetfix.errors import LabError

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca-key.pem"
LEAF_KEY_NAME = "leaf-key.pem"
_VALIDITY = datetime.timedelta(days=365)
# Certificates are back-dated so a host clock a little behind the lab's never sees them
# as not yet valid.
_BACKDATE = datetime.timedelta(hours=1)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise LabError(f"{path} does not hold the lab's EC key; remove the folder to start afresh")
    return key


def _write_private(path: Path, data: bytes) -> None:
    # Created with 0600 from the start: a key must never exist world-readable, not even
    # for the moment between write and chmod.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetfix lab CA")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclass(slots=True)
class LabCA:
    """A CA whose certificate lives in `directory/ca.pem` and whose key never leaves
    `directory` (mode 0600)."""

    directory: Path
    _key: ec.EllipticCurvePrivateKey = field(repr=False)
    _certificate: x509.Certificate = field(repr=False)
    # One leaf key for every host of this lab: signing a certificate is cheap, generating
    # and loading a key per host is what would make 2,000 listeners slow.
    _leaf_key: ec.EllipticCurvePrivateKey = field(repr=False)
    _contexts: dict[tuple[str, str], ssl.SSLContext] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, directory: Path | str) -> LabCA:
        """Make a new CA in `directory` (created if missing)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _ca_certificate(key)
        _write_private(path / CA_KEY_NAME, _private_pem(key))
        (path / CA_CERT_NAME).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        _write_private(path / LEAF_KEY_NAME, _private_pem(leaf_key))
        return cls(path, key, certificate, leaf_key)

    @classmethod
    def load(cls, directory: Path | str) -> LabCA:
        """The CA an earlier `create` left in `directory`, so clients that already trust
        its `ca.pem` keep working across lab restarts."""
        path = Path(directory)
        key = _load_key(path / CA_KEY_NAME)
        certificate = x509.load_pem_x509_certificate((path / CA_CERT_NAME).read_bytes())
        return cls(path, key, certificate, _load_key(path / LEAF_KEY_NAME))

    @property
    def ca_path(self) -> Path:
        """The file clients pass as their trust anchor (`ca_trust_path`, `cert_validation`)."""
        return self.directory / CA_CERT_NAME

    def issue(self, hostname: str, address: str) -> x509.Certificate:
        """A leaf certificate for `hostname` with the host name and its IP address as SANs."""
        now = datetime.datetime.now(datetime.UTC)
        names: list[x509.GeneralName] = [
            x509.DNSName(hostname),
            x509.IPAddress(ipaddress.ip_address(address)),
        ]
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(self._certificate.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def server_context(self, hostname: str, address: str) -> ssl.SSLContext:
        """A server-side TLS context for one host's 5986 listener, issued on first use and
        cached, so restarting a listener after a reboot costs nothing."""
        cached = self._contexts.get((hostname, address))
        if cached is not None:
            return cached
        certificate = self.issue(hostname, address)
        leaf_dir = self.directory / "hosts"
        leaf_dir.mkdir(exist_ok=True)
        chain_path = leaf_dir / f"{hostname}_{address}.pem"
        chain_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(chain_path, self.directory / LEAF_KEY_NAME)
        self._contexts[(hostname, address)] = context
        return context
