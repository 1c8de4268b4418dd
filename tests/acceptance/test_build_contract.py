"""`connector build`'s contract, run as a new lab runs it (a production configuration, no directory yet).

- no directory is needed: a recipient who cannot be looked up is a warning naming who and why, not a failure;
- every report gets its four files (CDA, PDF, XDM zip, e-mail; the e-mail addressed to nobody if need be);
- exit 0 when every report was written; 1 when one was refused, its line naming file, segment and field.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from tests.support.paths import DATA
from tests.support.service import cli

FOUR_FILES = {"cda.xml", "report.pdf", "IHE_XDM.ZIP", "message.eml"}
BUILD_TIMEOUT_SECONDS = 300.0  # a handful of reports, each built in full, on a loaded CI machine


@pytest.fixture
def production_config(tmp_path: Path) -> Path:
    """A lab's first configuration: production mode, its CA bundle, and no MSSanté directory imported."""
    ca = tmp_path / "igc-sante.pem"
    ca.write_text("")  # `connector build` never connects: the bundle only has to be configured
    config = tmp_path / "connector.yaml"
    config.write_text(f"mode: production\ndata_dir: {tmp_path / 'var'}\n"
                      f"smtp:\n  tls:\n    cafile: {ca}\nimap:\n  tls:\n    cafile: {ca}\n")
    return config


def test_without_a_directory_every_report_is_written_and_exit_is_0(tmp_path: Path, production_config: Path) -> None:
    inputs = [DATA / "oru" / "01_nfs.hl7", DATA / "oru" / "34_sil_habits_lf_latin1.hl7"]
    result = cli("build", "--config", production_config, *inputs, "--out", tmp_path / "out", "--json",
                 timeout=BUILD_TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["failures"] == [] and len(out["built"]) == len(inputs)
    for built in out["built"]:
        folder = Path(built["folder"])
        assert {p.name for p in folder.iterdir()} == FOUR_FILES
        assert all((folder / name).stat().st_size > 0 for name in FOUR_FILES)
        mail = email.message_from_bytes((folder / "message.eml").read_bytes(), policy=email.policy.default)
        assert mail["To"] == "undisclosed-recipients:;"
    # Each doctor the messages name is a warning naming the report, the field and why; no patient data.
    prescriber = [w for w in out["warnings"] if "810000000001 (ORC-12/OBR-16)" in w]
    assert prescriber and all(".hl7: report r-" in w and "directory" in w for w in prescriber)
    assert "TESTPATIENT" not in result.stdout + result.stderr
    assert any("no MSSanté directory" in note for note in out["notes"])


@pytest.mark.parametrize(("name", "segment_field"), [
    ("no_birth_date.hl7", "PID-7"),
    ("no_biologist.hl7", "OBR-32"),
    ("results_withdrawn.hl7", "OBX-11"),
    ("no_result.hl7", "OBX"),
])
def test_a_refused_report_exits_1_naming_file_segment_and_field(
    tmp_path: Path, production_config: Path, name: str, segment_field: str
) -> None:
    good = DATA / "oru" / "01_nfs.hl7"
    result = cli("build", "--config", production_config, DATA / "refused" / name, good, "--out", tmp_path / "out",
                 timeout=BUILD_TIMEOUT_SECONDS)
    assert result.returncode == 1
    refused = [line for line in result.stderr.splitlines() if not line.startswith(("note:", "warning:"))]
    assert len(refused) == 1, result.stderr
    assert refused[0].startswith(f"{DATA / 'refused' / name}: report r-") and segment_field in refused[0]
    assert "Traceback" not in result.stderr
    (folder,) = (tmp_path / "out").iterdir()  # the good input is still written in full
    assert {p.name for p in folder.iterdir()} == FOUR_FILES
