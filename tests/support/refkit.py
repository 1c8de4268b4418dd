"""The shared reference folder as pytest fixtures: each skips with the missing path named.

Registered once by tests/conftest.py (``pytest_plugins``). Paths come from tests/support/paths.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connector.cda import SchematronValidator, XsdValidator
from connector.validation import AnsKit
from connector.validation.engine import GateEngine
from connector.validation.kit import prepare_kit
from tests.support.paths import ANS_KIT, CDA_XSD, SHARED_REF, kit_cache_dir

HOW = "set CONNECTOR_SHARED_REF to the shared/ref folder"
ANS_HL7_EXAMPLES = ("mssante", "hl7v2-ans-exemples")  # the ANS's HL7 v2 examples (CR-BIO shape B, ACK, ZAM)


def ref_file(*parts: str) -> Path:
    """``SHARED_REF/parts…`` (a file or a folder); skips the calling test when it is absent."""
    path = SHARED_REF.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference artefact absent: {path} ({HOW})")
    return path


def ref_params(folder: Path, pattern: str, keep: Callable[[Path], bool] = bool) -> list[Any]:
    """The files of a reference folder (those ``keep`` accepts) as test parameters; one skipped parameter
    naming the folder when there are none (an empty list would only say "got empty parameter set")."""
    found = sorted(p for p in folder.glob(pattern) if keep(p)) if folder.is_dir() else []
    return found or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {pattern} in {folder} ({HOW})"))]


def _kit_dir() -> Path:
    if not (ANS_KIT / "schematrons").is_dir():
        pytest.skip(f"the ANS CDA kit is absent: {ANS_KIT} ({HOW})")
    return ANS_KIT


@pytest.fixture(scope="session")
def shared_ref() -> Path:
    if not SHARED_REF.is_dir():
        pytest.skip(f"the shared reference folder is absent: {SHARED_REF} ({HOW})")
    return SHARED_REF


@pytest.fixture(scope="session")
def ans_kit() -> Path:
    """The ANS CDA test kit (``testcontenucda``: XSD, schematrons, ExemplesCDA)."""
    return _kit_dir()


@pytest.fixture(scope="session")
def ans_oru() -> Path:
    """The ANS's CR-BIO ORU^R01 example (two embedded documents, MetaDMPMSS flags, four PRT)."""
    return ref_file(*ANS_HL7_EXAMPLES, "ORU_R01_CR-Bio_init_N1_N3_MetaDMPMSS_v2.1.hl7")


@pytest.fixture(scope="session")
def cda_xsd() -> Path:
    if not CDA_XSD.is_file():
        pytest.skip(f"the ANS CDA XSD is absent: {CDA_XSD} ({HOW})")
    return CDA_XSD


@functools.cache
def lcm_schema() -> etree.XMLSchema:
    """ebRS 3.0 ``lcm.xsd``, compiled once: what an IHE XDM METADATA.XML (SubmitObjectsRequest) must validate
    against. Skips the calling test when the schemas are absent."""
    return etree.XMLSchema(etree.parse(str(ref_file("mssante", "xsd-ebrs-3.0", "lcm.xsd"))))


@pytest.fixture(scope="session")
def cda_validator(cda_xsd: Path) -> XsdValidator:
    """The CDA XSD compiled once for the session (~1 s)."""
    return XsdValidator(cda_xsd)


# The compiled kit is costly (15–40 s a run, about 1 GB): one of each per test process, shared by every
# folder (tests/validation names them ``official`` and ``engine``), and kept on one pytest-xdist worker
# (tests/conftest.py groups the tests that ask for them, by these fixture names).


@pytest.fixture(scope="session")
def schematron() -> SchematronValidator:
    """The official run: the six ANS schematrons as the kit compiles them (stylesheets cached on disk)."""
    return SchematronValidator(_kit_dir(), work_dir=kit_cache_dir())


@pytest.fixture(scope="session")
def gate_engine() -> GateEngine:
    """The six schematrons as the service's gate runs them (connector/validation, rewritten for speed)."""
    return GateEngine(prepare_kit(AnsKit.at(_kit_dir()), work_dir=kit_cache_dir()))
