"""Test PKI for the MSSanté operator simulator (synthetic, loopback only).

Usage: ``python gen_pki.py OUT_DIR``. Writes PEM files ``<stem>.crt`` / ``<stem>.key`` (0600):

- ``ca``                  the simulator's CA (stands in for IGC-Santé)
- ``server``              Postfix/Dovecot cert, SAN localhost, mail.mss.test, 127.0.0.1, 127.0.0.2
- ``client``              the lab connector's cert (CN = lab mailbox, EKU clientAuth), registered in Postfix
- ``rogue-client``        a client cert from another CA (``rogue-ca``): refused at STARTTLS
- ``unregistered-client`` same CA, fingerprint not registered: refused at RCPT
- ``expired-server``      same SANs as ``server`` but expired (trustme cannot make expired certs)
- ``expired-client``      the lab's identity, expired
- ``client.sha256`` / ``unregistered-client.sha256``: fingerprints in Postfix's ``relay_clientcerts`` format
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_BITS = 2048  # smallest size OpenSSL 3 security level 2 accepts; keeps generation ~0.1 s per key
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)
SERVER_SANS: list[x509.GeneralName] = [
    x509.DNSName("localhost"),
    x509.DNSName("mail.mss.test"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("127.0.0.2")),
]


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MSS Simulator Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, key_encipherment=not ca, content_commitment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )


def make_ca(cn: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    k = _key()
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(k.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY).not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
        .sign(k, hashes.SHA256())
    )
    return k, cert


def make_leaf(
    ca: tuple[rsa.RSAPrivateKey, x509.Certificate], cn: str, eku: x509.ObjectIdentifier,
    san: list[x509.GeneralName] | None = None, *, expired: bool = False,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    ca_k, ca_c = ca
    k = _key()
    start, end = (NOW - 400 * DAY, NOW - 30 * DAY) if expired else (NOW - DAY, NOW + 825 * DAY)
    b = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_c.subject)
        .public_key(k.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_k.public_key()), critical=False)
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return k, b.sign(ca_k, hashes.SHA256())


def write(out: Path, stem: str, k: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    key_path = out / f"{stem}.key"
    key_path.write_bytes(
        k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    (out / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as Postfix prints it (``AB:CD:…``)."""
    fp = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ca = make_ca("MSS Simulator Test CA")
    write(out, "ca", *ca)
    write(out, "server", *make_leaf(ca, "localhost", ExtendedKeyUsageOID.SERVER_AUTH, SERVER_SANS))
    write(out, "expired-server",
          *make_leaf(ca, "localhost", ExtendedKeyUsageOID.SERVER_AUTH, SERVER_SANS, expired=True))
    lab = [x509.RFC822Name("labo@labo.test")]
    client = make_leaf(ca, "labo@labo.test", ExtendedKeyUsageOID.CLIENT_AUTH, lab)
    write(out, "client", *client)
    write(out, "expired-client", *make_leaf(ca, "labo@labo.test", ExtendedKeyUsageOID.CLIENT_AUTH, lab, expired=True))
    rogue_ca = make_ca("Rogue CA")
    write(out, "rogue-ca", *rogue_ca)
    write(out, "rogue-client", *make_leaf(rogue_ca, "labo@labo.test", ExtendedKeyUsageOID.CLIENT_AUTH))
    unregistered = make_leaf(ca, "other@labo.test", ExtendedKeyUsageOID.CLIENT_AUTH)
    write(out, "unregistered-client", *unregistered)
    for stem, (_, cert) in (("client", client), ("unregistered-client", unregistered)):
        (out / f"{stem}.sha256").write_text(fingerprint(cert) + "\n")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "pki")
    generate(target)
    print("PKI written to", target)
