"""The command-line contract, run as a user runs it: `python -m connector` in a subprocess."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from tests.support.paths import DATA
from tests.support.service import cli

CORPUS = DATA / "oru"
BUILD_TIMEOUT_SECONDS = 300.0  # the demo and the corpus build do all the work a report needs, many times


def connector(*args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, timeout=BUILD_TIMEOUT_SECONDS)


def test_demo_sends_every_sample_and_prints_no_patient_data() -> None:
    result = connector("demo", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(r["state"] in ("sent", "delivered", "read") for r in rows)
    assert all(r["recipients"] for r in rows)
    assert "Traceback" not in result.stderr


def test_build_writes_valid_cda_zip_and_email(tmp_path: Path, cda_xsd: Path) -> None:
    inputs = sorted(str(p) for p in CORPUS.glob("0[1-9]_*.hl7"))
    result = connector("build", *inputs, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) >= len(inputs)
    schema = etree.XMLSchema(etree.parse(str(cda_xsd)))
    for folder in folders:
        assert {p.name for p in folder.iterdir()} >= {"cda.xml", "IHE_XDM.ZIP", "message.eml", "report.pdf"}
        doc = etree.parse(str(folder / "cda.xml"))
        assert schema.validate(doc), (folder.name, schema.error_log.last_error)
        with zipfile.ZipFile(folder / "IHE_XDM.ZIP") as z:
            assert z.testzip() is None
            assert {"README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML",
                    "IHE_XDM/SUBSET01/DOC0001.XML"} <= set(z.namelist())
        msg = email.message_from_bytes((folder / "message.eml").read_bytes(), policy=email.policy.default)
        assert msg["Subject"].startswith("XDM/1.0/DDM+")
        assert (folder / "cda.xml").stat().st_mode & 0o777 == 0o600


def test_build_names_file_segment_and_field_of_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "no_pid.hl7"
    bad.write_bytes(b"MSH|^~\\&|SIL|LABO|C|D|20260101||ORU^R01|X1|P|2.5\rOBR|1||A|NFS^NFS^L\r")
    not_hl7 = tmp_path / "notes.txt"
    not_hl7.write_bytes(b"hello, this is not HL7\n")
    result = connector("build", str(bad), str(not_hl7), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert "no_pid.hl7" in lines[0] and "PID" in lines[0] and "expected" in lines[0]
    assert "notes.txt" in lines[1] and "expected" in lines[1]
    assert "Traceback" not in result.stderr


def test_validate_reports_xsd_failures(tmp_path: Path, ans_kit: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><bogus/></ClinicalDocument>')
    config = tmp_path / "c.yaml"  # the configured kit's XSD (no --ans-kit: the six schematrons do not run)
    config.write_text(f"mode: test\ndata_dir: {tmp_path / 'var'}\nvalidation: {{ans_kit: {ans_kit}}}\n")
    result = connector("validate", str(broken), "--config", str(config))
    assert result.returncode == 1
    assert "FAILED" in result.stdout


def test_validate_without_any_kit_says_where_it_looked(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<ClinicalDocument/>")
    config = tmp_path / "c.yaml"
    config.write_text(f"mode: test\ndata_dir: {tmp_path / 'var'}\n")
    result = connector("validate", str(broken), "--config", str(config))
    assert result.returncode == 2  # a configuration matter: install the kit or name it
    assert str(tmp_path / "var" / "ans-kit") in result.stderr and "connector kit install" in result.stderr


@pytest.mark.parametrize("args", [["status"], ["quarantine", "list"]])
def test_operator_commands_answer_on_an_empty_store(tmp_path: Path, args: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"mode: test\ndata_dir: {tmp_path / 'var'}\n")
    result = connector(*args, "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)


@pytest.mark.parametrize("args, says", [
    (["run"], "--config FILE"),
    (["retry"], "give a REPORT id or --failed"),
])
def test_a_usage_error_inside_a_command_exits_2_with_click_s_message(args: list[str], says: str) -> None:
    result = connector(*args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "internal" not in result.stderr


def test_an_operator_command_without_config_says_it_reads_the_demo_store(capsys: pytest.CaptureFixture[str]) -> None:
    # In-process: running `connector status` itself would create the demo store in the checkout.
    from connector.cli.common import config_for

    config = config_for(None, reads_store=True)
    assert f"this is the demo store {config.store_path}" in capsys.readouterr().err
    config_for(None)  # offline commands (build, preview) use the demo identity without a note
    assert capsys.readouterr().err == ""
