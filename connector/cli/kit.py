"""``connector kit install ZIP-or-DIR`` and ``connector kit check``: the ANS kit the gate runs.

The kit is installed into ``<data_dir>/ans-kit`` (the configuration's ``data_dir``); ``check``
looks at ``--kit DIR`` if given, else the configured ``validation.ans_kit``, else the installed one.
"""

from __future__ import annotations

from pathlib import Path

import click

from connector.cli.common import EXIT_OK, config_for, config_option, emit, guard, json_option


@click.group()
def kit() -> None:
    """Install and check the ANS validation kit (XSD + the six CR-BIO schematrons)."""


@kit.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@config_option
@json_option
@guard
def install(source: Path, config_path: Path | None, as_json: bool) -> int:
    """Copy the kit from SOURCE (the ANS testContenuCDA folder or zip) into the data directory."""
    from connector.validation import install_kit

    config = config_for(config_path)
    click.echo("compiling the six schematrons (a minute or so)…", err=True)
    report = install_kit(source, config.path(config.data_dir))

    def text() -> None:
        click.echo(f"installed {report.files} files into {report.root}")
        click.echo(f"digest {report.digest}")
        click.echo("restart the service to validate with this kit")

    emit(as_json, {"path": str(report.root), "digest": report.digest, "files": report.files,
                   "installed_at": report.installed_at}, text)
    return EXIT_OK


@kit.command()
@click.option("--kit", "kit_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The kit to check. Default: validation.ans_kit, else <data_dir>/ans-kit.")
@click.option("--quick", is_flag=True, help="Files and digest only, without compiling the schematrons.")
@config_option
@json_option
@guard
def check(kit_dir: Path | None, quick: bool, config_path: Path | None, as_json: bool) -> int:
    """Check the kit: complete, unchanged since installed, and (unless --quick) compiling."""
    from connector.validation import INSTALL_DIR, check_kit

    config = config_for(config_path)
    if kit_dir is None:
        configured = config.validation.ans_kit
        kit_dir = config.path(configured) if configured else config.path(config.data_dir) / INSTALL_DIR
    report = check_kit(kit_dir, compile=not quick)

    def text() -> None:
        click.echo(f"{report.root}: ok ({report.files} files{', compiled' if not quick else ''})")
        click.echo(f"digest {report.digest}")

    emit(as_json, {"path": str(report.root), "digest": report.digest, "files": report.files,
                   "compiled": not quick, "installed_at": report.installed_at}, text)
    return EXIT_OK
