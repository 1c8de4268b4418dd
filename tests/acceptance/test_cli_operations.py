"""Small operator comforts, as a user meets them in a shell (issue 14's list): a closed pipe, a retry with
nothing to do, a preview that writes nothing where it is run, a directory lookup by the bare RPPS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORU = ROOT / "tests" / "data" / "oru"
E2E = ROOT / "tests" / "data" / "e2e"


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CONNECTOR_CONFIG", None)
    return env


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(f"mode: test\ndata_dir: {tmp_path / 'var'}\n")
    return config


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=120)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    config = _config(tmp_path)
    # `connector status | head` when head has already gone: no reader is left on the pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        status = subprocess.run([sys.executable, "-m", "connector", "status", "--config", str(config)],
                                stdout=write_end, stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path,
                                timeout=60)
    finally:
        os.close(write_end)
    assert status.returncode == 0, status.stderr
    assert "BrokenPipe" not in status.stderr and "error" not in status.stderr.lower()


def test_retry_failed_with_nothing_to_do_is_a_success(tmp_path: Path) -> None:
    result = _run("retry", "--failed", "--config", str(_config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "retried: none" in result.stdout
    unknown = _run("retry", "r-0000000000000000", "--config", str(_config(tmp_path)), cwd=tmp_path)
    assert unknown.returncode == 1  # a named report that cannot be retried is still a failure


def test_preview_writes_nothing_in_the_working_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = _run("preview", str(ORU / "01_nfs.hl7"), cwd=work)
    assert result.returncode == 0, result.stderr
    pdf = Path(result.stdout.strip().splitlines()[-1])
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF-")
    assert not pdf.is_relative_to(work) and list(work.iterdir()) == []
    assert pdf.stat().st_mode & 0o777 == 0o600 and pdf.parent.parent.stat().st_mode & 0o777 == 0o700


def test_directory_lookup_takes_the_bare_rpps(tmp_path: Path) -> None:
    config = _config(tmp_path)
    imported = _run("directory", "import", str(E2E / "directory.txt"), "--config", str(config), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    idnps = next(line.split("|")[4] for line in (E2E / "directory.txt").read_text().splitlines()[1:]
                 if line.split("|")[4].startswith("8"))
    full = _run("directory", "lookup", idnps, "--config", str(config), "--json", cwd=tmp_path)
    bare = _run("directory", "lookup", idnps[1:], "--config", str(config), "--json", cwd=tmp_path)
    assert full.returncode == 0 and bare.returncode == 0, bare.stderr
    assert bare.stdout == full.stdout
