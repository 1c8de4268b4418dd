"""tests/data/refused/: messages with no valid CR-BIO document are held, each with its reason and what to do."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from connector.errors import ReportRefused
from connector.mapping import Mappings, default_mappings_dir
from connector.model import Artifacts, LabIdentity, Recipient, RecipientKind
from connector.model.outcomes import RefusalReason
from connector.ops.offline import offline_identity
from connector.parse import parse_message, split_messages
from connector.pipeline import compose_artifacts
from tests.support.samples import sample_lab
from tests.support.settings import MAPPING, PARSE, message_settings

REFUSED = Path(__file__).resolve().parents[1] / "data" / "refused"
FILES = sorted(REFUSED.glob("*.hl7"))


def _build(path: Path, lab: LabIdentity) -> Artifacts:
    (message,) = split_messages(path.read_bytes())
    (report,) = parse_message(message, source=path.name, settings=PARSE)
    ids = offline_identity(report, message=message, oid_root=lab.oid_root, zone=lab.timezone)
    return compose_artifacts(report, mappings=Mappings.load(default_mappings_dir()), mapping_settings=MAPPING,
                             lab=lab, ids=ids,
                             recipients=(Recipient(address="dr@test.mssante.fr", kind=RecipientKind.PRESCRIBER),),
                             message_settings=message_settings(sender=lab.mailbox), xsd=None)


def test_every_reason_has_a_fixture() -> None:
    names = {p.stem for p in FILES}
    assert {"no_result", "results_withdrawn", "no_birth_date", "no_biologist"} <= names
    assert all(p.name in (REFUSED / "README.md").read_text(encoding="utf-8") for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_refused_with_its_reason_and_no_patient_data(path: Path) -> None:
    with pytest.raises(ReportRefused) as refused:
        _build(path, sample_lab())
    expected = {"no_biologist": RefusalReason.BIOLOGIST_UNKNOWN,
                "no_birth_date": RefusalReason.BIRTH_DATE_MISSING}.get(path.stem, path.stem)
    assert refused.value.reason == expected
    text = str(refused.value)
    assert text.startswith("report r-") and "TESTREFUS" not in text and "CAMILLE" not in text and "19800101" not in text


def test_a_standin_lets_the_biologist_fixture_through() -> None:
    lab = dataclasses.replace(sample_lab(), biologist_standin=True)
    art = _build(REFUSED / "no_biologist.hl7", lab)
    assert art.standin is not None and art.standin.idnps.endswith(lab.default_biologist_rpps)
