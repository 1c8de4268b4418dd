"""Issue 12, proof by generation: ORU^R01 messages nobody here wrote → build → official validation.

Messages come from ``tests/support/oru_strategy.py`` (every PID-8 value, OBX-2 type and OBX-11
status, SIL habits…). Each report must end in one of:

- ``built``: the CDA passes the ANS XSD and the six CR-BIO 2024.01 schematrons, and says what the
  lab meant (sex, validating biologist or a *recorded* stand-in);
- ``refused:<reason>``: held with a :class:`ReportRefused` whose message names what to do, no patient data;
- ``held_by_mapping:<class>``: the mapping stage held it with a reason.

And across all inputs: no recipient the message names vanishes (routed, or unresolved with a
reason), and no two different inputs share a document id, setId or Message-ID.

CI runs ``CRBIO_EXAMPLES`` examples (default 300, fixed seed: the same messages every run) through the
validation gate's engine: ~40 s, plus ~25 s to load the compiled schematrons. ``CRBIO_VALIDATOR=official``
runs the kit's own stylesheets instead (0.3–0.5 s a document), as the README's long run did. The long run quoted
in the README is ten chunks of ``CRBIO_EXAMPLES=500 CRBIO_SEED=5000…5009 CRBIO_STATS=chunk.json``
(a chunk's counts survive if a later one is stopped).
``CRBIO_SEED`` picks another fixed seed. Documents the *mapping stage* makes invalid (a unit it let
through without a UCUM spelling) are counted as ``invalid_by_mapping:*`` and reported; set
``CRBIO_MAPPING_STRICT=1`` to make them fail (the mapping engineer's switch).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from connector.cda import SchematronValidator, XsdValidator
from connector.validation.engine import GateEngine
from tests.support.crbio_harness import Harness, Outcome, Schematrons
from tests.support.oru_strategy import GeneratedMessage, messages

pytestmark = pytest.mark.schematron

EXAMPLES = int(os.environ.get("CRBIO_EXAMPLES", "300"))
SEED = int(os.environ.get("CRBIO_SEED", "20261203"))
MAPPING_STRICT = os.environ.get("CRBIO_MAPPING_STRICT") == "1"
VALIDATOR = os.environ.get("CRBIO_VALIDATOR", "gate")
RPPS_OID = "1.2.250.1.71.4.2.1"
H = "{urn:hl7-org:v3}"


@pytest.fixture(scope="module")
def schematrons(request: pytest.FixtureRequest, gate_engine: GateEngine) -> Schematrons:
    """The six schematrons as the service runs them: the validation gate's engine (connector/validation,
    checked against the official run by tests/validation/test_differential.py). ``CRBIO_VALIDATOR=official``:
    the kit's own stylesheets (SchematronValidator, ~10× slower), as the README's long run used."""
    if VALIDATOR == "official":
        official: SchematronValidator = request.getfixturevalue("schematron")
        return lambda cda: [str(f) for f in official.failures(cda)]
    return lambda cda: [str(f) for f in gate_engine.check(cda).failures]


@pytest.fixture(scope="module")
def harness(cda_validator: XsdValidator, schematrons: Schematrons,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The session's compiled XSD and the six schematrons (tests/support/refkit.py: skipped without the kit)."""
    h = Harness(xsd=cda_validator, schematron=schematrons, scratch=tmp_path_factory.mktemp("crbio"))
    yield h
    print(f"\ncrbio generated reports ({EXAMPLES} examples, seed {SEED}):\n{h.summary()}")
    if os.environ.get("CRBIO_STATS"):
        Path(os.environ["CRBIO_STATS"]).write_text(h.summary() + "\n", encoding="utf-8")


def _assert_outcome(outcome: Outcome, harness: Harness, *, standin: bool) -> None:
    meant, where = outcome.meant, f"report {outcome.report.report_id} ({outcome.kind})"
    private = [v for v in (meant.family, meant.birth_date, meant.ins) if len(v) >= 5]
    for text in (outcome.error, *outcome.logged):
        assert not any(v in text for v in private), f"{where}: patient data in an error or a log line"
    assert not outcome.kind.startswith(("error:", "invalid")) or (
        outcome.kind.startswith("invalid_by_mapping") and not MAPPING_STRICT
    ), f"{where}: {outcome.error or outcome.failures[:5]}"
    if outcome.kind.startswith("refused:"):
        assert "report " in outcome.error and ("expected" in outcome.error or ":" in outcome.error)
    _assert_recipients(outcome, where)
    if outcome.artifacts is None:
        return
    root = outcome.root
    gender = root.find(f"{H}recordTarget/{H}patientRole/{H}patient/{H}administrativeGenderCode")
    assert gender is not None
    assert gender.get("code") == (meant.sex if meant.sex in ("F", "M") else "UN"), where
    signer = root.find(f"{H}legalAuthenticator/{H}assignedEntity/{H}id")
    assert signer is not None and signer.get("root") == RPPS_OID
    if meant.biologist_idnps:
        assert signer.get("extension") == meant.biologist_idnps, f"{where}: the validating biologist was replaced"
        assert outcome.artifacts.standin is None
    else:
        assert standin and outcome.artifacts.standin is not None, f"{where}: a silent stand-in"
        assert signer.get("extension") == outcome.artifacts.standin.idnps
    assert harness.claim_ids(outcome) == [], f"{where}: an id another input already holds"


def _assert_recipients(outcome: Outcome, where: str) -> None:
    routing = outcome.routing
    assert routing is not None
    reached = {r.idnps for r in routing.recipients if r.idnps}
    for doctor in outcome.meant.doctors:
        if doctor.idnps and doctor.in_directory:
            assert doctor.idnps in reached or any(u.idnps == doctor.idnps for u in routing.unresolved), where
            continue
        found = [u for u in routing.unresolved
                 if (doctor.idnps and u.idnps == doctor.idnps) or (doctor.local_id and u.local_id == doctor.local_id)
                 or (not doctor.idnps and not doctor.local_id and doctor.family and doctor.family in u.name)]
        assert found, f"{where}: {doctor.field} recipient vanished (neither routed nor unresolved)"
        assert all(u.problem.reason for u in found)


@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=messages(), standin=st.booleans(), copy_to=st.sampled_from([True, True, True, False]))
def test_generated_reports_are_valid_or_refused_with_a_reason(
    harness: Harness, batch: tuple[GeneratedMessage, ...], standin: bool, copy_to: bool
) -> None:
    for generated in batch:
        for outcome in harness.run(generated, standin=standin, copy_to=copy_to):
            _assert_outcome(outcome, harness, standin=standin)
