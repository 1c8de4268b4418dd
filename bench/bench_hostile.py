"""Issue 13 costs, each beside a baseline measured in the same run:

    python bench/bench_hostile.py [--sizes 100000,200000,400000,800000] [--old-max 100000] [--files 5000]

1. Building a report whose comment is ONE unbroken word of N characters (parse → map → PDF → CDA + XSD →
   XDM → e-mail, ``compose_artifacts`` as ``connector build`` runs it), beside the same report with the same N
   characters as ordinary words (the baseline: what the same amount of text costs when nothing is hostile),
   and beside the old quadratic line wrapping (the layout before issue 13, copied here) up to --old-max.
2. The per-value limits' check (``check_structure`` + ``check_values``) on an ordinary 20-result message,
   beside parsing that message (the baseline it is added to).
3. The drop folder with claims (a rename into archive/.claim per file) on N waiting files, beside a bare
   scandir + read + rename loop over N other files (as bench_intake.py does).

Results are printed; nothing is asserted. The issue's bar: 400,000 unbroken characters built in < 5 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.cda import XsdValidator
from connector.config import demo_config
from connector.config.settings import pipeline_settings
from connector.intake import DropFolder, Receipt
from connector.mapping import Mappings
from connector.ops.offline import offline_identity
from connector.parse import parse_message, split_messages
from connector.pdf import layout
from connector.pipeline import compose_artifacts
from connector.pipeline.bounds import check_structure, check_values
from connector.send import Directory, import_directory, recipients_for
from tests.support.hostile import NFS, with_comment
from tests.support.paths import cda_xsd_or_none as default_xsd_path
from tests.support.settings import folder_settings


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


_SCRATCH = Path(tempfile.mkdtemp(prefix="bench-hostile-dir-"))
import_directory(ROOT / "connector" / "demo" / "directory.txt", db_path=_SCRATCH / "directory.sqlite")
DIRECTORY = Directory(_SCRATCH / "directory.sqlite")


def build_once(message: bytes) -> Callable[[], object]:
    config = demo_config()
    settings = pipeline_settings(config)
    mappings = Mappings.load(config.mappings_path, loinc_dir=config.loinc_path)
    xsd_path = default_xsd_path()
    xsd = XsdValidator(xsd_path) if xsd_path else None

    def run() -> object:
        one = split_messages(message)[0]
        report = parse_message(one, settings=settings.parse)[0]
        ids = offline_identity(report, message=one, oid_root=settings.lab.oid_root, zone=settings.lab.timezone)
        recipients = recipients_for(report, DIRECTORY, settings.routing)
        return compose_artifacts(report, mappings=mappings, mapping_settings=settings.mapping, lab=settings.lab,
                                 ids=ids, recipients=recipients, message_settings=settings.message, xsd=xsd)

    return run


def old_wrap(self: layout.Canvas, text: str, width: float, style: layout.Style) -> list[str]:
    """The wrapping before issue 13: the rest of a long word re-measured after every cut line."""
    font = self.fonts[style.bold].font
    limit = width * 1000.0 / style.size
    space = font.units(" ")
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        paragraph = layout.normalize_text(raw)
        if font.units(paragraph) <= limit:
            lines.append(paragraph)
            continue
        current: list[str] = []
        used = 0.0
        for word in paragraph.split(" "):
            needed = font.units(word)
            if current and used + space + needed <= limit:
                current.append(word)
                used += space + needed
                continue
            if current:
                lines.append(" ".join(current))
            while needed > limit and len(word) > 1:
                cut, width_so_far = 0, 0.0
                while cut < len(word):
                    width_so_far += font.units(word[cut])
                    if width_so_far > limit and cut:
                        break
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
                needed = font.units(word)
            current, used = [word], needed
        lines.append(" ".join(current))
    return lines


def unbroken(size: int) -> bytes:
    return with_comment(NFS.read_bytes(), "x" * size)


def words(size: int) -> bytes:
    return with_comment(NFS.read_bytes(), ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size])


def bench_builds(sizes: list[int], old_max: int) -> None:
    print("1. build of a report with a comment of N characters (best of 3; s)")
    print(f"{'N':>9} {'unbroken':>10} {'words (baseline)':>17} {'old wrap, unbroken':>19}")
    build_once(NFS.read_bytes())()  # fonts, schema, mappings: loaded once, not measured
    for size in sizes:
        new = best(build_once(unbroken(size)), 3)
        base = best(build_once(words(size)), 3)
        old = "-"
        if size <= old_max:
            current = layout.Canvas.wrap
            layout.Canvas.wrap = old_wrap  # type: ignore[method-assign]
            try:
                old = f"{best(build_once(unbroken(size)), 1):.2f}"
            finally:
                layout.Canvas.wrap = current  # type: ignore[method-assign]
        print(f"{size:>9} {new:>10.2f} {base:>17.2f} {old:>19}")


def bench_bounds(runs: int = 2000) -> None:
    config = demo_config()
    settings = pipeline_settings(config)
    message = split_messages(NFS.read_bytes())[0]
    report = parse_message(message, settings=settings.parse)[0]
    parse = best(lambda: [parse_message(message, settings=settings.parse) for _ in range(runs)], 3) / runs
    check = best(lambda: [(check_structure(message, source="x", index=0), check_values(report, source="x"))
                          for _ in range(runs)], 3) / runs
    print(f"\n2. per-value limits on an ordinary message: {check * 1e6:.1f} µs beside parsing it: "
          f"{parse * 1e6:.1f} µs (+{check / parse:.1%})")


class NoopSink:
    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        return Receipt(1)

    def remember_ack(self, input_id: int, ack: bytes) -> None:
        pass


def bench_folder(files: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        base = Path(tmp)
        settings = folder_settings(drop=base / "drop", archive=base / "archive", quarantine=base / "quarantine",
                                   stable_seconds=0)
        folder = DropFolder(settings, NoopSink())
        bare_drop, bare_archive = base / "bare-drop", base / "bare-archive"
        bare_drop.mkdir()
        bare_archive.mkdir()
        data = NFS.read_bytes()
        old = time.time() - 3600
        for i in range(files):
            for target in (settings.drop / f"m{i:06d}.hl7", bare_drop / f"m{i:06d}.hl7"):
                target.write_bytes(data)
                os.utime(target, (old, old))
        started = time.perf_counter()
        folder.scan_once()
        ours = time.perf_counter() - started
        started = time.perf_counter()
        with os.scandir(bare_drop) as entries:
            for entry in entries:
                Path(entry.path).read_bytes()
                os.rename(entry.path, bare_archive / entry.name)
        bare = time.perf_counter() - started
    print(f"\n3. drop folder, {files} files waiting: {files / ours:,.0f} files/s with claims "
          f"(bare scandir + read + rename: {files / bare:,.0f} files/s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,200000,400000,800000")
    parser.add_argument("--old-max", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    bench_builds([int(s) for s in args.sizes.split(",")], args.old_max)
    bench_bounds()
    bench_folder(args.files)


if __name__ == "__main__":
    main()
