"""Operate the service: `status`, `show`, `retry`, `prune`, and the `quarantine` of unreadable inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from connector.cli.common import EXIT_FAILED, EXIT_OK, config_for, config_option, emit, guard, json_option


@click.command()
@config_option
@json_option
@guard
def status(config_path: Path | None, as_json: bool) -> int:
    """Counts per state, the oldest report still in progress, the last errors."""
    from connector.ops.views import status_data

    data = status_data(config_for(config_path, reads_store=True))

    def text() -> None:
        click.echo("reports by state: " + (", ".join(f"{k} {v}" for k, v in data["counts"].items()) or "none"))
        oldest = data["oldest_in_progress"]
        if oldest:
            click.echo(f"oldest in progress: {oldest['report_id']} ({oldest['state']}, {oldest['age_seconds']:.0f} s)")
        click.echo(f"inputs in quarantine: {data['input_errors']}")
        click.echo(validation_line(data["validation"]))
        for err in data["last_errors"]:
            click.echo(f"  {err['at']}  {err['report_id']}  {err['event']}  {err['detail']}")

    emit(as_json, data, text)
    return EXIT_OK


def validation_line(v: dict[str, Any]) -> str:
    """One line for `connector status`: validation OFF is said loudly, a kit by its digest."""
    state = v["state"]
    if state == "off":
        return "validation: OFF (validation.mode: off): documents are sent without the official checks"
    if state == "no-kit":
        return f"validation: {v['mode']}, NO USABLE KIT at {v['kit']} ({v['problem']}): the service will not start"
    if state == "reduced":
        return f"validation: reduced (test mode, no ANS kit at {v['kit']}: `connector kit install ZIP-or-DIR`)"
    installed = f", installed {v['installed_at']}" if v["installed_at"] else ""
    return f"validation: {v['mode']}, kit {v['kit']} digest {v['kit_digest'][:16]}{installed}"


@click.command()
@click.argument("report_id")
@config_option
@json_option
@guard
def show(report_id: str, config_path: Path | None, as_json: bool) -> int:
    """Timeline of one report (no patient data)."""
    from connector.ops.views import show_data

    data = show_data(config_for(config_path, reads_store=True), report_id)
    if data is None:
        click.echo(f"no report {report_id}", err=True)
        return EXIT_FAILED

    def text() -> None:
        click.echo(f"{data['report_id']}: {data['state']}" + (f" ({data['reason']})" if data["reason"] else ""))
        for r in data["recipients"]:
            click.echo(f"  → {r['address']} [{r['kind']}] {r['state']} {r['code']}")
        for e in data["events"]:
            click.echo(f"  {e['at']}  {e['event']}  {e['detail']}")

    emit(as_json, data, text)
    return EXIT_OK


@click.command()
@click.argument("report_id", required=False)
@click.option("--failed", is_flag=True, help="Retry every quarantined or waiting report.")
@config_option
@json_option
@guard
def retry(report_id: str | None, failed: bool, config_path: Path | None, as_json: bool) -> int:
    """Build and send a waiting or quarantined report again.

    Its recipients are resolved again from the current directory (import the corrected extract first):
    a bounced address is replaced by the one the directory now gives; doctors who already received the
    report do not get it twice. The document keeps its ids and the e-mail its Message-ID. Also the way to
    send again a report the SIL resent as the very same bytes (`input.duplicate` names the report).
    """
    from connector.ops.views import retry_reports

    if not report_id and not failed:
        raise click.UsageError("give a REPORT id or --failed")
    done = retry_reports(config_for(config_path, reads_store=True), report_id=report_id, failed=failed)
    emit(as_json, {"retried": done}, lambda: click.echo(f"retried: {', '.join(done) or 'none'}"))
    # --failed with nothing waiting is a success (nothing to do); a named report that cannot be retried is not.
    return EXIT_OK if done or failed else EXIT_FAILED


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@config_option
@json_option
@guard
def prune(dry_run: bool, config_path: Path | None, as_json: bool) -> int:
    """Remove data past its retention period (archive 90 d, quarantine 365 d, store 400 d by default)."""
    from connector.ops.retention import prune as run_prune

    report = run_prune(config_for(config_path, reads_store=True), dry_run=dry_run)
    data = report.as_dict()
    emit(as_json, data, lambda: click.echo(", ".join(f"{k} {v}" for k, v in data.items() if k != "cutoffs")))
    return EXIT_FAILED if report.file_errors else EXIT_OK


@click.group()
def quarantine() -> None:
    """Inputs that could not be read."""


@quarantine.command("list")
@config_option
@json_option
@guard
def quarantine_list(config_path: Path | None, as_json: bool) -> int:
    from connector.ops.views import quarantine_items

    items = quarantine_items(config_for(config_path, reads_store=True))

    def text() -> None:
        for i in items:
            click.echo(f"{i['input_id']}:{i['message_index']}  {i['at']}  {i['reason']}")
        click.echo(f"{len(items)} item(s)")

    emit(as_json, items, text)
    return EXIT_OK


@quarantine.command("release")
@click.argument("item")
@config_option
@json_option
@guard
def quarantine_release(item: str, config_path: Path | None, as_json: bool) -> int:
    """Mark INPUT:MESSAGE handled (after the SIL resent a fixed message)."""
    from connector.ops.views import release_item

    release_item(config_for(config_path, reads_store=True), item)
    emit(as_json, {"released": item}, lambda: click.echo(f"released {item}"))
    return EXIT_OK


@quarantine.command("purge")
@config_option
@json_option
@guard
def quarantine_purge(config_path: Path | None, as_json: bool) -> int:
    """Forget released items: their stored bytes and their files in the quarantine folder."""
    from connector.ops.views import purge_released

    sources = purge_released(config_for(config_path, reads_store=True))
    emit(as_json, {"purged": sources}, lambda: click.echo(f"{len(sources)} item(s) purged"))
    return EXIT_OK
