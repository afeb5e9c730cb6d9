"""A private test CA, client certificates and a CRL, for trying mutual TLS without AWS Private CA.

    # a CA, a valid, an expired and a revoked client certificate, and a CRL, into ./mtls
    python -m refarch.tools.mtls demo --out mtls

    # one more client certificate from that CA (valid for --days days)
    python -m refarch.tools.mtls issue --out mtls --name billing-service --days 30

    # revoke client certificates by serial number (hex) and write a new CRL
    python -m refarch.tools.mtls revoke --out mtls --serial 1a2b... --serial 3c4d...

Files written under ``--out``: ``ca.pem`` (the CA bundle to give
``MutualTlsService(ca_bundle=PemObject.from_file("mtls/ca.pem"))``),
``ca.key`` (the CA's private key: keep it off S3 and out of Git),
``<name>.pem``/``<name>.key`` per client, ``crl.pem`` (the revocation list,
for ``crls=[PemObject.from_file("mtls/crl.pem")]``) and ``revoked.txt``
(the revoked serials, so ``revoke`` adds to them).

    curl --cert mtls/client.pem --key mtls/client.key https://mtls.example.com/

This is a test CA: its key sits in a file. In production issue client
certificates from AWS Private CA or your organisation's CA (docs/mutual-tls.md).
Needs the ``cryptography`` package (pinned in requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key.

    :param certificate: the X.509 certificate (a CA's or a client's).
    :param key: its P-256 private key.
    """

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        """The certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The private key, PEM (PKCS #8, not encrypted)."""
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def serial_hex(self) -> str:
        """The certificate's serial number, lower-case hex (as ``revoke --serial`` takes it)."""
        return format(self.certificate.serial_number, "x")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str = "refarch test CA", *, organisation: str = "refarch", days: int = 3650) -> Issued:
    """A self-signed CA certificate (P-256 key) valid for ``days`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, organisation)
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def issue_client(ca: Issued, common_name: str, *, organisation: str = "refarch", days: int = 365,
                 not_before: dt.datetime | None = None) -> Issued:
    """A client certificate (clientAuth) signed by ``ca``, valid from ``not_before``
    (default: now) for ``days`` days; a ``not_before`` far enough in the past
    makes an expired one."""
    if days < 1:
        raise ValueError(f"days must be >= 1 (got {days!r})")
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or _now() - dt.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organisation))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(certificate, key)


def make_crl(ca: Issued, revoked_serials: list[int], *, days: int = 30) -> x509.CertificateRevocationList:
    """A CRL signed by ``ca`` listing ``revoked_serials``, next update in ``days`` days."""
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    for serial in sorted(set(revoked_serials)):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL, PEM (what ``crl.pem`` holds)."""
    return crl.public_bytes(serialization.Encoding.PEM)


# --- files -------------------------------------------------------------------------


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def save(out: Path, name: str, issued: Issued) -> None:
    """Write ``issued`` into the directory ``out``: ``<name>.pem`` (the certificate) and ``<name>.key``
    (the private key, readable by the owner only)."""
    _write(out / f"{name}.pem", issued.cert_pem)
    _write(out / f"{name}.key", issued.key_pem, private=True)


def load(out: Path, name: str) -> Issued:
    """Read back what :func:`save` wrote: ``<name>.pem`` and ``<name>.key`` in the directory ``out``."""
    certificate = x509.load_pem_x509_certificate((out / f"{name}.pem").read_bytes())
    key = serialization.load_pem_private_key((out / f"{name}.key").read_bytes(), password=None)
    return Issued(certificate, key)


def _write_crl(out: Path, ca: Issued, serials: list[int]) -> None:
    _write(out / "crl.pem", crl_pem(make_crl(ca, serials)))
    (out / "revoked.txt").write_text("".join(f"{s:x}\n" for s in sorted(set(serials))))


def _revoked(out: Path) -> list[int]:
    path = out / "revoked.txt"
    return [int(line, 16) for line in path.read_text().split()] if path.exists() else []


def demo(out: Path) -> dict[str, Issued]:
    """Write a CA, ``client`` (valid), ``expired`` and ``revoked`` client certificates and a CRL."""
    out.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    issued = {
        "ca": ca,
        "client": issue_client(ca, "client.refarch.test"),
        "expired": issue_client(ca, "expired.refarch.test", days=1, not_before=_now() - dt.timedelta(days=30)),
        "revoked": issue_client(ca, "revoked.refarch.test"),
    }
    for name, item in issued.items():
        save(out, name, item)
    _write_crl(out, ca, [issued["revoked"].certificate.serial_number])
    return issued


def main(argv: list[str] | None = None) -> int:
    """The command line (``argv``, default: ``sys.argv[1:]``): ``demo``, ``issue`` or ``revoke`` (see the
    module's docstring). Returns the exit status: 0, or 2 for no CA in ``--out`` or a bad argument."""
    parser = argparse.ArgumentParser(prog="python -m refarch.tools.mtls", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_demo = commands.add_parser("demo", help="a CA, valid/expired/revoked client certificates and a CRL")
    p_issue = commands.add_parser("issue", help="one more client certificate from the CA in --out")
    p_issue.add_argument("--name", required=True, help="common name; also the file name")
    p_issue.add_argument("--days", type=int, default=365)
    p_revoke = commands.add_parser("revoke", help="add serial numbers to the CRL in --out")
    p_revoke.add_argument("--serial", action="append", required=True, help="hex serial number (repeat)")
    for p in (p_demo, p_issue, p_revoke):
        p.add_argument("--out", type=Path, required=True, help="directory of the CA and certificates")
    args = parser.parse_args(argv)

    if args.command == "demo":
        issued = demo(args.out)
        for name, item in issued.items():
            print(f"{name}: {args.out / (name + '.pem')} (serial {item.serial_hex})")
        print(f"crl: {args.out / 'crl.pem'} (revokes {issued['revoked'].serial_hex})")
        return 0
    if not (args.out / "ca.key").exists():
        print(f"no CA in {args.out}: run the demo command first", file=sys.stderr)
        return 2
    ca = load(args.out, "ca")
    if args.command == "issue":
        if args.days < 1 or not args.name.replace(".", "").replace("-", "").isalnum():
            print("--days must be >= 1 and --name letters, digits, dots and hyphens", file=sys.stderr)
            return 2
        item = issue_client(ca, args.name, days=args.days)
        save(args.out, args.name, item)
        print(f"{args.name}: {args.out / (args.name + '.pem')} (serial {item.serial_hex})")
        return 0
    try:
        serials = [int(s, 16) for s in args.serial]
    except ValueError:
        print(f"--serial must be hexadecimal (got {args.serial})", file=sys.stderr)
        return 2
    _write_crl(args.out, ca, _revoked(args.out) + serials)
    print(f"crl: {args.out / 'crl.pem'} revokes {', '.join(f'{s:x}' for s in sorted(set(_revoked(args.out))))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
