"""`connector mappings suggest | draft | check` as lab IT runs them: exit codes 0 found, 1 nothing, 2 usage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "tests" / "data" / "mapping" / "sil_catalogue.csv"


def connector(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CONNECTOR_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=300, check=False)


def test_suggest_the_readmes_example_and_the_json_contract() -> None:
    text = connector("mappings", "suggest", "glycémie")
    assert text.returncode == 0 and "2345-7" in text.stdout  # the README's example printed nothing, exit 1
    found = json.loads(connector("mappings", "suggest", "Glycémie", "--unit", "mmol/L", "--limit", "3",
                                 "--json").stdout)
    assert len(found) == 3 and found[0]["loinc"] == "14749-6"
    assert all({"loinc", "display", "score"} <= set(c) for c in found)


def test_suggest_specimen_option_and_exit_codes() -> None:
    urine = json.loads(connector("mappings", "suggest", "Créatinine", "--unit", "mmol/L", "--specimen", "urine",
                                 "--json").stdout)
    assert urine[0]["loinc"] == "14683-7"
    assert connector("mappings", "suggest", "qqqzzzwww").returncode == 1
    assert connector("mappings", "suggest", "sodium", "--limit", "0").returncode == 2


def test_draft_writes_a_file_check_accepts_and_json_for_scripts(tmp_path: Path) -> None:
    out = tmp_path / "mappings" / "brouillon.yaml"
    out.parent.mkdir()
    run = connector("mappings", "draft", str(CATALOGUE), "--out", str(out), "--json")
    assert run.returncode == 0, run.stderr
    lines = json.loads(run.stdout)
    assert len(lines) == 66
    assert all({"code", "loinc", "display", "score", "unit_ucum", "needs_review"} <= set(line) for line in lines)
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["tests"]["HB"]["loinc"] == "718-7"
    assert os.stat(out).st_mode & 0o777 == 0o600
    check = connector("mappings", "check", "--dir", str(out.parent))
    assert check.returncode == 0, check.stdout
    again = connector("mappings", "draft", str(CATALOGUE), "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr  # a draft never replaces a file


def test_draft_of_a_catalogue_without_the_columns_says_which(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("code,nom\nNA,Sodium\n", encoding="utf-8")
    run = connector("mappings", "draft", str(bad), "--out", str(tmp_path / "d.yaml"))
    assert run.returncode == 1 and "label, unit" in run.stderr and "Traceback" not in run.stderr
