"""Issue 13 against the real service (`python -m connector run` as a subprocess), no operator needed:

- recovery at start is not blocked by a poison input committed before a crash (it exited 3 at every start);
- observation 5: the store file deleted while running: nothing more is acknowledged (AE, files stay in drop/),
  ``/readyz`` is 503 with the reason, ``store.lost`` is logged;
- observation 12: ``/readyz`` says when intake cannot commit (the disk full, by a file size limit on the
  service process: SQLite then fails to write like on a full disk);
- observation 6: a runaway build (a CPU loop injected by ``sitecustomize``: no real input is that slow any
  more) is held at ``build.budget_seconds``, the next report goes on, and SIGTERM stops the service in seconds.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path

from tests.ledger.sil import SilSender, ack_code
from tests.support.hostile import cda_with_doctype, e2e_oru, shape_b_with
from tests.support.paths import HOOKS, ROOT
from tests.support.ports import free_port
from tests.support.service import ServiceProcess, Site, http_get, wait_for, write_site

FLOW_SECONDS = 30.0




# ---------------------------------------------------------------- recovery


def test_recovery_quarantines_a_poison_input_instead_of_exiting(tmp_path: Path,
                                                                processes: Callable[..., ServiceProcess]) -> None:
    from connector.store import Store

    site = write_site(tmp_path, None)
    store = Store(site.base / "var" / "connector.sqlite")  # inputs committed just before a crash, never split
    store.record_input(shape_b_with(cda_with_doctype("utf16-entity"), control_id="REC1"), source="mllp:sil")
    store.record_input(e2e_oru("REC2"), source="good.hl7")
    store.close()
    service = processes(site).start()
    wait_for(lambda: site.query("SELECT count(*) FROM inputs WHERE split = 0") == [(0,)], timeout=FLOW_SECONDS,
             what="every input split or quarantined")
    assert service.has_event("service.recovered") and not service.has_event("service.crashed")
    assert len(site.query("SELECT * FROM input_errors")) == 1 and len(site.reports()) == 1
    assert service.stop() == 0


# ---------------------------------------------------------------- the store file deleted while running


def test_a_deleted_store_stops_acknowledgements_and_readiness(tmp_path: Path,
                                                              processes: Callable[..., ServiceProcess]) -> None:
    port = free_port()
    site = write_site(tmp_path, None, mllp_port=port)
    service = processes(site).start()
    sil = SilSender("127.0.0.1", port)
    stop = threading.Event()
    try:
        assert ack_code(sil.send_until_accepted("DEL1", e2e_oru("DEL1"), stop)) == "AA"
        assert http_get(site.metrics_port, "/readyz")[0] == 200
        (site.base / "var" / "connector.sqlite").unlink()  # an operator's mistake, or a cleanup script
        after = sil._exchange(e2e_oru("DEL2", index=2))  # one attempt: the SIL would resend on AE
        site.drop_file("after.hl7", e2e_oru("DEL3", index=3))
        time.sleep(2.0)  # a scan or two
    finally:
        sil.close()
    assert ack_code(after) == "AE"  # was AA: acknowledged into a file that no longer existed
    assert (site.drop / "after.hl7").exists()  # left in place: nothing lost
    code, body = _readyz(site)
    assert code == 503 and "deleted or replaced" in body
    lost = service.has_event("store.lost")
    assert lost is not None and lost.get("level") == "critical"
    assert service.stop() == 0


def _readyz(site: Site) -> tuple[int, str]:
    try:
        return http_get(site.metrics_port, "/readyz")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


# ---------------------------------------------------------------- readiness when the disk is full


def test_readyz_is_503_when_intake_cannot_commit(tmp_path: Path, processes: Callable[..., ServiceProcess]) -> None:
    port = free_port()
    site = write_site(tmp_path, None, mllp_port=port)
    service = processes(site, file_size_limit=16 * 1024 * 1024).start()  # every file of the service: 16 MiB
    sil = SilSender("127.0.0.1", port)
    codes = []
    try:
        for n in range(40):  # refused inputs are stored too (for the quarantine list): ~1 MiB each
            filler = b"MSH|^~\\&|SIL|LABO|||2026||ORU^R01|" + f"FULL{n}".encode() + b"|P|2.5\rZZ|" + os.urandom(
                512 * 1024).hex().encode() + b"\r"
            codes.append(ack_code(sil._exchange(filler)))
            if codes[-1] == "AE":
                break
    finally:
        sil.close()
    assert codes[-1] == "AE", codes  # the store could not commit: nothing acknowledged
    code, body = _readyz(site)
    assert code == 503 and "intake cannot commit" in body  # was 200 while every input was refused
    assert service.stop() == 0


# ---------------------------------------------------------------- a runaway build and SIGTERM


def test_a_runaway_build_is_held_the_next_goes_on_and_sigterm_is_prompt(
        tmp_path: Path, processes: Callable[..., ServiceProcess]) -> None:
    site = write_site(tmp_path, None)
    site.configure(build={"budget_seconds": 3})
    env = {"PYTHONPATH": f"{HOOKS}{os.pathsep}{ROOT}", "HOSTILE_SLOW_BUILD": "RUNAWAY1"}
    service = processes(site, env=env).start()
    assert service.has_event("hooks.slow_build_armed"), "tests/support/hooks/sitecustomize.py was not loaded"

    def settled(count: int) -> Callable[[], dict[str, str] | None]:
        def probe() -> dict[str, str] | None:
            states = site.reports()
            return states if len(states) == count and not {"parsed", "built"} & set(states.values()) else None
        return probe

    site.drop_file("warm.hl7", e2e_oru("WARM1", index=2))  # the first build loads fonts and schemas (~2 s)
    wait_for(settled(1), timeout=FLOW_SECONDS, what="the first report past its build")
    site.drop_file("slow.hl7", e2e_oru("RUNAWAY1"))
    site.drop_file("next.hl7", e2e_oru("NEXT1", index=1))
    states = wait_for(settled(3), timeout=FLOW_SECONDS, what="both reports past the build")
    assert sorted(states.values()) == ["quarantined", "waiting", "waiting"]  # the next one built (SMTP is down)
    reason = site.query("SELECT reason FROM reports WHERE state = 'quarantined'")[0][0]
    assert "build.budget_seconds" in reason
    asked = time.monotonic()
    code = service.stop()
    assert code == 0 and time.monotonic() - asked < 5.0  # SIGTERM was not honoured within 20 s while a build ran
