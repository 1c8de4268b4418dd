"""Reference data the lab maintains: mapping files, the LOINC table, the MSSanté directory."""

from __future__ import annotations

import dataclasses
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
    findings = check_mappings(directory or config.path(config.mappings.dir),
                              loinc_dir=config.path(config.mappings.loinc_dir))
    errors = [f for f in findings if f.severity == "error"]

    def text() -> None:
        for f in findings:
            click.echo(f"{f.path}:{f.line}: {f.severity}: [{f.key}] {f.message}")
        click.echo(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)")

    emit(as_json, [dataclasses.asdict(f) for f in findings], text)
    return EXIT_FAILED if errors else EXIT_OK


@mappings.command("suggest")
@click.argument("query")
@click.option("--limit", default=10, show_default=True)
@config_option
@json_option
@guard
def mappings_suggest(query: str, limit: int, config_path: Path | None, as_json: bool) -> int:
    """Ranked LOINC candidates for a local code or label."""
    from connector.mapping import suggest

    config = config_for(config_path)
    found = suggest(query, loinc_dir=config.path(config.mappings.loinc_dir), limit=limit)

    def text() -> None:
        for c in found:
            click.echo(f"{c.code:<10} {c.score:6.2f}  {c.display}")

    emit(as_json, [dataclasses.asdict(c) for c in found], text)
    return EXIT_OK if found else EXIT_FAILED


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
    count = import_loinc(csv_path, loinc_dir=config.path(config.mappings.loinc_dir))
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
