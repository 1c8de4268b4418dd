"""Documents without sending: `build` them offline, `validate` CDA, `preview` the PDF."""

from __future__ import annotations

from pathlib import Path

import click

from connector.cli.common import EXIT_FAILED, EXIT_OK, config_for, config_option, emit, guard, json_option, progress


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--dmp", is_flag=True, help="Also write dmp-request.mime (the DMP TD2.1) for each qualified INS.")
@click.option("--ans-kit", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The ANS kit (installed or testContenuCDA): every document passes the XSD and the six CR-BIO "
                   "schematrons first; a failing one is not written. Without it: the configured kit's XSD.")
@config_option
@json_option
@guard
def build(inputs: tuple[Path, ...], out_dir: Path, dmp: bool, ans_kit: Path | None, config_path: Path | None,
          as_json: bool) -> int:
    """Build CDA, PDF, XDM zip and e-mail for every report in INPUTS, offline (sends nothing).

    Exit 0 when every report's four files were written (recipients who cannot be reached are warnings:
    no directory is needed); 1 when a message or report was refused (each named with its file, segment
    and field).
    """
    from connector.ops.offline import build_files

    if ans_kit is not None:
        click.echo("compiling the six schematrons on every core (a minute or so)…", err=True)
    with progress(len(inputs), "building") as bar:
        results = build_files(list(inputs), out_dir, config_for(config_path), progress=bar.update, dmp=dmp,
                              ans_kit=ans_kit)
    for failure in results.failures:
        click.echo(failure, err=True)
    for note in results.notes:
        click.echo(f"note: {note}", err=True)
    for warning in results.warnings:
        click.echo(f"warning: {warning}", err=True)

    def text() -> None:
        for report_id, folder in results.built:
            click.echo(f"{report_id}  {folder}")

    emit(as_json, {"built": [{"report_id": r, "folder": str(f)} for r, f in results.built],
                    "failures": results.failures, "notes": results.notes, "warnings": results.warnings}, text)
    return EXIT_FAILED if results.failures else EXIT_OK


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ans-kit", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The ANS testContenuCDA kit: adds the six schematrons to the XSD check.")
@click.option("--official", is_flag=True,
              help="Run the schematrons exactly as the ANS compiled them, one file at a time (slow).")
@config_option
@json_option
@guard
def validate(files: tuple[Path, ...], ans_kit: Path | None, official: bool, config_path: Path | None,
             as_json: bool) -> int:
    """Validate CDA documents: XSD (the configured or installed kit's), plus the ANS schematrons with --ans-kit."""
    from connector.validation import validate_files

    kit = ans_kit or config_for(config_path).ans_kit_path
    reports = validate_files(list(files), kit_dir=kit, xsd_only=ans_kit is None, official=official)
    bad = [r for r in reports if not r.ok]

    def text() -> None:
        for r in reports:
            click.echo(f"{r.path}: {'ok' if r.ok else 'FAILED'}")
            for problem in r.problems:
                click.echo(f"  {problem}")

    emit(as_json, [{"path": str(r.path), "ok": r.ok, "problems": list(r.problems)} for r in reports], text)
    return EXIT_FAILED if bad else EXIT_OK


@click.command()
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the preview (default: a new private folder under the system's temp dir).")
@config_option
@guard
def preview(input_file: Path, out_dir: Path | None, config_path: Path | None) -> int:
    """Render the PDF the prescriber will receive, before anything is sent."""
    import tempfile

    from connector.ops.offline import build_files

    # Never a folder in the working directory: a preview holds patient data and would end up in a checkout.
    out = out_dir or Path(tempfile.mkdtemp(prefix="connector-preview-"))
    results = build_files([input_file], out, config_for(config_path), parallel=False)
    for failure in results.failures:
        click.echo(failure, err=True)
    for _, folder in results.built:
        click.echo(str(folder / "report.pdf"))
    return EXIT_FAILED if results.failures else EXIT_OK
