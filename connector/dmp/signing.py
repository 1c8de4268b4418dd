"""Algorithms shared by the VIHF and XAdES signatures, chosen once in the settings."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from .settings import SignatureDigest

__all__ = ["digest_uri", "hash_of", "signature_uri"]

_DIGEST_URI = {SignatureDigest.SHA256: "http://www.w3.org/2001/04/xmlenc#sha256",
               SignatureDigest.SHA1: "http://www.w3.org/2000/09/xmldsig#sha1"}
_SIGNATURE_URI = {SignatureDigest.SHA256: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                  SignatureDigest.SHA1: "http://www.w3.org/2000/09/xmldsig#rsa-sha1"}


def digest_uri(digest: SignatureDigest) -> str:
    return _DIGEST_URI[digest]


def signature_uri(digest: SignatureDigest) -> str:
    return _SIGNATURE_URI[digest]


def hash_of(digest: SignatureDigest) -> hashes.HashAlgorithm:
    return hashes.SHA256() if digest is SignatureDigest.SHA256 else hashes.SHA1()
