"""Intake benchmark: startup scan of many waiting files, and MLLP round trips.

    python bench/bench_intake.py [--files 100000] [--messages 2000]

Drop folder: N small files waiting at start (old mtimes), one ``DropFolder.scan_once``
with a no-op sink; baseline in the same run = a bare loop (scandir, read, rename into
archive, no fsync, no checks) over another N files on the same filesystem.
MLLP: M messages over one connection to ``MllpServer`` with a no-op sink; baseline =
the same frames to a bare asyncio server that answers a fixed ACK.
Results are printed (files/s, ms/file, messages/s); nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from connector.intake import (
    DropFolder,
    MllpServer,
    Receipt,
)
from connector.intake.framing import frame
from tests.support.settings import folder_settings, mllp_settings

MESSAGE = b"MSH|^~\\&|SIL|LAB|PFI|ORG|20260101||ORU^R01^ORU_R01|%d|P|2.5\rPID|||1^^^X^PI||SYNTH^ONE\rOBR|1\r"


class NullSink:
    def __init__(self) -> None:
        self.count = 0

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        self.count += 1
        return Receipt(self.count)

    def remember_ack(self, input_id: int, ack: bytes) -> None:
        pass


def _fill(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    old = time.time() - 3600
    for i in range(n):
        path = folder / f"m{i:07d}.hl7"
        path.write_bytes(MESSAGE % i)
        os.utime(path, (old + i % 1000, old + i % 1000))


def bench_folder(root: Path, n: int) -> None:
    base_drop, base_archive = root / "base-drop", root / "base-archive"
    _fill(base_drop, n)
    base_archive.mkdir()
    t0 = time.perf_counter()
    with os.scandir(base_drop) as entries:
        for entry in entries:
            Path(entry.path).read_bytes()
            os.rename(entry.path, base_archive / entry.name)
    baseline = time.perf_counter() - t0

    settings = folder_settings(drop=root / "drop", archive=root / "archive", quarantine=root / "q")
    _fill(settings.drop, n)
    sink = NullSink()
    folder = DropFolder(settings, sink)
    t0 = time.perf_counter()
    handled = folder.scan_once()
    ours = time.perf_counter() - t0
    assert handled == n == sink.count, (handled, n, sink.count)
    print(f"drop folder, {n} waiting files")
    print(f"  baseline (scandir+read+rename) {n / baseline:10.0f} files/s  {baseline / n * 1000:.3f} ms/file")
    print(f"  DropFolder.scan_once           {n / ours:10.0f} files/s  {ours / n * 1000:.3f} ms/file")


async def bench_mllp(m: int) -> None:
    fixed_ack = frame(b"MSH|^~\\&|PFI|ORG|SIL|LAB|20260101||ACK^R01^ACK|1|P|2.5\rMSA|AA|1")

    async def bare(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\x1c\x0d")
            except asyncio.IncompleteReadError:
                break
            writer.write(fixed_ack)
            await writer.drain()
        writer.close()

    async def round_trips(port: int) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        t0 = time.perf_counter()
        for i in range(m):
            writer.write(frame(MESSAGE % i))
            await writer.drain()
            await reader.readuntil(b"\x1c\x0d")
        elapsed = time.perf_counter() - t0
        writer.close()
        return elapsed

    srv = await asyncio.start_server(bare, "127.0.0.1", 0)
    baseline = await round_trips(srv.sockets[0].getsockname()[1])
    srv.close()
    server = MllpServer(mllp_settings(port=0), NullSink(), ack_app="PFI", ack_facility="ORG")
    await server.start()
    ours = await round_trips(server.port)
    await server.stop()
    print(f"MLLP, {m} messages on one connection (no-op sink)")
    print(f"  baseline (fixed ACK server)    {m / baseline:10.0f} msg/s    {baseline / m * 1000:.3f} ms/msg")
    print(f"  MllpServer (hl7apy ACK)        {m / ours:10.0f} msg/s    {ours / m * 1000:.3f} ms/msg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        bench_folder(Path(tmp), args.files)
    asyncio.run(bench_mllp(args.messages))


if __name__ == "__main__":
    main()
