"""The code stays as clean as it is today: ruff (pyproject's rules) and mypy --strict, as a test.

Both tools are pinned in the test extra, so a new release cannot turn the suite red by itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed (pip install -e '.[test]')")
def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", "connector", "tests", "bench", "loinc")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_strict_finds_nothing(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy not installed (pip install -e '.[test]')")
    result = _run(sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "connector")
    assert result.returncode == 0, result.stdout[-4000:]
