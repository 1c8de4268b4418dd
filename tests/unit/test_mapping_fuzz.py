"""Mapping loader and value parsers on arbitrary input: the right outcome for each file, never a crash.

Each generated file has an expected outcome decided here, independently of the loader:
- arbitrary text: refused when PyYAML cannot read it, when it is not a mapping, when a top-level key is
  unknown, repeated or not a plain name, or a section has the wrong shape; accepted when it is empty or its
  sections are empty; otherwise (sections with entries) accepted exactly when every entry is loaded;
- documents built from the shipped mappings' own values: accepted, every entry as written;
- the same with one fault injected: refused, naming the file and the key of the fault.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import MappingFileError
from connector.mapping import Mappings, default_mappings_dir
from connector.mapping.values import parse_range

KEYS = st.sampled_from(["chapter", "tests", "units", "batteries", "loinc", "unit", "convert", "type", "range",
                        "display", "NA", "G/L", "18719-5", "2951-2", "null", "- ", ": ", "\n  ", "&a", "*a", "[", "{"])
TOP_KEYS = {"chapter", "subchapter", "tests", "batteries", "units"}
SECTIONS = {"tests", "batteries", "units"}  # each a mapping of entries
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # what the loader reads with


def load(text: str) -> Mappings:
    with TemporaryDirectory() as tmp:
        (Path(tmp) / "x.yaml").write_text(text, encoding="utf-8")
        return Mappings.load(Path(tmp))


def refused(text: str) -> MappingFileError:
    with pytest.raises(MappingFileError) as caught:
        load(text)
    assert "x.yaml" in str(caught.value)
    return caught.value


def section_keys(node: yaml.MappingNode) -> set[str]:
    return {str(k.value).strip() for k, _ in node.value}


def expected_outcome(text: str) -> bool | None:
    """True: must be accepted; False: must be refused; None: the entries decide (see the module docstring)."""
    try:
        root = yaml.compose(text, Loader=LOADER)
    except (yaml.YAMLError, RecursionError):
        return False
    if root is None:
        return True  # an empty file is a warning, not an error
    if not isinstance(root, yaml.MappingNode):
        return False
    names = [str(k.value).strip() if isinstance(k, yaml.ScalarNode) else "" for k, _ in root.value]
    if len(set(names)) != len(names) or not set(names) <= TOP_KEYS:
        return False
    for name, (_, value) in zip(names, root.value, strict=True):
        if name in SECTIONS and not isinstance(value, yaml.MappingNode):
            return False
        if name not in SECTIONS and not isinstance(value, yaml.ScalarNode):
            return False  # chapter / subchapter: one code
    return None if any(name in SECTIONS and value.value for name, (_, value) in zip(names, root.value,
                                                                                     strict=True)) else True


# Trees shaped like a mapping file (sections, entries, fields, conversions) with values good and bad, so
# that most texts parse as YAML and reach the loader's checks of sections and entries, not only its syntax.
VALUES = st.sampled_from(["18719-5", "2951-2", "2951-3", "G/L", "10*9/L", "mmol/L", "numeric", "coded", "0", "1.2",
                          "3.5-5.0", "Sodium", "", "UI/L"]) | st.none() | st.text(max_size=6)
FIELDS = st.dictionaries(st.sampled_from(["loinc", "display", "unit", "convert", "type", "range", "chapter", "lonic"]),
                         VALUES | st.dictionaries(st.sampled_from(["mg/L", "g/L", "G/L"]), VALUES, max_size=2),
                         max_size=6)
SECTION = st.dictionaries(st.sampled_from(["NA", "K", "GLY", "NO", "G/L", "mmol/L", "NFS"]), FIELDS | VALUES,
                          max_size=3)
TREES = st.dictionaries(st.sampled_from(["chapter", "subchapter", "tests", "batteries", "units", "test"]),
                        SECTION | VALUES, max_size=4)
PLAUSIBLE = st.fixed_dictionaries({}, optional={  # right sections, entries good or bad
    "chapter": st.sampled_from(["18723-7", "18719-5", "11502-2"]), "tests": SECTION, "batteries": SECTION,
    "units": st.dictionaries(st.sampled_from(["G/L", "UI/L", "mg/24h", "µmol/L"]), VALUES, max_size=3)})
TEXTS = st.one_of(st.lists(st.one_of(KEYS, st.text(max_size=8)), max_size=40).map("".join),
                  st.one_of(TREES, PLAUSIBLE).map(lambda tree: yaml.safe_dump(tree, allow_unicode=True)))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_arbitrary_text_gets_the_outcome_its_shape_decides(text: str) -> None:
    expected = expected_outcome(text)
    if expected is False:
        refused(text)
        return
    if expected is True:
        load(text)
        return
    try:
        mappings = load(text)
    except MappingFileError as exc:
        assert "x.yaml" in str(exc)
        return
    root = yaml.compose(text, Loader=LOADER)  # accepted: then every entry of every section was loaded
    for (key, value) in root.value:
        loaded = {"tests": mappings.tests, "batteries": mappings.batteries, "units": mappings.units}.get(key.value)
        if loaded is not None:
            assert set(loaded) == section_keys(value), key.value


def test_deep_nesting_is_a_finding_not_a_crash() -> None:
    error = refused("[" * 20000 + "]" * 20000)
    assert error.line == 1


# ---------------------------------------------------------------------------- documents built to a plan


@dataclass(frozen=True)
class Shipped:
    """Values taken from the shipped mapping files: chapters, LOINC codes and UCUM units the loader accepts."""

    chapters: tuple[str, ...]
    loinc: tuple[str, ...]
    units: tuple[str, ...]


def shipped() -> Shipped:
    docs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(default_mappings_dir().glob("*.yaml"))
            if not p.name.endswith(".test.yaml")]
    tests = [t for d in docs if d and "tests" in d for t in d["tests"].values()]
    return Shipped(chapters=tuple(sorted({str(d["chapter"]) for d in docs if d and "chapter" in d})),
                   loinc=tuple(sorted({str(t["loinc"]) for t in tests if t.get("loinc")})),
                   units=tuple(sorted({str(t["unit"]) for t in tests if t.get("unit")})))


SHIPPED = shipped()
CODES = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=8)
DISPLAYS = st.text(alphabet=string.ascii_letters + "éèàçôÉ -'()", min_size=1, max_size=30).filter(str.strip)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid mapping document: a chapter and tests with LOINC (or null), display and unit."""
    tests = draw(st.dictionaries(CODES, st.fixed_dictionaries({
        "loinc": st.none() | st.sampled_from(SHIPPED.loinc),
        "display": DISPLAYS,
        "unit": st.sampled_from(SHIPPED.units),
    }), min_size=1, max_size=6))
    return {"chapter": draw(st.sampled_from(SHIPPED.chapters)), "tests": tests}


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@settings(max_examples=60, deadline=None)
@given(documents())
def test_a_valid_document_is_accepted_entry_by_entry(doc: dict[str, Any]) -> None:
    mappings = load(dump(doc))
    assert set(mappings.tests) == set(doc["tests"])
    for code, entry in doc["tests"].items():
        loaded = mappings.tests[code]
        assert (loaded.loinc.code if loaded.loinc else None) == entry["loinc"]
        assert (loaded.display, loaded.unit) == (entry["display"].strip(), entry["unit"])
        assert loaded.chapter.code == doc["chapter"]


def _break_check_digit(code: str) -> str:
    body, digit = code.rsplit("-", 1)
    return f"{body}-{(int(digit) + 1) % 10}"


# One fault each: (what it does to the first test entry, the key the refusal must name).
FAULTS = {
    "unknown key": (lambda e: e.update(lonic="718-7"), "tests.{code}.lonic"),
    "bad check digit": (lambda e: e.update(loinc=_break_check_digit(SHIPPED.loinc[0])), "tests.{code}.loinc"),
    "no loinc line": (lambda e: e.pop("loinc"), "tests.{code}"),
    "gauss per litre": (lambda e: e.update(unit="G/L"), "tests.{code}.unit"),
    "zero factor": (lambda e: e.update(convert={"mg/L": "0"}), "tests.{code}.convert.mg/L"),
}


@settings(max_examples=60, deadline=None)
@given(documents(), st.sampled_from(sorted(FAULTS)))
def test_one_fault_is_refused_naming_its_key(doc: dict[str, Any], fault: str) -> None:
    code = next(iter(doc["tests"]))
    damage, key = FAULTS[fault]
    damage(doc["tests"][code])
    error = refused(dump(doc))
    assert error.key == key.format(code=code), str(error)
    assert error.line is not None


@given(st.text(max_size=30))
def test_parse_range_keeps_every_non_blank_text(text: str) -> None:
    parsed = parse_range(text, "g/L")
    if not text.strip():
        assert parsed is None
        return
    assert parsed is not None
    if parsed.low is None and parsed.high is None:
        assert (parsed.text, parsed.unit) == (text.strip(), "")  # not numeric: kept as written
    else:
        assert (parsed.text, parsed.unit) == ("", "g/L")
