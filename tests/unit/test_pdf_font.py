"""Per-document TrueType subsets cut from a font parsed once, checked by re-reading them with fontTools."""

from __future__ import annotations

import logging
from io import BytesIO
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from connector.pdf import DEFAULT_FONT_DIR
from connector.pdf.font import FontSubset, ParsedFont, normalize_text

FONT = DEFAULT_FONT_DIR / "DejaVuSans.ttf"
if not FONT.is_file():
    pytest.skip("DejaVu fonts missing: apt-get install fonts-dejavu-core", allow_module_level=True)


@pytest.fixture(scope="module")
def parsed() -> ParsedFont:
    return ParsedFont.load(FONT)


@pytest.fixture(scope="module")
def original() -> TTFont:
    return TTFont(str(FONT))


def test_cids_are_assigned_in_drawing_order(parsed: ParsedFont) -> None:
    subset = FontSubset(parsed)
    assert subset.encode("éa") == "00010002"
    assert subset.encode("aé≤") == "000200010003"
    assert subset.unicode_of == {1: "é", 2: "a", 3: "≤"}


def test_subset_program_is_a_valid_font_with_the_same_outlines(parsed: ParsedFont, original: TTFont) -> None:
    subset = FontSubset(parsed)
    text = "Hémoglobine ≥ ≤ µ œ Œ ç à è Ǻ"  # Ǻ is a composite glyph (A + ring + acute)
    subset.encode(text)
    program, count = subset.program()
    font = TTFont(BytesIO(program))
    assert font["maxp"].numGlyphs == count >= len(set(text)) + 1
    assert font["head"].indexToLocFormat == 1
    glyf, old_glyf = font["glyf"], original["glyf"]
    new_order = font.getGlyphOrder()
    old_cmap = original.getBestCmap()
    for cid, ch in subset.unicode_of.items():
        new_glyph, old_glyph = glyf[new_order[cid]], old_glyf[old_cmap[ord(ch)]]
        assert new_glyph.numberOfContours == old_glyph.numberOfContours, ch
        assert font["hmtx"][new_order[cid]][0] == original["hmtx"][old_cmap[ord(ch)]][0]
        if new_glyph.isComposite():  # components renumbered into the subset, same outlines
            old_names = [c.glyphName for c in old_glyph.components]
            new_ids = [font.getGlyphID(c.glyphName) for c in new_glyph.components]
            assert len(old_names) == len(new_ids) and all(i < count for i in new_ids)
            assert glyf[new_order[cid]].getCoordinates(glyf)[0] == old_glyph.getCoordinates(old_glyf)[0]


def test_subset_carries_no_hinting_and_the_very_same_outlines(
    parsed: ParsedFont, original: TTFont, caplog: pytest.LogCaptureFixture
) -> None:
    subset = FontSubset(parsed)
    subset.encode("Hémoglobine ≥ ≤ µ œ Œ ç à è Ǻ 0123456789 %/.,;:()")
    program, _ = subset.program()
    with caplog.at_level(logging.WARNING, logger="fontTools"):
        font = TTFont(BytesIO(program))
        glyf = font["glyf"]
        for name in font.getGlyphOrder():
            glyf[name].expand(glyf)
    assert not caplog.records  # e.g. "too much glyph data": the font's padding was left in a glyph
    assert not {"fpgm", "prep", "cvt "} & set(font.keys())
    old_glyf, old_cmap, order = original["glyf"], original.getBestCmap(), font.getGlyphOrder()
    for cid, ch in subset.unicode_of.items():
        new_glyph, old_glyph = glyf[order[cid]], old_glyf[old_cmap[ord(ch)]]
        assert not hasattr(new_glyph, "program") or not new_glyph.program.getBytecode(), ch
        assert new_glyph.getCoordinates(glyf)[0] == old_glyph.getCoordinates(old_glyf)[0], ch


def test_widths_come_from_the_font(parsed: ParsedFont) -> None:
    subset = FontSubset(parsed)
    subset.encode("iW")
    widths = dict(subset.widths())
    assert widths[1] == pytest.approx(parsed.width_of["i"])
    assert widths[2] == pytest.approx(parsed.width_of["W"])
    assert parsed.text_width("iW", 10) == pytest.approx((widths[1] + widths[2]) / 100)


def test_missing_character_uses_the_replacement_glyph(parsed: ParsedFont) -> None:
    subset = FontSubset(parsed)
    subset.encode("\U0001f9ea")
    assert subset.old_gids[1] == parsed.glyph_of["?"]


def test_normalize_text_composes_accents_and_drops_controls() -> None:
    assert normalize_text("e\u0301\tx") == "é x"


def test_load_reads_metrics(parsed: ParsedFont) -> None:
    assert parsed.postscript_name == "DejaVuSans"
    assert parsed.ascent > 0 > parsed.descent
    assert Path(FONT).stat().st_size > 100_000
