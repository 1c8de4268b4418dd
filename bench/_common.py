"""Shared helpers for the end-to-end benchmark: synthetic ORUs, a sink SMTP server in its own
process, a runtime assembled like the tests do, and memory readings.

Synthetic patients only: names are made of letters derived from a counter, no real INS.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import string
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ messages

PS = "810000000001^TESTEUR^JEAN^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
BIO_OBX = "810000000002^BIOLO^Anne^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
BIO_OBR = "810000000002&BIOLO&Anne&&&DR&&&ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"

# A full check-up: the 01_nfs.hl7 blood count plus the other mapped tests, 20 OBX in 9 orders.
# (battery, label, [(type, code, label, value, unit, range, flag)])
ORDERS: tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...] = (
    ("NFS", "Numération formule sanguine", (
        ("NM", "HB", "Hémoglobine", "13.5", "g/dL", "12.0-16.0", "N"),
        ("NM", "GR", "Hématies", "4.50", "T/L", "4.00-5.40", "N"),
        ("NM", "GB", "Leucocytes", "11.2", "G/L", "4.0-10.0", "H"),
        ("NM", "PLT", "Plaquettes", "140", "G/L", "150-400", "L"),
        ("NM", "HT", "Hématocrite", "41.0", "%", "37-47", "N"),
        ("NM", "VGM", "Volume globulaire moyen", "90", "fL", "80-100", ""),
    )),
    ("IONO", "Ionogramme sanguin", (
        ("NM", "NA", "Sodium", "141", "mmol/L", "136-145", ""),
        ("NM", "K", "Potassium", "4.4", "mmol/L", "3.5-5.1", ""),
        ("NM", "CL", "Chlore", "102", "mmol/L", "98-107", ""),
        ("NM", "CREA", "Créatinine", "75", "µmol/L", "45-90", ""),
    )),
    ("GLY", "Glycémie", (("NM", "GLY", "Glycémie à jeun", "0.92", "g/L", "0.70-1.10", ""),)),
    ("BILHEP", "Bilan hépatique", (
        ("NM", "ASAT", "ASAT", "28", "UI/L", "<35", ""),
        ("NM", "ALAT", "ALAT", "31", "UI/L", "<45", ""),
    )),
    ("HBA1C", "Hémoglobine glyquée", (("NM", "HBA1C", "Hémoglobine glyquée", "5.6", "%", "4.0-6.0", ""),)),
    ("TSH", "TSH", (("NM", "TSH", "TSH", "2.350", "mUI/L", "0.27-4.20", ""),)),
    ("CRP", "Protéine C réactive", (("NM", "CRP", "Protéine C réactive", "3", "mg/L", "<5", ""),)),
    ("HEMOS", "Hémostase", (
        ("NM", "TP", "Taux de prothrombine", "92", "%", "70-100", ""),
        ("NM", "INR", "INR", "1.05", "", "0.8-1.2", ""),
    )),
    ("SERTOXO", "Sérologie toxoplasmose", (
        ("NM", "TOXOG", "Toxoplasmose IgG", "32", "UI/mL", "<4", ""),
        ("CE", "TOXOGI", "Toxoplasmose IgG, interprétation", "POS^Positif^L", "", "NEG", "A"),
    )),
)
OBX_COUNT = sum(len(tests) for _, _, tests in ORDERS)


def _letters(n: int, width: int = 6) -> str:
    """A name-like string from a counter (AAAAAA, AAAAAB, …): distinct synthetic patients."""
    out = []
    for _ in range(width):
        n, r = divmod(n, 26)
        out.append(string.ascii_uppercase[r])
    return "".join(reversed(out))


def oru(i: int) -> bytes:
    """The i-th distinct 20-OBX ORU^R01: own MSH-10, order numbers, IPP, name and birth date."""
    ctrl = f"BENCH{i:08d}"
    birth = f"19{50 + i % 50:02d}{1 + i % 12:02d}{1 + i % 28:02d}"
    segs = [
        f"MSH|^~\\&|SIL|LABO|CONNECTEUR|LABO|20261120101500||ORU^R01^ORU_R01|{ctrl}|P|2.5|||||FRA|UNICODE UTF-8",
        (f"PID|1||IPP{i:08d}^^^LABO&1.2.250.1.999.1.1&ISO^PI||TEST{_letters(i)}^ALICE^ALICE^^^^L||{birth}|F|||"
         "12 RUE DES TESTS^^PARIS^^75001^FRA^H"),
    ]
    for n, (battery, label, tests) in enumerate(ORDERS, 1):
        segs.append(f"ORC|RE|CMD{ctrl}^SIL|DOS{ctrl}{battery}^LABO||CM||||20261119080000|||{PS}")
        segs.append(f"OBR|{n}|CMD{ctrl}^SIL|DOS{ctrl}{battery}^LABO|{battery}^{label}^L||20261119080000|"
                    f"202611190815|||||||202611190900||{PS}||||||202611191630|||F|||||||{BIO_OBR}")
        for k, (vt, code, name, value, unit, rng, flag) in enumerate(tests, 1):
            segs.append(f"OBX|{k}|{vt}|{code}^{name}^L||{value}|{unit}|{rng}|{flag}|||F|||202611191500||{BIO_OBX}")
    return ("\r".join(segs) + "\r").encode("utf-8")


# ------------------------------------------------------------------ SMTP sink in its own process


@dataclass(frozen=True)
class ServerInfo:
    host: str
    port: int
    cafile: str
    client_pem: str


class _CountingHandler:
    """DemoSmtpServer's checks (STARTTLS, client certificate, DSN advertised) without keeping messages."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_EHLO(self, smtp, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        return [*responses[:-1], "250-DSN", responses[-1]]

    async def handle_DATA(self, smtp, session, envelope):  # type: ignore[no-untyped-def]
        if session.ssl is None:
            return "530 5.7.0 Must issue a STARTTLS command first"
        if not smtp.transport.get_extra_info("peercert"):
            return "554 5.7.1 No client certificate presented"
        self.count += 1
        return f"250 2.0.0 Ok: queued as BENCH{self.count:06d}"


def _serve(conn, cpu: int | None) -> None:  # type: ignore[no-untyped-def]
    import logging
    import warnings

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    warnings.filterwarnings("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    from connector.demo.server import DemoSmtpServer

    server = DemoSmtpServer()
    server._controller.handler = _CountingHandler()  # the demo server, minus the in-memory mailbox
    with server:
        conn.send(ServerInfo(server.host, server.port, str(server.cafile), str(server.client_pem)))
        conn.recv()  # blocks until the bench says stop


class SmtpSinkProcess:
    """``with SmtpSinkProcess(cpu=1) as info:`` — DemoSmtpServer (STARTTLS, client cert) in a child process."""

    def __init__(self, cpu: int | None) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, cpu), daemon=True)
        self.cpu = cpu

    def __enter__(self) -> ServerInfo:
        self._proc.start()
        return self._conn.recv()

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._proc.join(10)


# ------------------------------------------------------------------ runtime


def bench_config(data_dir: Path, server: ServerInfo | None, *, schematron: bool = False,  # type: ignore[no-untyped-def]
                 workers: int = 1):
    """The demo config (test mode) with a private data dir, intake and metrics off, optional SMTP.

    ``workers``: 1 builds in this process (the one-core figures); more, on the worker processes (issue 16)."""
    from connector.config import (
        FolderConfig,
        IntakeConfig,
        MetricsConfig,
        SmtpConfig,
        TlsFiles,
        ValidationConfig,
        demo_config,
    )
    from tests.support.paths import ans_kit_or_none as default_kit_dir

    overrides: dict[str, object] = {
        "data_dir": str(data_dir),
        "intake": IntakeConfig(folder=FolderConfig(enabled=False, drop=str(data_dir / "drop"))),
        "metrics": MetricsConfig(enabled=False),
    }
    if server is not None:
        overrides["smtp"] = SmtpConfig(host=server.host, port=server.port, timeout=10,
                                       tls=TlsFiles(cafile=server.cafile, certfile=server.client_pem))
    kit = default_kit_dir()
    if kit is not None:  # the service's XSD check as before; the six schematrons too when asked
        overrides["validation"] = ValidationConfig(mode="full" if schematron else "xsd", ans_kit=str(kit),
                                                   workers=workers)
    else:
        overrides["validation"] = ValidationConfig(workers=workers)
    return demo_config(**overrides)


def open_bench_runtime(config):  # type: ignore[no-untyped-def]
    """open_runtime after importing the demo MSSanté directory, as the demo and the tests do."""
    from connector.send import import_directory
    from connector.service.runtime import open_runtime

    config.directory_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not config.directory_path.exists():
        import_directory(ROOT / "connector" / "demo" / "directory.txt", db_path=config.directory_path)
    return open_runtime(config, with_smtp=bool(config.smtp.tls.cafile))


def quiet_logs() -> None:
    """Production logging (JSON lines, INFO) into /dev/null: the formatting cost is counted, not the terminal."""
    from connector.logs import configure

    configure(stream=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


# ------------------------------------------------------------------ measurements


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


__all__ = [
    "OBX_COUNT", "ROOT", "ServerInfo", "SmtpSinkProcess", "bench_config", "open_bench_runtime", "oru",
    "peak_rss_mb", "percentile", "quiet_logs", "rss_mb",
]
