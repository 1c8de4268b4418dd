"""The XPath lexing the rewrite relies on: literals and brackets are never cut, calls are found exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.validation.xpath_text import call_spans, leading_step, split_top_level

NAMES = st.sampled_from(["cda:section", "*", "hl7:id", "@code", "cda:observation", "lab:statusCode"])
LITERALS = st.text(alphabet="ab|[]()/:' \"", max_size=8).map(lambda s: "'" + s.replace("'", "''") + "'")
PREDICATES = st.one_of(
    LITERALS.map(lambda lit: f"[@root = {lit}]"),
    st.just("[self::cda:a | self::cda:b]"),
    st.just("[not(@nullFlavor)][cda:templateId[@root='1.2|3']]"),
    st.just("[concat(@code, '|') = doc('x.xml')//c/concat(@c, '|')]"),
)
STEPS = st.builds(lambda name, preds: name + "".join(preds), NAMES, st.lists(PREDICATES, max_size=2))
PATHS = st.lists(STEPS, min_size=1, max_size=3).map("/".join)


@given(st.lists(PATHS, min_size=1, max_size=4))
def test_a_union_splits_into_its_alternatives_only(alternatives: list[str]) -> None:
    assert split_top_level(" | ".join(alternatives)) == alternatives


@given(PATHS)
def test_the_leading_step_and_the_rest_rebuild_the_path(path: str) -> None:
    step = leading_step(path)
    if path.startswith("@"):
        assert step is None  # an attribute step is not a name test the rewrite moves
        return
    assert step is not None
    name, predicates, rest = step
    assert name + predicates + rest == path
    assert rest == "" or rest.startswith("/")


def test_leading_step_refuses_axes_and_calls() -> None:
    assert leading_step("child::cda:a/b") is None
    assert leading_step("key('k', 'v')/b") is None
    assert leading_step("//cda:ClinicalDocument[x]/cda:a", prefix="//") == ("cda:ClinicalDocument", "[x]", "/cda:a")
    assert leading_step("cda:a[@x='[']") == ("cda:a", "[@x='[']", "")
    assert leading_step("cda:a[unclosed") is None


@given(LITERALS, LITERALS)
def test_calls_are_found_outside_literals_only(first: str, second: str) -> None:
    expr = f"concat({first}, 'doc(x)') = doc({second})//a and doc-available('y') and fn:doc('z') and mydoc('w')"
    spans = call_spans(expr, "doc")
    assert spans is not None
    assert [arg for _, _, arg in spans] == [second]
    start, end, _ = spans[0]
    assert expr[start:end] == f"doc({second})"


def test_lexing_gives_up_rather_than_guess() -> None:
    assert split_top_level("a | (: a comment | :) b") is None
    assert split_top_level("a[unbalanced | b") is None
    assert split_top_level("'unterminated | b") is None
    assert call_spans("doc('x') (: doc('y') :)", "doc") is None
    assert call_spans("doc(('a', 'b')[1])", "doc") == [(0, 18, "('a', 'b')[1]")]
