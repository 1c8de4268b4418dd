"""Build ``loinc/subset.csv`` and ``loinc/SOURCES.md`` from the public reference files.

    python loinc/build_subset.py [--ref ../shared/ref] [--check]

Rows: every code of Regenstrief's "Top 2000+ lab observations" v1.6 lists (SI and US
editions), every LOINC code the ANS CR-BIO examples use, and the CR-BIO chapter codes.
LOINC fields are copied as the source gives them, never edited (LOINC licence,
terminology.md §1): the Top 2000 lists carry LOINC_NUM, LONG_COMMON_NAME, SHORTNAME and
CLASS only, so COMPONENT…STATUS stay empty until a lab imports the full table. When a
code has several source rows, the SI edition wins over the US one and the better rank
wins within an edition; the row used is named in ``SOURCE``.

``DISPLAY_FR`` is a French display published by ANS for that code (newest CR-BIO examples
first, then the CI-SIS value sets), with its origin in ``DISPLAY_FR_SOURCE``; it is never
a translation of ours. ``--check`` exits 1 when the shipped files differ from a rebuild.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout: the connector's safe XML parser

from lxml import etree  # noqa: E402

from connector.xmlsafe import parse_xml  # noqa: E402

LOINC_OID = "2.16.840.1.113883.6.1"

LOINC_FIELDS = ("LOINC_NUM", "COMPONENT", "PROPERTY", "TIME_ASPCT", "SYSTEM", "SCALE_TYP", "METHOD_TYP",
                "CLASS", "STATUS", "SHORTNAME", "LONG_COMMON_NAME")
OUR_FIELDS = ("DISPLAY_FR", "DISPLAY_FR_SOURCE", "RANK_SI", "RANK_US", "SOURCE")
COLUMNS = LOINC_FIELDS + OUR_FIELDS

TOP2000 = {
    "SI": "terminology/loinc_top2000_lab_results_SI_v1.6.csv",
    "US": "terminology/loinc_top2000_lab_results_US_v1.6.csv",
}
EXAMPLES = "cda/testcontenucda/ExemplesCDA"
CHAPTERS = "terminology/cisis_jdv/JDV_BIO_Chapitres-CISIS_2023-06-13_HISTORIC.csv"
# CI-SIS value sets listing lab observations with their French display (the others hold no lab codes).
VALUE_SETS = tuple(f"cda/testcontenucda/jeuxDeValeurs/JDV_Examen{kind}{scope}_CISIS.xml"
                   for kind in ("Biochimie", "Hematologie", "Hemostase") for scope in ("AUVN", "EUVN"))

# Where each input comes from (copied from the SOURCES.md files of ../shared/ref).
ORIGINS = {
    "terminology": "Regenstrief \"Mapper's Guide to Top 2000+ Lab Observations\" v1.6 (2017), "
                   "copied from github OHDSI/StudyProtocolSandbox themis/extras at commit 334a8a3b",
    "cda": "ANS testContenuCDA kit, github ansforge/interop-outil-cda-testcontenucda3.0-outil-validation-"
           "documents-cda at commit 61e148b6 (2025-03-06)",
    "cisis_jdv": "ANS CI-SIS value set JDV_BIO_Chapitres-CISIS (historic, end-dated 2021-06-28), "
                 "github ansforge/TestContenuCDA-3-0 at commit 1b3d56a8",
}


@dataclass
class Row:
    code: str
    fields: dict[str, str] = field(default_factory=dict)
    ranks: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    french: list[tuple[int, str, str]] = field(default_factory=list)  # (priority, display, origin)
    uses: set[str] = field(default_factory=set)  # CDA elements the ANS examples name with this code

    def as_csv(self) -> dict[str, str]:
        out = dict.fromkeys(COLUMNS, "")
        out.update(self.fields)
        out["LOINC_NUM"] = self.code
        if self.french:
            display, origin = _pick_french(self.french)
            out["DISPLAY_FR"], out["DISPLAY_FR_SOURCE"] = display, origin
        out["RANK_SI"], out["RANK_US"] = self.ranks.get("SI", ""), self.ranks.get("US", "")
        sources = list(self.sources)
        if self.uses:  # "observation": a result code; "section", "ClinicalDocument"…: not a test
            sources.append(f"ANS CR-BIO examples ({', '.join(sorted(self.uses))})")
        out["SOURCE"] = "; ".join(dict.fromkeys(sources))
        return out


def _pick_french(found: list[tuple[int, str, str]]) -> tuple[str, str]:
    """Best priority, then the display seen most often (typos in one example lose), then the first by name."""
    best = min(p for p, _, _ in found)
    candidates = [(d, o) for p, d, o in found if p == best]
    counts = Counter(d for d, _ in candidates)
    display = sorted(counts, key=lambda d: (-counts[d], d))[0]
    origins = sorted({o for d, o in candidates if d == display})
    return display, origins[0]


def _rank(text: str) -> int:
    return int(text) if text.strip().isdigit() else 10**6


def read_top2000(ref: Path, rows: dict[str, Row]) -> None:
    for edition, relative in TOP2000.items():
        with (ref / relative).open(encoding="utf-8", newline="") as handle:
            for line, record in enumerate(csv.DictReader(handle), start=2):
                code = record["LOINC #"].strip()
                row = rows.setdefault(code, Row(code))
                rank = record["Rank"].strip()
                if edition not in row.ranks or _rank(rank) < _rank(row.ranks[edition]):
                    row.ranks[edition] = rank
                if not row.fields or (row.fields["_edition"] == edition and _rank(rank) < _rank(row.fields["_rank"])):
                    row.fields = {"LONG_COMMON_NAME": record["Long Common Name"], "SHORTNAME": record["Short Name"],
                                  "CLASS": record["CLASS"], "_edition": edition, "_rank": rank,
                                  "_source": f"top2000-{edition}-v1.6 line {line}"}
    for row in rows.values():
        if row.fields:
            row.sources.append(row.fields["_source"])
            row.fields = {k: v for k, v in row.fields.items() if not k.startswith("_")}


def _loinc_elements(path: Path) -> Iterator[tuple[str, str, str]]:
    """(code, displayName, use) where use is the CDA element the code names (observation, section…)."""
    root = parse_xml(path.read_bytes(), source=path.name)
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("codeSystem") == LOINC_OID and element.get("code"):
            parent = element.getparent()
            use = etree.QName(parent).localname if parent is not None and element.tag.endswith("}code") else "value"
            yield element.get("code", "").strip(), " ".join((element.get("displayName") or "").split()), use


def read_examples(ref: Path, rows: dict[str, Row]) -> None:
    for path in sorted((ref / EXAMPLES).glob("*.xml")):
        newest_first = 0 if "_2024." in path.name else 1 if "_2023." in path.name else 2
        for code, display, use in _loinc_elements(path):
            row = rows.setdefault(code, Row(code))
            row.uses.add(use)
            if display:
                row.french.append((newest_first, display, f"ANS example {path.name}"))


def read_value_sets(ref: Path, rows: dict[str, Row]) -> None:
    """French displays only: for codes already in the subset."""
    for relative in VALUE_SETS:
        path = ref / relative
        if not path.is_file():
            continue
        for code, display, _use in _loinc_elements(path):
            if code in rows and display:
                rows[code].french.append((3, display, f"ANS value set {path.name}"))


def read_chapters(ref: Path, rows: dict[str, Row]) -> None:
    with (ref / CHAPTERS).open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            code = record["code"].strip()
            if record["code_system_oid"] != LOINC_OID or not code:
                continue  # the national waiting codes are not LOINC
            row = rows.setdefault(code, Row(code))
            row.sources.append("CI-SIS chapter value set (chapter)")
            # Historic labels are outdated for some chapters: the examples' labels (priority 0-2) win.
            row.french.append((4, record["display_fr"].strip(), "ANS value set JDV_BIO_Chapitres-CISIS (historic)"))


def _code_key(code: str) -> tuple[int, int]:
    body, _, digit = code.partition("-")
    return (int(body) if body.isdigit() else 10**9, int(digit) if digit.isdigit() else 0)


def build(ref: Path) -> tuple[str, str]:
    """(subset.csv, SOURCES.md) as text."""
    rows: dict[str, Row] = {}
    read_top2000(ref, rows)
    read_examples(ref, rows)
    read_chapters(ref, rows)
    read_value_sets(ref, rows)
    ordered = sorted(rows.values(), key=lambda r: _code_key(r.code))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in ordered:
        writer.writerow(row.as_csv())
    return out.getvalue(), sources_text(ref, ordered)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inputs(ref: Path) -> Iterable[tuple[str, list[Path]]]:
    """(label, files) per input: one digest per group of files."""
    for relative in TOP2000.values():
        yield f"`{relative}`", [ref / relative]
    examples = sorted((ref / EXAMPLES).glob("*.xml"))
    yield f"`{EXAMPLES}/*.xml` ({len(examples)} files)", examples
    yield f"`{CHAPTERS}`", [ref / CHAPTERS]
    sets = [ref / p for p in VALUE_SETS if (ref / p).is_file()]
    yield f"`cda/testcontenucda/jeuxDeValeurs/JDV_Examen*_CISIS.xml` ({len(sets)} files)", sets


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + _sha256(path).encode() + b"\0")
    return digest.hexdigest()[:16] if len(paths) > 1 else _sha256(paths[0])[:16]


def sources_text(ref: Path, rows: list[Row]) -> str:
    with_french = sum(1 for r in rows if r.french)
    top = sum(1 for r in rows if r.ranks)
    lines = [
        "# Sources of `subset.csv` (generated by `build_subset.py`: do not edit)",
        "",
        "LOINC version: not pinned. The rows come from the Regenstrief \"Top 2000+ lab observations\"",
        "lists v1.6 (LOINC 2.5x era), the ANS CR-BIO examples and the CR-BIO chapter value set.",
        "Import the current LOINC release (`connector loinc import Loinc.csv`) to check codes and",
        "statuses against it.",
        "",
        f"Rows: {len(rows)} ({top} from the Top 2000+ lists, {len(rows) - top} from ANS material only); "
        f"French display for {with_french}.",
        "",
        "| input (under ../shared/ref) | sha256 (of the file, or of the names and digests of the files) | origin |",
        "|---|---|---|",
    ]
    for label, paths in _inputs(ref):
        origin = ORIGINS["cisis_jdv" if "cisis_jdv" in label else label.strip("`").split("/")[0]]
        lines.append(f"| {label} | `{_digest(paths)}` | {origin} |")
    lines += [
        "",
        "Columns: the LOINC fields `" + ", ".join(LOINC_FIELDS) + "`",
        "as the source gives them (empty where it gives none); then ours: `DISPLAY_FR` (a French display",
        "published by ANS, never a translation of ours) and `DISPLAY_FR_SOURCE`, `RANK_SI` / `RANK_US`",
        "(rank in each Top 2000+ edition), `SOURCE` (the rows used, and how the ANS examples use the code).",
        "",
    ]
    return "\n".join(lines)


def default_ref() -> Path:
    override = os.environ.get("CONNECTOR_SHARED_REF")
    return Path(override) if override else HERE.parent / ".." / "shared" / "ref"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--ref", type=Path, default=default_ref(), help="the shared reference folder")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write subset.csv and SOURCES.md")
    parser.add_argument("--check", action="store_true", help="compare with the files in --out, write nothing")
    args = parser.parse_args(argv)
    if not (args.ref / TOP2000["SI"]).is_file():
        print(f"reference files not found under {args.ref} (use --ref or CONNECTOR_SHARED_REF)", file=sys.stderr)
        return 2
    subset, sources = build(args.ref)
    targets = {args.out / "subset.csv": subset, args.out / "SOURCES.md": sources}
    if args.check:
        stale = [p.name for p, text in targets.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{name} differs from a rebuild: run python loinc/build_subset.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in targets.items():
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(subset.splitlines()) - 1} rows to {args.out / 'subset.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
