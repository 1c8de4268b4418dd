"""The PDF/A copy: PDF/A-1b structure (pikepdf), content, pagination, file name.

The structural checks are necessary conditions of PDF/A-1b, not a validation (veraPDF is
not available here). Text checks use pdftotext (poppler-utils) and skip without it.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import zlib
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest

from connector.errors import CdaBuildError
from connector.model import Comment, Identifier, PersonName
from connector.pdf import ReportRenderer, pdf_filename, render_pdf
from tests.support.samples import (
    TEST_INS,
    sample_ids,
    sample_lab,
    sample_mapped_report,
    sample_numeric_report,
    sample_text_report,
)

ACCENTED = (
    "DÉSIRÉ-ŒUVRARD",
    "Françoise Zoé",
    "HÉMATOLOGIE",
    "Contrôle conseillé ≤ 3 mois",
    "≥ 12 h",
    "50 µg",
    "Fonction rénale",
)


@pytest.fixture(scope="module")
def renderer() -> ReportRenderer:
    return ReportRenderer()


@pytest.fixture(scope="module")
def pdf(renderer: ReportRenderer) -> bytes:
    return renderer.render(sample_numeric_report(20), lab=sample_lab(), ids=sample_ids())


def _text(data: bytes, *, page: int | None = None) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian poppler-utils) is not installed")
    pages = ["-f", str(page), "-l", str(page)] if page else []
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", *pages, "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def test_sample_numeric_report_has_the_requested_size() -> None:
    assert len(sample_numeric_report(20).results) == 20
    assert len(sample_numeric_report(45).results) == 45


# ---------------------------------------------------------------------------- PDF/A-1b structure


def test_header_and_binary_comment(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.4\n%")
    assert all(b > 127 for b in pdf[10:14])


def test_xmp_declares_pdfa_1b_and_matches_info(pdf: bytes) -> None:
    with pikepdf.open(BytesIO(pdf)) as doc:
        meta = doc.Root.Metadata
        assert "/Filter" not in meta  # PDF/A-1: metadata stream unfiltered
        xmp = meta.read_bytes().decode("utf-8")
        assert "<pdfaid:part>1</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
        with doc.open_metadata() as m:
            assert m.pdfa_status == "1B"
            assert m["dc:title"] == str(doc.docinfo.Title)
            assert m["pdf:Producer"] == str(doc.docinfo.Producer)
            assert m["xmp:CreatorTool"] == str(doc.docinfo.Creator)
        assert str(doc.docinfo.CreationDate).startswith("D:20240104160527+01'00")
        assert "<xmp:CreateDate>2024-01-04T16:05:27+01:00</xmp:CreateDate>" in xmp


def test_output_intent_is_srgb_icc(pdf: bytes) -> None:
    with pikepdf.open(BytesIO(pdf)) as doc:
        (intent,) = doc.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1"
        profile = intent.DestOutputProfile
        assert profile.N == 3
        icc = profile.read_bytes()
        assert icc[12:20] == b"mntrRGB " and icc[8] == 2  # ICC v2, as PDF 1.4 requires


def test_fonts_are_embedded_subsets_with_cidset_and_tounicode(pdf: bytes) -> None:
    with pikepdf.open(BytesIO(pdf)) as doc:
        fonts = doc.pages[0].Resources.Font
        assert len(fonts.items()) == 2
        for font in fonts.values():
            assert font.Subtype == "/Type0" and "/ToUnicode" in font
            cid_font = font.DescendantFonts[0]
            assert re.fullmatch(r"/[A-Z]{6}\+DejaVuSans.*", str(cid_font.BaseFont))
            descriptor = cid_font.FontDescriptor
            assert "/FontFile2" in descriptor and "/CIDSet" in descriptor
            program = descriptor.FontFile2.read_bytes()
            assert program[:4] == b"\x00\x01\x00\x00"
            assert len(program) < 60_000  # a subset, not the 740 kB font


def test_no_encryption_no_javascript_and_a_trailer_id(pdf: bytes) -> None:
    with pikepdf.open(BytesIO(pdf)) as doc:
        assert not doc.is_encrypted
        assert "/ID" in doc.trailer and len(bytes(doc.trailer.ID[0])) == 16
        assert "/Names" not in doc.Root and "/OpenAction" not in doc.Root and "/AA" not in doc.Root
        for obj in doc.objects:
            if isinstance(obj, pikepdf.Dictionary):
                assert "/JS" not in obj and "/JavaScript" not in obj and "/SMask" not in obj
    assert b"/ObjStm" not in pdf and b"/XRef" not in pdf  # PDF 1.4: no object or xref streams


def test_output_is_deterministic(renderer: ReportRenderer, pdf: bytes) -> None:
    assert renderer.render(sample_numeric_report(20), lab=sample_lab(), ids=sample_ids()) == pdf
    assert renderer.render(sample_numeric_report(20), lab=sample_lab(), ids=sample_ids(2)) != pdf


def test_module_level_render_pdf(pdf: bytes) -> None:
    assert render_pdf(sample_numeric_report(20), lab=sample_lab(), ids=sample_ids()) == pdf


# ---------------------------------------------------------------------------- content


def test_accented_text_round_trips(pdf: bytes) -> None:
    text = _text(pdf)
    for expected in ACCENTED:
        assert expected in text


def test_header_fields_and_results(pdf: bytes) -> None:
    text = _text(pdf)
    for expected in (
        "Laboratoire Synthétique des Tests",
        "Patient",
        "28/03/1979",
        "Féminin",
        "IPP0001",
        "Dr MÜLLER Hélène",
        "04/01/2024 à 07h35",
        "Numération formule sanguine",
        "10⁹/L",
        "µmol/L",
        "mUI/L",
        "12,0 – 16,0",
        "11,2 ↓",
        "5,9 ↑↑",
        "12,1 (04/11/2023)",
        "Dr BOËL Jérôme",
        "Échantillon légèrement hémolysé",
        "DOC1 — version 1",
        "Page 1 / 1",
    ):
        assert expected in text, expected


def test_the_collector_is_shown_without_a_doctor_s_title(renderer: ReportRenderer) -> None:
    text = _text(renderer.render(sample_mapped_report(), lab=sample_lab(), ids=sample_ids()))
    assert "Préleveur" in text and "INFIRMIERE Rose" in text and "Dr INFIRMIERE" not in text
    assert "Dr PRESCRIPTEUR Paul" in text


def test_abnormal_values_are_highlighted(pdf: bytes) -> None:
    with pikepdf.open(BytesIO(pdf)) as doc:
        content = doc.pages[0].Contents.read_bytes().decode("ascii")
    assert "0.75 0 0 rg" in content  # red bold value
    assert "1 0.93 0.93 rg" in content  # pale row background


def test_ins_shown_only_when_qualified(renderer: ReportRenderer) -> None:
    qualified = _text(renderer.render(sample_numeric_report(3), lab=sample_lab(), ids=sample_ids()))
    provisional = _text(renderer.render(sample_numeric_report(3, qualified=False), lab=sample_lab(), ids=sample_ids()))
    assert TEST_INS in qualified
    assert TEST_INS not in provisional


def test_long_report_repeats_table_header_and_numbers_pages(renderer: ReportRenderer) -> None:
    ids = sample_ids(2, ("1.2.250.1.999.1.1", "DOC1"))
    data = renderer.render(sample_numeric_report(70), lab=sample_lab(), ids=ids)
    with pikepdf.open(BytesIO(data)) as doc:
        total = len(doc.pages)
    assert total >= 2
    for page in range(1, total + 1):
        text = _text(data, page=page)
        assert "Valeurs de référence" in text and f"Page {page} / {total}" in text
        assert "remplace 1.2.250.1.999.1.1^DOC1" in text
    assert "DÉSIRÉ-ŒUVRARD Françoise Zoé — né(e) le 28/03/1979" in _text(data, page=2)
    assert "(suite)" in _text(data, page=2)


def test_long_comment_and_long_word_flow_onto_pages(renderer: ReportRenderer) -> None:
    mapped = sample_numeric_report(2)
    long_comment = Comment("\n".join(f"Ligne de commentaire numéro {i} avec des accents éèàç." for i in range(150)))
    word = Comment("X" * 400)
    report = dataclasses.replace(mapped.report, comments=(long_comment, word))
    data = renderer.render(dataclasses.replace(mapped, report=report), lab=sample_lab(), ids=sample_ids())
    with pikepdf.open(BytesIO(data)) as doc:
        assert len(doc.pages) >= 3
    assert "numéro 149 avec" in _text(data)


def test_text_and_coded_values(renderer: ReportRenderer) -> None:
    text = _text(renderer.render(sample_text_report(), lab=sample_lab(), ids=sample_ids()))
    assert "Négatif" in text and "Absence d'anticorps." in text and "SÉROLOGIE" in text


def test_character_missing_from_the_font_does_not_fail(renderer: ReportRenderer) -> None:
    mapped = sample_numeric_report(1)
    report = dataclasses.replace(mapped.report, comments=(Comment("glyphe absent : \U0001f9ea fin"),))
    data = renderer.render(dataclasses.replace(mapped, report=report), lab=sample_lab(), ids=sample_ids())
    assert "fin" in _text(data)


def test_content_streams_are_compressed(pdf: bytes) -> None:
    with pikepdf.open(BytesIO(pdf)) as doc:
        raw = doc.pages[0].Contents.read_raw_bytes()
    assert zlib.decompress(raw)


# ---------------------------------------------------------------------------- fonts missing, file name


def test_missing_fonts_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CdaBuildError, match="fonts-dejavu-core"):
        ReportRenderer(font_dir=tmp_path)


def test_filename_follows_eco_2_1_6() -> None:
    name = pdf_filename(sample_numeric_report(2), sample_ids())
    assert name == "20240104_CR d'examens biologiques_DÉSIRÉ-ŒUVRARD_Françoise_2401040042.pdf"


def test_filename_without_dossier_and_with_unsafe_characters() -> None:
    mapped = sample_numeric_report(1)
    patient = dataclasses.replace(
        mapped.report.patient, names=(PersonName(family="O/BRIEN:", given=("Zoé",), name_type="L"),)
    )
    orders = tuple(dataclasses.replace(o, placer_group=None, filler_number=None) for o in mapped.report.orders)
    report = dataclasses.replace(mapped.report, patient=patient, orders=orders)
    name = pdf_filename(dataclasses.replace(mapped, report=report), sample_ids())
    assert name == "20240104_CR d'examens biologiques_O-BRIEN-_Zoé.pdf"
    assert "/" not in name and ":" not in name


def test_filename_uses_filler_number_when_no_placer_group() -> None:
    mapped = sample_numeric_report(1)
    orders = tuple(
        dataclasses.replace(o, placer_group=None, filler_number=Identifier("F-9")) for o in mapped.report.orders
    )
    name = pdf_filename(
        dataclasses.replace(mapped, report=dataclasses.replace(mapped.report, orders=orders)), sample_ids()
    )
    assert name.endswith("_Françoise_F-9.pdf")


def test_rendering_failure_names_the_report_not_the_data(renderer: ReportRenderer) -> None:
    mapped = sample_numeric_report(1)
    broken = dataclasses.replace(mapped.results[0], chapter=None)  # type: ignore[arg-type]
    with pytest.raises(CdaBuildError, match=r"report SIL-LAB-MSG0001-1: PDF rendering failed") as caught:
        renderer.render(dataclasses.replace(mapped, results=(broken,)), lab=sample_lab(), ids=sample_ids())
    assert "DÉSIRÉ" not in str(caught.value) and caught.value.__cause__ is None


def test_damaged_font_file_gives_a_clear_error(tmp_path: Path) -> None:
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        (tmp_path / name).write_bytes(b"not a font")
    with pytest.raises(CdaBuildError, match="could not be read"):
        ReportRenderer(font_dir=tmp_path)
