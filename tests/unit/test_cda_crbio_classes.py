"""Issue 12, one test per class of defect, through the real path: ER7 → parse → compose_artifacts.

The full proof (XSD + six schematrons on generated messages) is tests/property/; these are the fast,
exact statements of each rule, each able to fail on the builder as it was.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connector.cda.elements import address, element
from connector.cda.observation import _range_text
from connector.errors import ReportRefused
from connector.mapping import Mappings, default_mappings_dir
from connector.mapping.values import parse_range
from connector.model import Artifacts, LabIdentity, Recipient, RecipientKind
from connector.model.outcomes import RefusalReason
from connector.ops.offline import offline_identity
from connector.parse import parse_message
from connector.pdf.format import format_range
from connector.pipeline import compose_artifacts
from tests.support.settings import MAPPING, PARSE, message_settings

NS = {"h": "urn:hl7-org:v3"}
MAPPINGS = Mappings.load(default_mappings_dir())
LAB = LabIdentity(name="Laboratoire Test", finess="920000001", oid_root="1.2.250.1.999.6", ipp_oid="1.2.250.1.999.6.4",
                  mailbox="labo@test.mssante.fr", default_biologist_rpps="10000000099",
                  default_biologist_family="RESPONSABLE", default_biologist_given="Jeanne")
BIOLOGIST = "810000000002&BIOLO&ANNE&&&DR&&&ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
PRESCRIBER = "810000000101^PRESCRIT^JEAN^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"


def message(*, pid8: str = "F", pid7: str = "19800101", pid3: str = "IPP1^^^LABO&1.2.250.1.999.7.1&ISO^PI",
            prescriber: str = PRESCRIBER, obr32: str = BIOLOGIST, obx: str = "OBX|1|NM|NA^Sodium^L||140|mmol/L",
            spm: str = "", obr7: str = "202607150830") -> bytes:
    obr = ["OBR", "1", "C1^SIL", "D1^LABO", "IONO^Ionogramme^L", "", "", obr7] + [""] * 8 + [prescriber]
    obr += [""] * (32 - len(obr)) + [obr32]
    segments = ["MSH|^~\\&|SIL|LABO|C|D|20260715101500||ORU^R01|K1|P|2.5",
                f"PID|1||{pid3}||ZQNOM^ANNE^ANNE^^^^L||{pid7}|{pid8}", "|".join(obr), obx]
    return ("\r".join(segments + ([spm] if spm else [])) + "\r").encode()


def build(data: bytes, lab: LabIdentity = LAB) -> Artifacts:
    (report,) = parse_message(data, settings=PARSE)
    ids = offline_identity(report, message=data, oid_root=lab.oid_root, zone=lab.timezone)
    return compose_artifacts(report, mappings=MAPPINGS, mapping_settings=MAPPING, lab=lab, ids=ids,
                           recipients=(Recipient(address="dr@test.mssante.fr", kind=RecipientKind.PRESCRIBER),),
                           message_settings=message_settings(sender=lab.mailbox), xsd=None)


def xp(art: Artifacts, path: str) -> list:  # type: ignore[type-arg]
    return xe(etree.fromstring(art.cda), path)


def xe(el: etree._Element, path: str) -> list:  # type: ignore[type-arg]
    return el.xpath(path, namespaces=NS)  # type: ignore[return-value]


# ---------------------------------------------------------------------------- 1. value sets


@pytest.mark.parametrize(("pid8", "code"), [("F", "F"), ("M", "M"), ("U", "UN"), ("O", "UN"), ("A", "UN"),
                                            ("N", "UN"), ("", "UN"), ("f", "F")])
def test_every_pid8_value_maps_into_jdv_j143(pid8: str, code: str) -> None:
    assert xp(build(message(pid8=pid8)), "string(//h:administrativeGenderCode/@code)") == code


# ---------------------------------------------------------------------------- 2. StrucMin


def test_a_null_flavor_stands_alone() -> None:
    parent = element("patientRole")
    addr = address(parent, "", "", "", use="H")
    assert dict(addr.attrib) == {"nullFlavor": "UNK"}  # was nullFlavor + use="H": dtr1-1-ANY


def test_no_birth_date_is_refused_with_the_field() -> None:
    with pytest.raises(ReportRefused, match="PID-7") as refused:
        build(message(pid7=""))
    assert refused.value.reason is RefusalReason.BIRTH_DATE_MISSING


@pytest.mark.parametrize(("prescriber", "root"), [
    (PRESCRIBER, "1.2.250.1.71.4.2.1"), ("DR42^LOCAL^ANNE^^^DR^^^LABO", "1.2.250.1.999.6.5"), ("^SANSID^PAUL", None)])
def test_participant_ids_always_have_root_and_extension(prescriber: str, root: str | None) -> None:
    ids = xp(build(message(prescriber=prescriber)), "//h:participant[@typeCode='REF']/h:associatedEntity/h:id")
    if root is None:
        assert ids == []  # no id at all: left out of the CDA (the PDF still names the prescriber)
    else:
        assert [(i.get("root"), bool(i.get("extension"))) for i in ids] == [(root, True)]


# ---------------------------------------------------------------------------- 3. nothing to report


@pytest.mark.parametrize(("obx", "reason"), [
    ("NTE|1|L|pas de résultat", RefusalReason.NO_RESULT),
    ("OBX|1|NM|NA^Sodium^L||140|mmol/L|||||D", RefusalReason.RESULTS_WITHDRAWN),
    ("OBX|1|NM|NA^Sodium^L||140|mmol/L|||||W", RefusalReason.RESULTS_WITHDRAWN),
])
def test_a_report_without_results_is_refused_with_its_reason(obx: str, reason: RefusalReason) -> None:
    with pytest.raises(ReportRefused) as refused:
        build(message(obx=obx))
    assert refused.value.reason is reason


def test_cancelled_results_still_make_a_crbio_document() -> None:
    art = build(message(obx="OBX|1|NM|NA^Sodium^L|||mmol/L|||||X"))
    lab_observation = "//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']"
    assert xp(art, f"{lab_observation}/h:statusCode/@code") == ["aborted"]
    assert "1.3.6.1.4.1.19376.1.3.3" in xp(art, "/h:ClinicalDocument/h:templateId/@root")


# ---------------------------------------------------------------------------- 7. the validating biologist


def test_components_obr32_signs_the_document() -> None:
    art = build(message(obr32="810003461033^DURAND^PAUL^^^DR"))
    for path in ("h:legalAuthenticator", "h:author/h:assignedAuthor"):
        assert xp(art, f"string(//{path}//h:id/@extension)") == "810003461033"
    assert art.standin is None


def test_no_identified_biologist_is_held_unless_a_standin_is_allowed() -> None:
    with pytest.raises(ReportRefused, match="OBR-32") as held:
        build(message(obr32="&DURAND&PAUL"))
    assert held.value.reason is RefusalReason.BIOLOGIST_UNKNOWN
    lab = LabIdentity(**{**{f: getattr(LAB, f) for f in LAB.__dataclass_fields__}, "biologist_standin": True})
    art = build(message(obr32="&DURAND&PAUL"), lab)
    assert art.standin is not None and art.standin.idnps == "810000000099" and "OBR-32" in art.standin.missing
    assert xp(art, "string(//h:legalAuthenticator//h:id/@extension)") == "810000000099"
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=art.pdf, capture_output=True,
                              check=True).stdout.decode()
        assert "RESPONSABLE" in text and "à la place" in " ".join(text.split())


# ---------------------------------------------------------------------------- 11. identifiers


def test_the_sils_pid3_authority_is_kept() -> None:
    assert xp(build(message()), "string(//h:patientRole/h:id/@root)") == "1.2.250.1.999.7.1"
    assert xp(build(message(pid3="IPP1^^^LABO^PI")), "string(//h:patientRole/h:id/@root)") == LAB.ipp_oid


def test_local_codes_and_document_ids_have_distinct_oids() -> None:
    art = build(message(obx="OBX|1|NM|XVITD^Vitamine D^L||50|nmol/L"))
    assert xp(art, "string(//h:observation/h:code/h:translation/@codeSystem)") == "1.2.250.1.999.6.7"
    assert xp(art, "string(/h:ClinicalDocument/h:id/@root)") == "1.2.250.1.999.6.1"
    assert len(art.ids.document_id_extension) <= 16


# ---------------------------------------------------------------------------- 12. time


def test_summer_times_carry_the_summer_offset() -> None:
    art = build(message(obr7="202607150830"))
    assert xp(art, "string(//h:procedure/h:effectiveTime/h:high/@value)") in ("", "202607150830+0200")
    assert xp(art, "string(//h:serviceEvent/h:effectiveTime/h:low/@value)") == "202607150830+0200"
    assert xp(art, "string(/h:ClinicalDocument/h:effectiveTime/@value)") == "20260715101500+0200"


# ---------------------------------------------------------------------------- 13. what a biologist notices


@given(op=st.sampled_from(["<", "<=", ">", ">=", "≤", "≥"]), number=st.decimals(0, 999, places=2))
def test_range_inclusivity_agrees_across_entry_narrative_and_pdf(op: str, number: Decimal) -> None:
    ref = parse_range(f"{op}{number}", "mmol/L")
    assert ref is not None
    inclusive = op not in ("<", ">")
    upper = op in ("<", "<=", "≤")
    assert (ref.high_inclusive if upper else ref.low_inclusive) is inclusive
    symbol = {(True, True): "≤", (True, False): "<", (False, True): "≥", (False, False): ">"}[(upper, inclusive)]
    assert _range_text(ref).startswith(symbol + " ")
    assert format_range(ref).startswith(symbol + " ")


def test_range_lt_80_is_exclusive_in_the_entry() -> None:
    art = build(message(obx="OBX|1|NM|CRP^CRP^L||3|mg/L|<80"))
    high = xp(art, "//h:referenceRange//h:high")
    assert [h.get("inclusive") for h in high] == ["false"]
    assert "< 80" in xp(art, "string(//h:section/h:text)")


@pytest.mark.parametrize(("spm4", "code", "translation"), [
    ("BLD^Sang total^HL70487", "BLD", None),
    ("119297000^Blood specimen^SCT", "BLD", "119297000"),
    ("1003706006^Capillary blood specimen^SCT", None, "1003706006"),  # no exact 0487 equivalent here
    ("SG^Sang^L", None, None),
])
def test_specimen_type_is_coded(spm4: str, code: str | None, translation: str | None) -> None:
    art = build(message(spm=f"SPM|1|E1||{spm4}" + "|" * 13 + "202607150830"))
    (el,) = xp(art, "//h:procedure/h:participant/h:participantRole/h:playingEntity/h:code")
    assert el.get("code") == code and (el.get("nullFlavor") == "OTH") is (code is None)
    assert xe(el, "string(h:translation/@code)") == (translation or "")


def test_executing_lab_and_method_text_are_kept() -> None:
    obx = ("OBX|1|NM|NA^Sodium^L||140|mmol/L|||||F||||||^Potentiométrie^L||202607151000||||"
           "LABO SOUS-TRAITANT^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^330000000")
    art = build(message(obx=obx))
    (performer,) = xp(art, "//h:observation/h:performer")
    assert xe(performer, "h:templateId/@root") == ["1.3.6.1.4.1.19376.1.3.3.1.7", "1.2.250.1.213.1.1.3.23"]
    assert xe(performer, "string(h:time/@value)") == "202607151000+0200"
    org = xe(performer, "h:assignedEntity/h:representedOrganization")[0]
    assert (xe(org, "string(h:id/@root)"), xe(org, "string(h:id/@extension)")) == ("1.2.250.1.71.4.2.2", "1330000000")
    ref = xp(art, "string(//h:observation/h:methodCode/h:originalText/h:reference/@value)")
    assert xp(art, f"string(//h:content[@ID='{ref[1:]}'])") == "Technique : Potentiométrie"
    assert "Réalisé par : LABO SOUS-TRAITANT" in xp(art, "string(//h:section/h:text)")


def test_obx23_naming_the_lab_itself_adds_no_performer() -> None:
    art = build(message(obx="OBX|1|NM|NA^Sodium^L||140|mmol/L|||||F||||||||||||Laboratoire Test"))
    assert xp(art, "//h:observation/h:performer") == []


def test_fixture_folder_is_untouched(tmp_path: Path) -> None:
    assert not any(tmp_path.iterdir())  # these tests write nothing


def test_xds_metadata_ids_and_utc_times() -> None:
    """uniqueId within IHE's limits, creationTime in UTC from the summer-time document time, the SIL's IPP."""
    art = build(message())
    with zipfile.ZipFile(io.BytesIO(art.xdm)) as z:
        meta = etree.fromstring(z.read("IHE_XDM/SUBSET01/METADATA.XML"))
    rim = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
    unique = meta.xpath("//rim:ExternalIdentifier[rim:Name/rim:LocalizedString/@value='XDSDocumentEntry.uniqueId']"
                        "/@value", namespaces=rim)[0]
    root, _, ext = unique.partition("^")
    assert root == "1.2.250.1.999.6.1" and 0 < len(ext) <= 16 and len(unique) <= 64
    creation = meta.xpath("string(//rim:Slot[@name='creationTime']/rim:ValueList/rim:Value)", namespaces=rim)
    assert creation == "20260715081500"  # 10:15 in Paris in July is 08:15 UTC (the fixed +0100 said 09:15)
    source = meta.xpath("string(//rim:Slot[@name='sourcePatientId']/rim:ValueList/rim:Value)", namespaces=rim)
    assert source == "IPP1^^^&1.2.250.1.999.7.1&ISO^PI"
