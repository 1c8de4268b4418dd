"""DMP stage: feed the patient's DMP (TD2.1 ITI-41 + VIHF), replace (TD3.1b + RPLC), delete (TD3.3c).

    DmpDocument ─► metadata (XDS, DMP rules) + XAdES + VIHF ─► SOAP 1.2 / MTOM ─► HTTPS mTLS ─► DmpOutcome

DmpClient            submit / replace / delete / find, each to a DmpOutcome (SUCCESS, RETRY, FAILED)
build_td21_request   the TD2.1 exactly as POSTed, Content-Type first (``dmp-request.mime``)
DmpSettings          endpoint, structure, software, certificates; ``check(production=…)``
DmpOutcome.z01()     the ZAM^Z01 fields (``connector.track.build_zam("Z01", …)``), None while retrying
plain_oid_identity   document ids as root-only OIDs, as the DMP requires
"""

from __future__ import annotations

from .client import DmpClient
from .document import (
    DmpAction,
    DmpDocument,
    LocalCode,
    dmp_requested,
    plain_oid,
    plain_oid_identity,
    refuse_in_indirect_mode,
    z01_requested,
)
from .outcome import DmpOutcome, DmpStatus, Z01Fields
from .pki import DemoPki, is_test_certificate, make_demo_pki
from .ratelimit import RateLimiter, limiter_for
from .requests import DmpRequest, build_td21, build_td21_request, build_td31b, build_td33c
from .settings import DmpCredentials, DmpSettings, SignatureDigest, load_credentials

__all__ = [
    "DemoPki",
    "DmpAction",
    "DmpClient",
    "DmpCredentials",
    "DmpDocument",
    "DmpOutcome",
    "DmpRequest",
    "DmpSettings",
    "DmpStatus",
    "LocalCode",
    "RateLimiter",
    "SignatureDigest",
    "Z01Fields",
    "build_td21",
    "build_td21_request",
    "build_td31b",
    "build_td33c",
    "dmp_requested",
    "is_test_certificate",
    "limiter_for",
    "load_credentials",
    "make_demo_pki",
    "plain_oid",
    "plain_oid_identity",
    "refuse_in_indirect_mode",
    "z01_requested",
]
