"""Issue 13, the offline cases through the real CLI (`python -m connector …` as a subprocess):

- `connector build` refuses an embedded CDA with a DTD (UTF-16 with an entity, a DOCTYPE after a long
  comment) naming OBX-5, and bytes that are not UTF-8 under MSH-18 "UNICODE UTF-8" naming MSH-18;
- it builds a report whose comment is one unbroken word of 400,000 characters (the time is measured in
  bench/bench_hostile.py beside a baseline: < 5 s; it took minutes before);
- `connector run` refuses a configuration with a duplicate key or an alias bomb with exit 2 naming the
  cause, and a start failure prints its cause rather than a class name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hostile import (
    NFS,
    NOT_UTF8_FAMILY,
    cda_with_doctype,
    nfs_with_family_name,
    shape_b_with,
    with_comment,
)
from tests.support.service import cli

EXIT_FAILED, EXIT_USAGE = 1, 2


@pytest.mark.parametrize("kind", ["utf16-entity", "utf16-external", "comment-then-doctype"])
def test_build_refuses_an_embedded_cda_with_a_dtd_naming_obx5(kind: str, tmp_path: Path) -> None:
    source = tmp_path / "shape_b.hl7"
    source.write_bytes(shape_b_with(cda_with_doctype(kind)))
    result = cli("build", source, "--out", tmp_path / "out")
    assert result.returncode == EXIT_FAILED, result.stderr
    assert "OBX-5" in result.stderr and "DOCTYPE" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing to forward


def test_build_refuses_bytes_that_are_not_utf8_under_msh18(tmp_path: Path) -> None:
    source = tmp_path / "latin.hl7"
    source.write_bytes(nfs_with_family_name(NOT_UTF8_FAMILY))
    result = cli("build", source, "--out", tmp_path / "out")
    assert result.returncode == EXIT_FAILED and "MSH-18" in result.stderr
    assert "DUP" not in result.stderr  # the name is never quoted


def test_build_lays_out_a_400000_character_unbroken_comment(tmp_path: Path) -> None:
    source = tmp_path / "long.hl7"
    source.write_bytes(with_comment(NFS.read_bytes(), "x" * 400_000))
    result = cli("build", source, "--out", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    [folder] = (tmp_path / "out").iterdir()
    assert (folder / "report.pdf").stat().st_size > 0 and b"x" * 1000 in (folder / "cda.xml").read_bytes()


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_refuses_a_duplicate_key_naming_both_lines(tmp_path: Path) -> None:
    result = cli("run", "--config", _config(tmp_path, "mode: production\ndata_dir: var\nmode: test\n"))
    assert result.returncode == EXIT_USAGE
    assert "connector.yaml:3 [mode]" in result.stderr and "line 1" in result.stderr


def test_run_refuses_an_alias_bomb_at_once(tmp_path: Path) -> None:
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    text = "mode: test\nidentity:\n  status_map:\n" + "".join(f"    {line}\n" for line in lines)
    result = cli("run", "--config", _config(tmp_path, text))
    assert result.returncode == EXIT_USAGE and "alias" in result.stderr and "MemoryError" not in result.stderr


def test_a_start_failure_names_its_cause(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("a file where the store's folder should be")
    text = "mode: test\ndata_dir: var\nmetrics: {enabled: false}\nintake: {folder: {enabled: false}}\n"
    result = cli("run", "--config", _config(tmp_path, text))
    assert result.returncode != 0
    assert "internal" not in result.stderr and str(tmp_path / "var") in result.stderr, result.stderr
