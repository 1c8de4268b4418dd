"""Issue 13, observation 6: one ordinary field must not stall everything.

The PDF line wrapping is linear (it was quadratic in an unbroken word: 400,000 characters took 24 s):
proven by counting the characters it measures, never by timing. Each value type has a size limit
with its reason (connector/pipeline/bounds.py), checked on the bytes before parsing (components,
repetitions) and on the parsed report; a value over it is refused naming segment, field and limit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import InputError
from connector.parse import parse_message, split_messages
from connector.pdf.font import ParsedFont
from connector.pdf.layout import Canvas, Style
from connector.pdf.report import DEFAULT_FONT_DIR, FONT_FILES
from connector.pipeline.bounds import (
    MAX_COMPONENTS,
    MAX_NUMBER_CHARS,
    MAX_REPETITIONS,
    MAX_REPORT_TEXT_CHARS,
    MAX_TEXT_CHARS,
    check_structure,
    check_values,
)
from tests.support.hostile import NFS, with_comment
from tests.support.settings import PARSE

WIDTH = 400.0
STYLE = Style(size=8)


@pytest.fixture(scope="module")
def font() -> ParsedFont:
    path = DEFAULT_FONT_DIR / FONT_FILES[0]
    if not path.is_file():
        pytest.skip(f"DejaVu fonts absent ({path}): apt-get install fonts-dejavu-core")
    return ParsedFont.load(path)


class _Counting:
    """Counts the characters the layout measures: the work of wrapping, without a clock."""

    def __init__(self, font: ParsedFont) -> None:
        self.measured = 0
        counter = self

        class CountingFont(ParsedFont):
            def units(self, text: str) -> float:
                counter.measured += len(text) + 1
                return super().units(text)

        self.font = CountingFont(**{f.name: getattr(font, f.name) for f in dataclasses.fields(ParsedFont)})

    def canvas(self) -> Canvas:
        return Canvas(self.font, self.font)


def test_an_unbroken_word_of_400000_characters_is_measured_a_few_times_not_once_per_line(font: ParsedFont) -> None:
    counting = _Counting(font)
    word = "x" * 400_000
    lines = counting.canvas().wrap(word, WIDTH, STYLE)
    assert "".join(lines) == word and len(lines) > 1000
    assert counting.measured <= 6 * len(word)  # the old cut re-measured the rest of the word: ~n²/160 here


@given(text=st.lists(st.one_of(st.text(alphabet=st.sampled_from(list("aé W-")), max_size=30),
                               st.text(alphabet=st.sampled_from(list("mW0")), min_size=200, max_size=3000)),
                     max_size=20).map(" ".join),
       breaks=st.booleans())
def test_wrapping_keeps_every_character_fits_the_width_and_is_linear(font: ParsedFont, text: str,
                                                                     breaks: bool) -> None:
    counting = _Counting(font)
    if breaks:
        text = text.replace("W", "\n")
    lines = counting.canvas().wrap(text, WIDTH, STYLE)
    limit = WIDTH * 1000.0 / STYLE.size
    assert all(font.units(line) <= limit or len(line) == 1 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert counting.measured <= 6 * len(text) + 4 * (text.count("\n") + 1)


# ---------------------------------------------------------------- per-value limits


def _report(data: bytes):  # type: ignore[no-untyped-def]
    return parse_message(split_messages(data, source="big.hl7")[0], source="big.hl7", settings=PARSE)[0]


@pytest.mark.parametrize("size, refused", [(MAX_TEXT_CHARS, False), (MAX_TEXT_CHARS + 1, True)])
def test_a_comment_is_bounded_by_max_text_chars(size: int, refused: bool) -> None:
    report = _report(with_comment(NFS.read_bytes(), "c" * size))
    if not refused:
        check_values(report, source="big.hl7")
        return
    with pytest.raises(InputError) as caught:
        check_values(report, source="big.hl7")
    assert (caught.value.segment, caught.value.field) == ("NTE", "NTE-3") and "MAX_TEXT_CHARS" in caught.value.expected


def test_free_text_per_report_is_bounded() -> None:
    data = NFS.read_bytes()
    for _ in range(3):
        data = with_comment(data, "c" * (MAX_REPORT_TEXT_CHARS // 3 + 1))
    with pytest.raises(InputError) as caught:
        check_values(_report(data), source="big.hl7")
    assert "MAX_REPORT_TEXT_CHARS" in caught.value.expected


def test_a_number_is_bounded() -> None:
    data = NFS.read_bytes().replace(b"|13.5|", b"|" + b"1" * (MAX_NUMBER_CHARS + 1) + b"|", 1)
    with pytest.raises(InputError) as caught:
        check_values(_report(data), source="big.hl7")
    assert caught.value.field == "OBX-5" and "MAX_NUMBER_CHARS" in caught.value.expected


@given(components=st.integers(min_value=1, max_value=3 * MAX_COMPONENTS), field=st.sampled_from([3, 5]))
def test_components_per_field_are_bounded_on_the_bytes(components: int, field: int) -> None:
    data = NFS.read_bytes().replace(b"\n", b"\r")
    lines = data.split(b"\r")
    at = next(i for i, line in enumerate(lines) if line.startswith(b"OBX|"))
    fields = lines[at].split(b"|")
    fields[field] = b"^".join([b"a"] * components)
    lines[at] = b"|".join(fields)
    message = b"\r".join(lines)
    if components <= MAX_COMPONENTS:
        check_structure(message, source="big.hl7", index=0)
        return
    with pytest.raises(InputError) as caught:
        check_structure(message, source="big.hl7", index=0)
    assert caught.value.field == f"OBX-{field}" and "MAX_COMPONENTS" in caught.value.expected


def test_500000_components_or_repetitions_are_refused_before_parsing() -> None:
    for separator, limit in ((b"^", "MAX_COMPONENTS"), (b"~", "MAX_REPETITIONS")):
        message = with_comment(NFS.read_bytes(), "")
        message = message.replace(b"NTE|1|L|\r", b"NTE|1|L|" + separator.join([b"a"] * 500_000) + b"\r")
        with pytest.raises(InputError) as caught:
            check_structure(message, source="big.hl7", index=0)
        assert caught.value.field == "NTE-3" and limit in caught.value.expected
    assert MAX_REPETITIONS < 500_000


def test_the_receiver_refuses_an_oversized_value_naming_it(tmp_path: Path) -> None:
    from connector.config import demo_config
    from connector.service.runtime import open_runtime

    runtime = open_runtime(demo_config(data_dir=str(tmp_path / "var")), with_smtp=False)
    try:
        receipt = runtime.pipeline.receive(with_comment(NFS.read_bytes(), "c" * (MAX_TEXT_CHARS + 1)),
                                           source="big.hl7")
    finally:
        runtime.close()
    assert not receipt.reports and "MAX_TEXT_CHARS" in receipt.errors[0].describe()
