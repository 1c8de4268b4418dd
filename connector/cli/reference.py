"""Reference data the lab maintains: mapping files, the LOINC table, the MSSanté directory."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from connector.cli.common import EXIT_FAILED, EXIT_OK, config_for, config_option, emit, guard, json_option, progress


@click.group()
def mappings() -> None:
    """Mapping files (local codes → LOINC, units → UCUM, chapters)."""


@mappings.command("check")
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@config_option
@json_option
@guard
def mappings_check(directory: Path | None, config_path: Path | None, as_json: bool) -> int:
    """Lint the mapping files and run their sibling tests."""
    from connector.mapping import check_mappings

    config = config_for(config_path)
    findings = check_mappings(directory or config.mappings_path,
                              loinc_dir=config.loinc_path)
    errors = [f for f in findings if f.severity == "error"]

    def text() -> None:
        for f in findings:
            click.echo(f"{f.path}:{f.line}: {f.severity}: [{f.key}] {f.message}")
        click.echo(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)")

    emit(as_json, [dataclasses.asdict(f) for f in findings], text)
    return EXIT_FAILED if errors else EXIT_OK


@mappings.command("suggest")
@click.argument("query")
@click.option("--unit", default="", help="The unit the SIL sends (mmol/L, G/L, UI/L…): ranks codes of that kind first.")
@click.option("--specimen", default="", help="Where it is measured: sang, sérum, plasma, urine, LCR or an HL7 code.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@config_option
@json_option
@guard
def mappings_suggest(query: str, unit: str, specimen: str, limit: int, config_path: Path | None,
                     as_json: bool) -> int:
    """Ranked LOINC candidates for a local code or a French label."""
    from connector.mapping import suggest

    config = config_for(config_path)
    found = suggest(query, loinc_dir=config.loinc_path, limit=limit, unit=unit,
                    specimen=specimen)

    def text() -> None:
        for c in found:
            click.echo(f"{c.code:<10} {c.score:6.2f}  {c.display}")

    emit(as_json, [c.as_json() for c in found], text)
    return EXIT_OK if found else EXIT_FAILED


@mappings.command("draft")
@click.argument("catalogue", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The draft mapping file to write (YAML); an existing file is not overwritten.")
@config_option
@json_option
@guard
def mappings_draft(catalogue: Path, out: Path, config_path: Path | None, as_json: bool) -> int:
    """Draft a mapping file from the SIL's test catalogue (CSV: code, label, unit[, specimen])."""
    from connector.mapping import draft_mapping, render_yaml

    if out.exists():
        raise click.UsageError(f"{out} exists: choose another --out (a draft never replaces a file)")
    config = config_for(config_path)
    lines = draft_mapping(catalogue, loinc_dir=config.loinc_path)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never replaces a file; 0600 like our outputs
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(render_yaml(lines, source=catalogue.name))
    review = sum(line.needs_review for line in lines)

    def text() -> None:
        for line in lines:
            mark = "REVIEW" if line.needs_review else "ok"
            click.echo(f"{line.code:<12} {line.loinc or '-':<10} {line.score:5.2f}  {mark:<6} {line.display}")
        click.echo(f"{len(lines)} tests written to {out}, {review} to review; then: connector mappings check")

    emit(as_json, [line.as_json() for line in lines], text)
    return EXIT_OK if lines else EXIT_FAILED


@mappings.command("unmapped")
@click.option("--all", "include_mapped", is_flag=True, help="Also list what the current mapping files now cover.")
@config_option
@json_option
@guard
def mappings_unmapped(include_mapped: bool, config_path: Path | None, as_json: bool) -> int:
    """Local codes and units seen in traffic without a mapping: what to map next (no patient data)."""
    from connector.ops.unmapped import unmapped_lines

    lines = unmapped_lines(config_for(config_path, reads_store=True), include_mapped=include_mapped)

    def text() -> None:
        if not lines:
            click.echo("nothing unmapped seen in traffic")
            return
        click.echo(f"{'kind':<10} {'code':<12} {'unit':<10} {'reports':>7}  {'first seen':<20} {'last seen':<20} label")
        for line in lines:
            gap, row = line.row.gap, line.row
            mark = " (mapped now)" if line.mapped_now else ""
            click.echo(f"{gap.kind.value:<10} {gap.code:<12} {gap.unit or '-':<10} {row.reports:>7}  "
                       f"{row.first_seen[:19]:<20} {row.last_seen[:19]:<20} {gap.label}{mark}")
        click.echo("map them in mappings/ (`connector mappings suggest LABEL --unit UNIT`), then "
                   "`connector mappings check`; held reports: `connector retry --failed`")

    emit(as_json, [line.as_json() for line in lines], text)
    return EXIT_OK


@click.group()
def loinc() -> None:
    """The LOINC table the lab imported."""


@loinc.command("import")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@json_option
@guard
def loinc_import(csv_path: Path, config_path: Path | None, as_json: bool) -> int:
    """Import the official LOINC CSV (Loinc.csv) or the ANS French labels."""
    from connector.mapping import import_loinc

    config = config_for(config_path)
    count = import_loinc(csv_path, loinc_dir=config.loinc_path)
    emit(as_json, {"imported": count}, lambda: click.echo(f"{count} LOINC rows imported"))
    return EXIT_OK


@click.group()
def directory() -> None:
    """The national MSSanté directory extract."""


@directory.command("import")
@click.argument("extract", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@json_option
@guard
def directory_import(extract: Path, config_path: Path | None, as_json: bool) -> int:
    """Load Extraction_Correspondance_MSSante; replaces the previous import atomically."""
    from connector.send import import_directory

    config = config_for(config_path)
    total = extract.stat().st_size
    with progress(total, "importing") as bar:
        count = import_directory(extract, db_path=config.directory_path,
                                 progress=lambda done: bar.update(done - bar.pos))
    emit(as_json, {"imported": count, "database": str(config.directory_path)},
          lambda: click.echo(f"{count} mailboxes imported into {config.directory_path}"))
    return EXIT_OK


@directory.command("lookup")
@click.argument("idnps")
@config_option
@json_option
@guard
def directory_lookup(idnps: str, config_path: Path | None, as_json: bool) -> int:
    """MSSanté mailboxes for a national id (8+RPPS or 0+ADELI)."""
    from connector.send import Directory

    config = config_for(config_path)
    entries = Directory(config.directory_path).lookup(idnps)
    def text() -> None:
        for e in entries:
            click.echo(f"{e.address}  {e.display_name}")

    emit(as_json, [dataclasses.asdict(e) for e in entries], text)
    return EXIT_OK if entries else EXIT_FAILED
