"""The `connector` command.

Exit codes (every command): 0 done; 1 some inputs, documents or reports failed (each
named on stderr); 2 usage or configuration error; 3 the service stopped on an error.
Every command that reports takes ``--json``. No traceback reaches the user: errors
of the exception tree print their message; anything else prints its class name and
the log has the event.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from connector.errors import ConnectorError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SERVICE = 0, 1, 2, 3


def _guard(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Turn our errors into one clear line and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from connector.errors import ConfigError, MappingFileError

        try:
            code = fn(*args, **kwargs)
        except (ConfigError, MappingFileError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except ConnectorError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            sys.exit(130)
        except (OSError, ValueError) as exc:  # files, permissions, bad arguments: say which, no traceback
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        except Exception as exc:  # noqa: BLE001 - a bug: the class name only (its text may quote input), and exit 3
            click.echo(f"error: internal {type(exc).__name__}; see the log", err=True)
            sys.exit(EXIT_SERVICE)
        sys.exit(code or EXIT_OK)

    return wrapper


def _config(path: Path | None) -> Any:
    from connector.config import load_config
    from connector.runtime import demo_config

    return load_config(path) if path is not None else demo_config()


def _emit(as_json: bool, data: Any, text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        text()


class _NoProgress:
    pos = 0

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.pos += n


def _progress(length: int, label: str) -> Any:
    """A progress bar on an interactive terminal; nothing otherwise (stderr stays one line per failure)."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return _NoProgress()


config_option = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CONNECTOR_CONFIG",
    help="Service configuration (YAML). Default: $CONNECTOR_CONFIG or embedded demo defaults.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lab-results-connector")
def main() -> None:
    """Lab results connector: HL7 ORU^R01 → CR-BIO CDA → MSSanté."""


# ---------------------------------------------------------------------------- demo / build / run


@main.command()
@json_option
@_guard
def demo(as_json: bool) -> int:
    """Run the whole path on bundled samples against an in-process TLS SMTP server."""
    from connector.demo.run import run_demo
    from connector.logs import configure

    configure(level="warning")  # the table is the output; warnings (quarantine reasons) as JSON on stderr
    rows = run_demo()
    ok = all(r["state"] in ("sent", "delivered", "read") for r in rows)

    def text() -> None:
        click.echo(f"{'report':<22} {'state':<11} recipients")
        for r in rows:
            click.echo(f"{r['report_id']:<22} {r['state']:<11} {', '.join(r['recipients']) or '-'}")
        click.echo(f"{len(rows)} report(s); " + ("all sent" if ok else "some not sent: see `state`"))

    _emit(as_json, rows, text)
    return EXIT_OK if ok else EXIT_FAILED


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@config_option
@json_option
@_guard
def build(inputs: tuple[Path, ...], out_dir: Path, config_path: Path | None, as_json: bool) -> int:
    """Build CDA, PDF, XDM zip and e-mail for every report in INPUTS, offline (sends nothing)."""
    from connector.offline import build_files

    with _progress(len(inputs), "building") as bar:
        results = build_files(list(inputs), out_dir, _config(config_path), progress=bar.update)
    for failure in results.failures:
        click.echo(failure, err=True)

    def text() -> None:
        for report_id, folder in results.built:
            click.echo(f"{report_id}  {folder}")

    _emit(as_json, {"built": [{"report_id": r, "folder": str(f)} for r, f in results.built],
                    "failures": results.failures}, text)
    return EXIT_FAILED if results.failures else EXIT_OK


@main.command()
@config_option
@_guard
def run(config_path: Path | None) -> int:
    """Run the service: intake, pipeline, acknowledgements, metrics. Stops cleanly on SIGTERM."""
    from connector.service import serve

    if config_path is None:
        raise click.UsageError("--config FILE (or $CONNECTOR_CONFIG) is required for `run`")
    return serve(_config(config_path), config_path=config_path)


# ---------------------------------------------------------------------------- operations


@main.command()
@config_option
@json_option
@_guard
def status(config_path: Path | None, as_json: bool) -> int:
    """Counts per state, the oldest report still in progress, the last errors."""
    from connector.ops import status_data

    data = status_data(_config(config_path))

    def text() -> None:
        click.echo("reports by state: " + (", ".join(f"{k} {v}" for k, v in data["counts"].items()) or "none"))
        oldest = data["oldest_in_progress"]
        if oldest:
            click.echo(f"oldest in progress: {oldest['report_id']} ({oldest['state']}, {oldest['age_seconds']:.0f} s)")
        click.echo(f"inputs in quarantine: {data['input_errors']}")
        for err in data["last_errors"]:
            click.echo(f"  {err['at']}  {err['report_id']}  {err['event']}  {err['detail']}")

    _emit(as_json, data, text)
    return EXIT_OK


@main.command()
@click.argument("report_id")
@config_option
@json_option
@_guard
def show(report_id: str, config_path: Path | None, as_json: bool) -> int:
    """Timeline of one report (no patient data)."""
    from connector.ops import show_data

    data = show_data(_config(config_path), report_id)
    if data is None:
        click.echo(f"no report {report_id}", err=True)
        return EXIT_FAILED

    def text() -> None:
        click.echo(f"{data['report_id']}: {data['state']}" + (f" ({data['reason']})" if data["reason"] else ""))
        for r in data["recipients"]:
            click.echo(f"  → {r['address']} [{r['kind']}] {r['state']} {r['code']}")
        for e in data["events"]:
            click.echo(f"  {e['at']}  {e['event']}  {e['detail']}")

    _emit(as_json, data, text)
    return EXIT_OK


@main.command()
@click.argument("report_id", required=False)
@click.option("--failed", is_flag=True, help="Retry every quarantined or waiting report.")
@config_option
@json_option
@_guard
def retry(report_id: str | None, failed: bool, config_path: Path | None, as_json: bool) -> int:
    """Send a waiting or quarantined report again (same document, same Message-ID)."""
    from connector.ops import retry_reports

    if not report_id and not failed:
        raise click.UsageError("give a REPORT id or --failed")
    done = retry_reports(_config(config_path), report_id=report_id, failed=failed)
    _emit(as_json, {"retried": done}, lambda: click.echo(f"retried: {', '.join(done) or 'none'}"))
    return EXIT_OK if done else EXIT_FAILED


@main.command()
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@config_option
@json_option
@_guard
def prune(dry_run: bool, config_path: Path | None, as_json: bool) -> int:
    """Remove data past its retention period (archive 90 d, quarantine 365 d, store 400 d by default)."""
    from connector.retention import prune as run_prune

    report = run_prune(_config(config_path), dry_run=dry_run)
    data = report.as_dict()
    _emit(as_json, data, lambda: click.echo(", ".join(f"{k} {v}" for k, v in data.items() if k != "cutoffs")))
    return EXIT_FAILED if report.file_errors else EXIT_OK


@main.group()
def quarantine() -> None:
    """Inputs that could not be read."""


@quarantine.command("list")
@config_option
@json_option
@_guard
def quarantine_list(config_path: Path | None, as_json: bool) -> int:
    from connector.ops import quarantine_items

    items = quarantine_items(_config(config_path))

    def text() -> None:
        for i in items:
            click.echo(f"{i['input_id']}:{i['message_index']}  {i['at']}  {i['reason']}")
        click.echo(f"{len(items)} item(s)")

    _emit(as_json, items, text)
    return EXIT_OK


@quarantine.command("release")
@click.argument("item")
@config_option
@json_option
@_guard
def quarantine_release(item: str, config_path: Path | None, as_json: bool) -> int:
    """Mark INPUT:MESSAGE handled (after the SIL resent a fixed message)."""
    from connector.ops import release_item

    release_item(_config(config_path), item)
    _emit(as_json, {"released": item}, lambda: click.echo(f"released {item}"))
    return EXIT_OK


@quarantine.command("purge")
@config_option
@json_option
@_guard
def quarantine_purge(config_path: Path | None, as_json: bool) -> int:
    """Forget released items: their stored bytes and their files in the quarantine folder."""
    from connector.ops import purge_released

    sources = purge_released(_config(config_path))
    _emit(as_json, {"purged": sources}, lambda: click.echo(f"{len(sources)} item(s) purged"))
    return EXIT_OK


# ---------------------------------------------------------------------------- mappings, LOINC, directory


@main.group()
def mappings() -> None:
    """Mapping files (local codes → LOINC, units → UCUM, chapters)."""


@mappings.command("check")
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@config_option
@json_option
@_guard
def mappings_check(directory: Path | None, config_path: Path | None, as_json: bool) -> int:
    """Lint the mapping files and run their sibling tests."""
    from connector.mapping import check_mappings

    config = _config(config_path)
    findings = check_mappings(directory or config.path(config.mappings.dir),
                              loinc_dir=config.path(config.mappings.loinc_dir))
    errors = [f for f in findings if f.severity == "error"]

    def text() -> None:
        for f in findings:
            click.echo(f"{f.path}:{f.line}: {f.severity}: [{f.key}] {f.message}")
        click.echo(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)")

    _emit(as_json, [dataclasses.asdict(f) for f in findings], text)
    return EXIT_FAILED if errors else EXIT_OK


@mappings.command("suggest")
@click.argument("query")
@click.option("--limit", default=10, show_default=True)
@config_option
@json_option
@_guard
def mappings_suggest(query: str, limit: int, config_path: Path | None, as_json: bool) -> int:
    """Ranked LOINC candidates for a local code or label."""
    from connector.mapping import suggest

    config = _config(config_path)
    found = suggest(query, loinc_dir=config.path(config.mappings.loinc_dir), limit=limit)

    def text() -> None:
        for c in found:
            click.echo(f"{c.code:<10} {c.score:6.2f}  {c.display}")

    _emit(as_json, [dataclasses.asdict(c) for c in found], text)
    return EXIT_OK if found else EXIT_FAILED


@main.group()
def loinc() -> None:
    """The LOINC table the lab imported."""


@loinc.command("import")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@json_option
@_guard
def loinc_import(csv_path: Path, config_path: Path | None, as_json: bool) -> int:
    """Import the official LOINC CSV (Loinc.csv) or the ANS French labels."""
    from connector.mapping import import_loinc

    config = _config(config_path)
    count = import_loinc(csv_path, loinc_dir=config.path(config.mappings.loinc_dir))
    _emit(as_json, {"imported": count}, lambda: click.echo(f"{count} LOINC rows imported"))
    return EXIT_OK


@main.group()
def directory() -> None:
    """The national MSSanté directory extract."""


@directory.command("import")
@click.argument("extract", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@json_option
@_guard
def directory_import(extract: Path, config_path: Path | None, as_json: bool) -> int:
    """Load Extraction_Correspondance_MSSante; replaces the previous import atomically."""
    from connector.send import import_directory

    config = _config(config_path)
    total = extract.stat().st_size
    with _progress(total, "importing") as bar:
        count = import_directory(extract, db_path=config.directory_path,
                                 progress=lambda done: bar.update(done - bar.pos))
    _emit(as_json, {"imported": count, "database": str(config.directory_path)},
          lambda: click.echo(f"{count} mailboxes imported into {config.directory_path}"))
    return EXIT_OK


@directory.command("lookup")
@click.argument("idnps")
@config_option
@json_option
@_guard
def directory_lookup(idnps: str, config_path: Path | None, as_json: bool) -> int:
    """MSSanté mailboxes for a national id (8+RPPS or 0+ADELI)."""
    from connector.send import Directory

    config = _config(config_path)
    entries = Directory(config.directory_path).lookup(idnps)
    def text() -> None:
        for e in entries:
            click.echo(f"{e.address}  {e.display_name}")

    _emit(as_json, [dataclasses.asdict(e) for e in entries], text)
    return EXIT_OK if entries else EXIT_FAILED


# ---------------------------------------------------------------------------- documents


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ans-kit", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The ANS testContenuCDA kit: adds the six schematrons to the XSD check.")
@json_option
@_guard
def validate(files: tuple[Path, ...], ans_kit: Path | None, as_json: bool) -> int:
    """Validate CDA documents: XSD, plus the ANS schematrons with --ans-kit."""
    from connector.cda import validate_files

    reports = validate_files(list(files), kit_dir=ans_kit, xsd_only=ans_kit is None)
    bad = [r for r in reports if not r.ok]

    def text() -> None:
        for r in reports:
            click.echo(f"{r.path}: {'ok' if r.ok else 'FAILED'}")
            for problem in r.problems:
                click.echo(f"  {problem}")

    _emit(as_json, [{"path": str(r.path), "ok": r.ok, "problems": list(r.problems)} for r in reports], text)
    return EXIT_FAILED if bad else EXIT_OK


@main.command()
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("preview"),
              show_default=True)
@config_option
@_guard
def preview(input_file: Path, out_dir: Path, config_path: Path | None) -> int:
    """Render the PDF the prescriber will receive, before anything is sent."""
    from connector.offline import build_files

    results = build_files([input_file], out_dir, _config(config_path))
    for failure in results.failures:
        click.echo(failure, err=True)
    for _, folder in results.built:
        click.echo(str(folder / "report.pdf"))
    return EXIT_FAILED if results.failures else EXIT_OK
