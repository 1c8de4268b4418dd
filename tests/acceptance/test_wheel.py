"""Installed as a lab installs it: the wheel in a fresh virtual environment, no checkout around.

`connector demo` and `connector build` run on the data the wheel carries (default mappings, LOINC subset,
demo samples); `connector init` makes a lab folder whose configuration `connector mappings check` accepts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.paths import ROOT

ORU = ROOT / "tests" / "data" / "oru"


def _run(args: list[str], *, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Without the checkout on PYTHONPATH: what runs is what the wheel installed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONNECTOR_CONFIG")}
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `connector` command of a fresh venv with only the wheel of this checkout installed.

    The dependencies are the ones installed for the tests: the system's site-packages folder is put on
    the venv's path as a plain entry (its .pth files, among them the checkout's editable install, are
    not run). The package itself must come from the wheel, never from the checkout: that is checked.
    """
    work = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
                 cwd=work)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (work / "dist").glob("*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], cwd=work)
    assert installed.returncode == 0, installed.stderr[-2000:]
    # after the install: pip must not see the checkout's editable install as this package already there
    site_dir = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work)
    system = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site_dir.stdout.strip()) / "system-deps.pth").write_text("\n".join(system) + "\n")
    where = _run([str(python), "-c", "import connector; print(connector.__file__)"], cwd=work)
    assert str(env_dir) in where.stdout, f"connector imported from {where.stdout.strip()}, not the wheel"
    return env_dir / "bin" / "connector"


def test_demo_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    result = _run([str(installed), "demo", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert rows and all(r["state"] in ("sent", "delivered", "read") for r in rows)
    assert list(tmp_path.iterdir()) == []  # nothing written where it was run


def test_build_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    result = _run([str(installed), "build", str(ORU / "01_nfs.hl7"), "--out", str(tmp_path / "out"), "--json"],
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (built,) = json.loads(result.stdout)["built"]
    assert {p.name for p in Path(built["folder"]).iterdir()} >= {"cda.xml", "IHE_XDM.ZIP", "message.eml",
                                                                   "report.pdf"}


def test_init_makes_a_folder_that_mappings_check_accepts(installed: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    made = _run([str(installed), "init", str(lab)], cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    checked = _run([str(installed), "mappings", "check", "--config", str(lab / "connector.yaml")], cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert sorted(p.name for p in (lab / "mappings").glob("*.yaml")) == sorted(
        p.name for p in (ROOT / "mappings").glob("*.yaml"))
    for path in (lab, lab / "spool", lab / "spool" / "drop", lab / "var", lab / "mappings"):
        assert path.stat().st_mode & 0o777 == 0o700, path
    assert (lab / "connector.yaml").stat().st_mode & 0o777 == 0o600
    again = _run([str(installed), "init", str(lab)], cwd=tmp_path)
    assert again.returncode == 2 and "never overwrites" in again.stderr
