"""The privacy canary: a patient whose every identifying value is a unique marker goes through the real
service (drop folder and MLLP in, the operator simulator out, a bounce and a KO MDN back), and nothing the
connector emits may contain a marker: its JSON log lines, the operator commands' outputs, the metrics, the
events and reasons in the store, the MLLP ACKs, the ZAMs, the quarantine reason files.

The acks the operator returns carry the markers too (the e-mail subject holds the patient's name and the
returned headers hold X-MSS-INS), so this also proves the ack reader keeps none of it. Bad inputs (no OBR,
a non-numeric NM value holding a marker) cover the error paths.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.simulator.plugin import OperatorSim
from tests.support.mail import inject, mdn
from tests.support.mllp import exchange
from tests.support.paths import E2E
from tests.support.ports import free_port
from tests.support.service import ServiceProcess, Site, cli, http_get, wait_for, write_site

pytestmark = pytest.mark.simulator

FAMILY, GIVEN, BIRTH, VALUE = "CANARYFAMILYZQX", "CANARYGIVENZQX", "19011231", "987.654"
NIR_BODY = "1011299123456"
INS = NIR_BODY + f"{97 - int(NIR_BODY) % 97:02d}"  # the NIR key makes it a valid INS
CANARIES = (FAMILY, GIVEN, BIRTH, VALUE, INS, NIR_BODY)
FLOW_TIMEOUT_SECONDS = 30.0
PRESCRIBER = "dr.x@hopital.test"


def unique(data: bytes, control_id: str, tag: str) -> bytes:
    """The same message under a run-unique MSH-10 (the simulator's mailboxes are shared by the session)."""
    return data.replace(control_id.encode(), f"{control_id}{tag}".encode())


def leaks(label: str, text: str | bytes) -> list[str]:
    """Every canary found in ``text`` (names case-insensitively), as ``label: canary``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    found = [c for c in CANARIES if re.search(re.escape(c), text, re.IGNORECASE)]
    return [f"{label}: {c}" for c in found]


def ko_mdn(sim: OperatorSim, message_id: str) -> bytes:
    """A KO MDN as DPIs send them: the patient's name in the subject and the text, the 904 code."""
    return mdn(reader=PRESCRIBER, to=sim.lab_mailbox, original_message_id=message_id,
               error=f"904^L'INS {INS} de {FAMILY} ne correspond pas^applicationErrorCondition",
               subject=f"XDM/1.0/DDM+CR d'examens biologiques {FAMILY} {GIVEN} 31/12/1901",
               text=f"INS différent : {INS} {FAMILY} {GIVEN} né le {BIRTH}, Hb {VALUE}")


def test_no_canary_value_leaves_the_connector(
        operator_sim: OperatorSim, tmp_path: Path, service_factory: Callable[[Site], ServiceProcess]) -> None:
    sim = operator_sim
    mllp_port = free_port()
    site = write_site(tmp_path, sim, mllp_port=mllp_port)
    service = service_factory(site)
    tag = uuid.uuid4().hex[:8].upper()
    good = unique((E2E / "canary.hl7").read_bytes(), "CANARY01", tag)
    no_obr = unique((E2E / "canary_no_obr.hl7").read_bytes(), "CANARY02", tag)
    nm_text = unique((E2E / "canary_nm_text.hl7").read_bytes(), "CANARY03", tag)
    assert all(INS.encode() in m and FAMILY.encode() in m for m in (good, no_obr, nm_text))

    # In: the good report and both bad ones through the drop folder; the bad ones again over MLLP.
    site.drop_file("canary.hl7", good)
    site.drop_file("canary_no_obr.hl7", no_obr)
    site.drop_file("canary_nm_text.hl7", nm_text)
    acks = [exchange(mllp_port, unique(m, f"CANARY0{i}{tag}", "M")) for i, m in ((2, no_obr), (3, nm_text))]
    assert all(b"MSA|AR" in a or b"MSA|AE" in a for a in acks), acks

    # Out: delivered to two doctors, bounced for the unknown one; then a KO MDN full of markers comes back.
    report_id = wait_for(lambda: next(iter(site.reports()), None), timeout=FLOW_TIMEOUT_SECONDS, what="the report")
    wait_for(lambda: site.reports()[report_id] == "delivered" and not site.query(
        "SELECT 1 FROM recipients WHERE report_id = ? AND state = 'accepted'", (report_id,)),
        timeout=FLOW_TIMEOUT_SECONDS, what="DSNs applied")
    message_id = site.query("SELECT message_id FROM reports WHERE report_id = ?", (report_id,))[0][0]
    inject(sim, ko_mdn(sim, message_id), sender=PRESCRIBER)
    wait_for(lambda: site.query("SELECT 1 FROM recipients WHERE report_id = ? AND state = 'error'", (report_id,)),
             timeout=FLOW_TIMEOUT_SECONDS, what="the KO MDN applied")
    wait_for(lambda: len(list(site.zam.glob("*.hl7"))) >= 4, timeout=FLOW_TIMEOUT_SECONDS,
             what="3 ZAM^Z02 and 1 ZAM^Z03 in the SIL folder")
    wait_for(lambda: len(list(site.quarantine.glob("*.reason.txt"))) >= 2, timeout=FLOW_TIMEOUT_SECONDS,
             what="two quarantine reason files")

    # Everything the connector emitted, while running and after.
    found: list[str] = []
    code, exposition = http_get(site.metrics_port, "/metrics")
    assert code == 200
    found += leaks("metrics", exposition)
    for args in (["status"], ["show", report_id], ["quarantine", "list"]):
        result = cli(*args, "--config", site.config, "--json")
        assert result.returncode == 0, (args, result.stderr)
        found += leaks(" ".join(args), result.stdout + result.stderr)
    quarantined = json.loads(cli("quarantine", "list", "--config", site.config, "--json").stdout)
    assert len(quarantined) >= 4, quarantined  # 2 files + 2 MLLP messages
    for i, ack in enumerate(acks):
        found += leaks(f"MLLP ACK {i}", ack)
    for path in sorted(site.zam.glob("*.hl7")):
        found += leaks(f"ZAM {path.name}", path.read_bytes())
    for path in sorted(site.quarantine.glob("*.reason.txt")):
        found += leaks(f"quarantine {path.name}", path.read_bytes())
    for table, columns in (("events", "event, detail"), ("reports", "report_id, reason"),
                           ("recipients", "address, code, detail"), ("input_errors", "reason"),
                           ("outbox", "name, data")):
        for row in site.query(f"SELECT {columns} FROM {table}"):
            found += leaks(f"store {table}", " ".join(str(v) for v in row))
    assert service.stop() == 0
    found += leaks("service stderr", service.stderr())
    assert service.events(), "the service logged nothing"
    # Positive control: the detector does see the markers where they belong (the archived input).
    archived = list((site.base / "archive").glob("canary.hl7*"))
    assert archived and leaks("archive", archived[0].read_bytes())
    assert not found, "patient data emitted:\n" + "\n".join(found)
