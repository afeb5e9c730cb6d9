"""Mutual TLS, offline: the verify rules the construct ships, enforced by a local server.

A small app with a :class:`MutualTlsService` is synthesized once, with a CA
bundle and a CRL made by ``refarch.tools.mtls``. A local HTTPS server on
127.0.0.1 is then configured **from that template and its assets**, the way
the listener is: the trust store's CA bundle file, the revocation list file,
``Mode: verify`` (a certificate is required), ``IgnoreClientCertificateExpiry:
false`` and the lowest protocol of the listener's security policy. Clients
without a certificate, with one from another CA, with an expired one, with a
revoked one, and over TLS 1.1 are refused in the handshake; a client with a
valid certificate gets through, and the server hands the request to the
example target (``refarch/runtime/mtls_echo``) with the
``X-Amzn-Mtls-Clientcert-*`` headers, whose answer names the subject.

What this cannot prove, because only the load balancer does it (docs/mutual-tls.md,
"only a real deployment proves"): that ALB reads the bundle and CRL from S3
and accepts them, the exact header values it writes, and that it overwrites
headers a client sends with those names.
"""

from __future__ import annotations

import datetime as dt
import http.client
import http.server
import ipaddress
import json
import re
import socket
import ssl
import threading
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from refarch.mutual_tls import MutualTlsService, PemObject
from refarch.runtime.mtls_echo import app as echo
from refarch.tools import mtls
from stacks.mutual_tls_stack import RUNTIME
from tests.conftest import new_app


def _server_certificate(ca: mtls.Issued) -> mtls.Issued:
    """A serverAuth certificate for 127.0.0.1 (the ACM certificate's stand-in)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca.key, hashes.SHA256())
    )
    return mtls.Issued(cert, key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("pki")
    issued = mtls.demo(out)
    other_ca = mtls.make_ca("another CA")
    issued["other"] = mtls.issue_client(other_ca, "other.refarch.test")
    mtls.save(out, "other", issued["other"])
    server_ca = mtls.make_ca("server CA")
    server = _server_certificate(server_ca)
    mtls.save(out, "server", server)
    mtls.save(out, "server-ca", server_ca)
    return {"dir": out, "issued": issued}


@pytest.fixture(scope="module")
def shipped(pki: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The listener and trust store as synthesized, and the asset files they upload."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(outdir=str(outdir))
    stack = cdk.Stack(app, "MtlsBehaviour", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    zone = route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="Z0123456789ABC",
                                                                zone_name="example.com")
    function = lambda_.Function(stack, "Echo", code=lambda_.Code.from_asset(str(RUNTIME)), handler="app.handler",
                                runtime=lambda_.Runtime.PYTHON_3_13)
    MutualTlsService(stack, "Service", vpc=vpc, zone=zone, domain_name="mtls.example.com", function=function,
                     ca_bundle=PemObject.from_file(pki["dir"] / "ca.pem"),
                     crls=[PemObject.from_file(pki["dir"] / "crl.pem")])
    assembly = app.synth()
    template = assembly.get_stack_by_name("MtlsBehaviour").template
    resources = template["Resources"].values()
    [listener] = [r["Properties"] for r in resources if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener"]
    [store] = [r["Properties"] for r in resources if r["Type"] == "AWS::ElasticLoadBalancingV2::TrustStore"]
    [revocation] = [r["Properties"] for r in resources
                    if r["Type"] == "AWS::ElasticLoadBalancingV2::TrustStoreRevocation"]

    def asset(key: str) -> Path:  # the staged file the asset uploads under this object key
        [path] = Path(assembly.directory).glob(f"asset.{key}")
        return path

    return {
        "listener": listener,
        "ca_bundle": asset(store["CaCertificatesBundleS3Key"]),
        "crls": [asset(c["S3Key"]) for c in revocation["RevocationContents"]],
    }


def _minimum_version(policy: str) -> ssl.TLSVersion:
    """The lowest protocol of an ELB security policy, from its documented name
    (``ELBSecurityPolicy-TLS13-1-2-...``: TLS 1.3 down to 1.2)."""
    match = re.match(r"ELBSecurityPolicy-(?:FIPS-)?TLS13-1-(\d)", policy)
    assert match, policy
    return {"2": ssl.TLSVersion.TLSv1_2, "3": ssl.TLSVersion.TLSv1_3}[match.group(1)]


class _AlbStandIn(http.server.HTTPServer):
    """Completes the handshake in ``get_request`` (as the listener does before any
    request) and records why a handshake failed."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.refusals: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self):
        sock, address = self.socket.accept()
        sock.settimeout(5)
        try:
            return self.context.wrap_socket(sock, server_side=True), address
        except (ssl.SSLError, OSError) as err:
            self.refusals.append(getattr(err, "verify_message", None) or getattr(err, "reason", None) or str(err))
            sock.close()
            raise


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        # ALB writes the names as RFC 2253 strings, the serial in hex.
        cert = x509.load_der_x509_certificate(self.connection.getpeercert(binary_form=True))
        # What ALB adds to the request in verify mode, as the target receives it (lower-case).
        event = {"httpMethod": "GET", "path": self.path, "headers": {
            "x-amzn-mtls-clientcert-subject": cert.subject.rfc4514_string(),
            "x-amzn-mtls-clientcert-issuer": cert.issuer.rfc4514_string(),
            "x-amzn-mtls-clientcert-serial-number": format(cert.serial_number, "x"),
            "x-amzn-mtls-clientcert-validity": f"NotBefore={cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ};"
                                              f"NotAfter={cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
        }}
        answer = echo.handler(event, None)
        body = answer["body"].encode()
        self.send_response(answer["statusCode"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(shipped: dict, pki: dict):
    listener = shipped["listener"]
    mutual = listener["MutualAuthentication"]
    assert listener["Protocol"] == "HTTPS" and mutual["Mode"] == "verify"
    assert mutual["IgnoreClientCertificateExpiry"] is False  # Python's ssl always checks expiry, like verify mode
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _minimum_version(listener["SslPolicy"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(shipped["ca_bundle"]))
    for crl in shipped["crls"]:
        context.load_verify_locations(cafile=str(crl))  # OpenSSL loads the CRLs of a PEM file too
    if shipped["crls"]:
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    context.load_cert_chain(pki["dir"] / "server.pem", pki["dir"] / "server.key")
    httpd = _AlbStandIn(context)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _call(server: _AlbStandIn, pki: dict, client: str | None, *, maximum: ssl.TLSVersion | None = None):
    context = ssl.create_default_context(cafile=str(pki["dir"] / "server-ca.pem"))
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    if client is not None:
        context.load_cert_chain(pki["dir"] / f"{client}.pem", pki["dir"] / f"{client}.key")
    connection = http.client.HTTPSConnection("127.0.0.1", server.server_address[1], context=context, timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


REFUSED = (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected, socket.timeout)


def _refused(server: _AlbStandIn, pki: dict, client: str | None, **kwargs) -> str:
    before = len(server.refusals)
    with pytest.raises(REFUSED):
        _call(server, pki, client, **kwargs)
    for _ in range(50):  # the server thread records the refusal just after the client sees it
        if len(server.refusals) > before:
            break
        threading.Event().wait(0.05)
    assert len(server.refusals) == before + 1, server.refusals
    return server.refusals[-1].lower()


def test_the_shipped_rules_are_tls_1_2_or_newer(shipped: dict) -> None:
    assert _minimum_version(shipped["listener"]["SslPolicy"]) >= ssl.TLSVersion.TLSv1_2


def test_valid_certificate_gets_through_with_its_subject(server: _AlbStandIn, pki: dict) -> None:
    status, body = _call(server, pki, "client")
    assert status == 200
    assert body["subject"] == "CN=client.refarch.test,O=refarch"
    assert "refarch test CA" in body["issuer"]
    assert int(body["serial"], 16) == pki["issued"]["client"].certificate.serial_number


def test_client_without_certificate_is_refused(server: _AlbStandIn, pki: dict) -> None:
    assert "certificate" in _refused(server, pki, None)


def test_certificate_from_another_ca_is_refused(server: _AlbStandIn, pki: dict) -> None:
    assert "unable to get local issuer certificate" in _refused(server, pki, "other")


def test_expired_certificate_is_refused(server: _AlbStandIn, pki: dict) -> None:
    assert "expired" in _refused(server, pki, "expired")


def test_revoked_certificate_is_refused(server: _AlbStandIn, pki: dict) -> None:
    assert "revoked" in _refused(server, pki, "revoked")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused(server: _AlbStandIn, pki: dict) -> None:
    _refused(server, pki, "client", maximum=ssl.TLSVersion.TLSv1_1)


def test_the_crl_is_what_revokes(pki: dict) -> None:
    """The revoked certificate is otherwise valid: only the CRL refuses it."""
    ca = pki["issued"]["ca"].certificate
    revoked = pki["issued"]["revoked"].certificate
    assert revoked.issuer == ca.subject and revoked.not_valid_after_utc > dt.datetime.now(dt.timezone.utc)
    crl = x509.load_pem_x509_crl((pki["dir"] / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(pki["issued"]["client"].certificate.serial_number) is None
