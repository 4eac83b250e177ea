"""`fleetwatch-collector tls init/client`: a CA kept across runs, server and client certificates it signed."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetwatch_collector.cli import main as collector_main
from fleetwatch_collector.tlsinit import issue

NAMES = ["collector.tg.example", "localhost", "127.0.0.1", "::1"]


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tls_init(directory: Path, *names: str) -> None:
    args = ["tls", "init", "--dir", str(directory)]
    for name in names:
        args += ["--name", name]
    assert collector_main(args) == 0


def signed_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert leaf.signature_hash_algorithm is not None
    try:
        public.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
    except InvalidSignature:
        return False
    return leaf.issuer == ca.subject


def eku(certificate: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_init_writes_a_ca_and_a_server_certificate_it_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls_init(tmp_path / "tls", *NAMES)
    d = tmp_path / "tls"
    assert {p.name for p in d.iterdir()} == {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
    ca, server = cert(d / "ca.pem"), cert(d / "server.pem")
    assert signed_by(ca, ca)  # self-signed
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert signed_by(server, ca)
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert eku(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NAMES[0]
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["collector.tg.example", "localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    out = capsys.readouterr().out
    assert str(d / "ca.pem") in out and str(d / "server-key.pem") in out


def test_private_keys_are_owner_only_and_match_their_certificates(tmp_path: Path) -> None:
    d = tmp_path / "tls"
    d.mkdir()
    (d / "server-key.pem").write_text("stale")
    (d / "server-key.pem").chmod(0o644)  # a file left by hand is tightened too
    tls_init(d)
    for key_name, cert_name in (("ca-key.pem", "ca.pem"), ("server-key.pem", "server.pem")):
        assert mode(d / key_name) == 0o600, key_name
        key = serialization.load_pem_private_key((d / key_name).read_bytes(), password=None)
        assert key.public_key() == cert(d / cert_name).public_key()


def test_default_names_are_loopback(tmp_path: Path) -> None:
    tls_init(tmp_path)
    sans = cert(tmp_path / "server.pem").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_second_init_keeps_the_ca(tmp_path: Path) -> None:
    tls_init(tmp_path, "localhost")
    ca_before, key_before = (tmp_path / "ca.pem").read_bytes(), (tmp_path / "ca-key.pem").read_bytes()
    first = cert(tmp_path / "server.pem")
    tls_init(tmp_path, "collector-2", "10.0.0.5")
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    assert (tmp_path / "ca-key.pem").read_bytes() == key_before
    second = cert(tmp_path / "server.pem")
    assert second.serial_number != first.serial_number
    assert signed_by(second, cert(tmp_path / "ca.pem"))  # agents keep trusting the same ca.pem
    sans = second.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]


def test_client_certificate_has_client_auth(tmp_path: Path) -> None:
    tls_init(tmp_path)
    assert collector_main(["tls", "client", "--dir", str(tmp_path), "--cn", "pc-ke-01"]) == 0
    client = cert(tmp_path / "client-pc-ke-01.pem")
    assert eku(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pc-ke-01"
    assert signed_by(client, cert(tmp_path / "ca.pem"))
    assert mode(tmp_path / "client-pc-ke-01-key.pem") == 0o600
    with pytest.raises(x509.ExtensionNotFound):
        client.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_certificate_from_another_ca_does_not_verify(tmp_path: Path) -> None:
    tls_init(tmp_path / "one")
    tls_init(tmp_path / "two")
    assert not signed_by(cert(tmp_path / "one" / "server.pem"), cert(tmp_path / "two" / "ca.pem"))


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_name: str) -> ssl.SSLObject:
    """A TLS handshake in memory; returns the server side once both sides finished."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return server
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1"])
def test_mutual_tls_handshake_with_the_issued_files(tmp_path: Path, server_name: str) -> None:
    tls_init(tmp_path, "localhost", "127.0.0.1")
    client_files = issue(tmp_path, "client-pc-01", "pc-01", [], server=False)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server-key.pem")
    server_ctx.load_verify_locations(tmp_path / "ca.pem")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=tmp_path / "ca.pem")
    client_ctx.load_cert_chain(client_files.cert, client_files.key)
    server = handshake(server_ctx, client_ctx, server_name)
    peer = server.getpeercert()
    assert peer is not None
    assert (("commonName", "pc-01"),) in peer["subject"]


def test_wrong_name_fails_the_handshake(tmp_path: Path) -> None:
    tls_init(tmp_path, "localhost")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server-key.pem")
    client_ctx = ssl.create_default_context(cafile=tmp_path / "ca.pem")
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(server_ctx, client_ctx, "collector.elsewhere")
