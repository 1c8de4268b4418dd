"""Run the connector: `demo` on bundled samples, `run` the service."""

from __future__ import annotations

from pathlib import Path

import click

from connector.cli.common import EXIT_FAILED, EXIT_OK, config_for, config_option, emit, guard, json_option


@click.command()
@json_option
@guard
def demo(as_json: bool) -> int:
    """Run the whole path on bundled samples against an in-process TLS SMTP server."""
    from connector.demo.run import installed_kit, run_demo
    from connector.logs import configure

    configure(level="warning")  # the table is the output; warnings (quarantine reasons) as JSON on stderr
    kit = installed_kit()
    if kit.is_dir():
        click.echo(f"validating with the ANS kit {kit}: compiling the six schematrons (a minute or so)…", err=True)
    rows = run_demo()
    ok = all(r["state"] in ("sent", "delivered", "read") for r in rows)

    def text() -> None:
        click.echo(f"{'report':<22} {'state':<11} recipients")
        for r in rows:
            click.echo(f"{r['report_id']:<22} {r['state']:<11} {', '.join(r['recipients']) or '-'}")
        click.echo(f"{len(rows)} report(s); " + ("all sent" if ok else "some not sent: see `state`"))

    emit(as_json, rows, text)
    if not kit.is_dir():  # said once, after the table: a demo without the kit is normal, not a failure
        click.echo(f"note: validation ran reduced (no ANS kit installed in {kit}): the documents were not checked "
                   "against the official XSD and schematrons; `connector kit install ZIP-or-DIR` adds them", err=True)
    return EXIT_OK if ok else EXIT_FAILED


@click.command()
@config_option
@guard
def run(config_path: Path | None) -> int:
    """Run the service: intake, pipeline, acknowledgements, metrics. Stops cleanly on SIGTERM."""
    from connector.service import serve

    if config_path is None:
        raise click.UsageError("--config FILE (or $CONNECTOR_CONFIG) is required for `run`")
    return serve(config_for(config_path), config_path=config_path)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@json_option
@guard
def init(folder: Path, as_json: bool) -> int:
    """Create a new lab's FOLDER: a commented configuration (test mode), the default mappings, its folders."""
    from connector.ops.init import init_site

    result = init_site(folder)

    def text() -> None:
        click.echo(f"configuration: {result.config}")
        click.echo(f"mappings:      {result.mappings}  (adapt them to the SIL's test codes)")
        click.echo(f"next: connector mappings check --config {result.config}")

    emit(as_json, {"config": str(result.config), "mappings": str(result.mappings),
                   "folders": [str(f) for f in result.folders]}, text)
    return EXIT_OK
