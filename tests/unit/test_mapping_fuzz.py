"""Mapping loader and value parsers on arbitrary input: only our exceptions, never a crash."""

import contextlib
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import MappingFileError
from connector.mapping import Mappings
from connector.mapping.values import parse_range

KEYS = st.sampled_from(["chapter", "tests", "units", "batteries", "loinc", "unit", "convert", "type", "range",
                        "display", "NA", "G/L", "18719-5", "2951-2", "null", "- ", ": ", "\n  ", "&a", "*a", "[", "{"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(KEYS, st.text(max_size=8)), max_size=40))
def test_load_raises_only_mapping_file_error(parts: list[str]) -> None:
    with TemporaryDirectory() as tmp:
        (Path(tmp) / "x.yaml").write_text("".join(parts), encoding="utf-8")
        try:
            Mappings.load(Path(tmp))
        except MappingFileError as exc:
            assert "x.yaml" in str(exc)


def test_deep_nesting_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("[" * 20000 + "]" * 20000, encoding="utf-8")
    with contextlib.suppress(MappingFileError):
        Mappings.load(tmp_path)


@given(st.text(max_size=30))
def test_parse_range_never_raises(text: str) -> None:
    parse_range(text, "g/L")
