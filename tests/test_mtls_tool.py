"""refarch.tools.mtls (the test CA) and the example target's header handling."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from refarch.runtime.mtls_echo import app as echo
from refarch.tools import mtls


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_demo_writes_a_ca_three_clients_and_a_crl(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert mtls.main(["demo", "--out", str(tmp_path)]) == 0
    ca = _cert(tmp_path / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    now = dt.datetime.now(dt.timezone.utc)
    for name in ("client", "expired", "revoked"):
        cert = _cert(tmp_path / f"{name}.pem")
        assert cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
        assert ExtendedKeyUsageOID.CLIENT_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert stat.S_IMODE((tmp_path / f"{name}.key").stat().st_mode) == 0o600
    assert _cert(tmp_path / "expired.pem").not_valid_after_utc < now < _cert(tmp_path / "client.pem").not_valid_after_utc
    crl = x509.load_pem_x509_crl((tmp_path / "crl.pem").read_bytes())
    assert crl.is_signature_valid(ca.public_key())
    assert [r.serial_number for r in crl] == [_cert(tmp_path / "revoked.pem").serial_number]
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in (tmp_path / "ca.pem").read_text()
    assert "revokes" in capsys.readouterr().out


def test_issue_and_revoke_extend_the_ca(tmp_path: Path) -> None:
    mtls.main(["demo", "--out", str(tmp_path)])
    assert mtls.main(["issue", "--out", str(tmp_path), "--name", "billing-service", "--days", "30"]) == 0
    issued = _cert(tmp_path / "billing-service.pem")
    issued.verify_directly_issued_by(_cert(tmp_path / "ca.pem"))
    assert (issued.not_valid_after_utc - issued.not_valid_before_utc).days == 30
    assert mtls.main(["revoke", "--out", str(tmp_path), "--serial", format(issued.serial_number, "x")]) == 0
    crl = x509.load_pem_x509_crl((tmp_path / "crl.pem").read_bytes())
    # the demo's revoked certificate stays revoked
    assert {r.serial_number for r in crl} == {issued.serial_number, _cert(tmp_path / "revoked.pem").serial_number}


@pytest.mark.parametrize("argv", [
    ["issue", "--name", "x y"], ["issue", "--name", "ok", "--days", "0"], ["revoke", "--serial", "not-hex"],
])
def test_bad_arguments_exit_2(tmp_path: Path, argv: list[str]) -> None:
    mtls.main(["demo", "--out", str(tmp_path)])
    assert mtls.main([*argv, "--out", str(tmp_path)]) == 2


def test_issue_needs_a_ca(tmp_path: Path) -> None:
    assert mtls.main(["issue", "--out", str(tmp_path), "--name", "x"]) == 2


def test_issue_client_rejects_zero_days() -> None:
    with pytest.raises(ValueError, match="days must be >= 1"):
        mtls.issue_client(mtls.make_ca(), "x", days=0)


def test_echo_answers_with_the_certificate_fields() -> None:
    leaf = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    event = {"headers": {"x-amzn-mtls-clientcert-subject": "CN=client,O=refarch",
                         "x-amzn-mtls-clientcert-issuer": "CN=refarch test CA,O=refarch",
                         "x-amzn-mtls-clientcert-serial-number": "1a2b",
                         "x-amzn-mtls-clientcert-leaf": quote(leaf, safe="+=/"),
                         "host": "mtls.example.com"}}
    assert echo.client_certificate(event["headers"])["leaf"] == leaf
    answer = echo.handler(event, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"subject": "CN=client,O=refarch", "issuer": "CN=refarch test CA,O=refarch",
                                          "serial": "1a2b", "validity": None}


def test_echo_refuses_a_request_without_certificate_headers() -> None:
    # Only reachable if something other than the mTLS listener invoked it.
    assert echo.handler({"headers": {"host": "x"}}, None)["statusCode"] == 403
