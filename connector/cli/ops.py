"""Operate the service: `status`, `show`, `retry`, `prune`, and the `quarantine` of unreadable inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from connector.cli.common import EXIT_FAILED, EXIT_OK, config_for, config_option, emit, guard, json_option

# Recipient states whose detail says why nobody received the report there (SMTP text, DSN diagnostic, the
# reason a recipient the message names could not be resolved); values of connector.states.RecipientState.
_NOT_REACHED = frozenset({"refused", "failed", "error"})


@click.command()
@config_option
@json_option
@guard
def status(config_path: Path | None, as_json: bool) -> int:
    """Counts per state, the oldest report still in progress, the last errors; on PostgreSQL, the instances."""
    from connector.ops.views import status_data

    data = status_data(config_for(config_path, reads_store=True))

    def text() -> None:
        click.echo("reports by state: " + (", ".join(f"{k} {v}" for k, v in data["counts"].items()) or "none"))
        oldest = data["oldest_in_progress"]
        if oldest:
            click.echo(f"oldest in progress: {oldest['report_id']} ({oldest['state']}, {oldest['age_seconds']:.0f} s)")
        click.echo(f"inputs in quarantine: {data['input_errors']}")
        dmp = data["dmp"]
        if dmp["counts"]:
            oldest_feed = dmp["oldest_pending_seconds"]
            click.echo("DMP feeds by state: " + ", ".join(f"{k} {v}" for k, v in dmp["counts"].items())
                       + (f" (oldest owed: {oldest_feed:.0f} s)" if oldest_feed is not None else ""))
        click.echo(validation_line(data["validation"]))
        for err in data["last_errors"]:
            click.echo(f"  {err['at']}  {err['report_id']}  {err['event']}  {err['detail']}")
        if "instances" in data:  # a shared store (PostgreSQL): the group
            alive = sum(i["alive"] for i in data["instances"])
            click.echo(f"instances: {alive} alive of {len(data['instances'])}")
            for i in data["instances"]:
                click.echo(f"  {i['instance']}  {'alive' if i['alive'] else 'silent'}  seen "
                           f"{i['seen_seconds_ago']:.0f} s ago  {i['leases']} lease(s)  {i['host']}:{i['pid']}")

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
@click.argument("query")
@click.option("--app", "sending_application", default="", help="MSH-3 of the SIL, when two SILs share an MSH-10.")
@click.option("--facility", "sending_facility", default="", help="MSH-4, when two sites share an MSH-10.")
@config_option
@json_option
@guard
def show(query: str, sending_application: str, sending_facility: str, config_path: Path | None,
         as_json: bool) -> int:
    """Timeline of one report (no patient data).

    QUERY is a report id, a message's MSH-10, a placer or filler order number (ORC-2/ORC-3, OBR-2/OBR-3)
    or the name of the file the SIL dropped. When it designates several reports (one message for several
    patients, an order corrected twice, an MSH-10 two SILs use), they are listed: show one by its id.
    """
    from connector.ops.views import find_reports, show_data

    config = config_for(config_path, reads_store=True)
    found = find_reports(config, query, sending_application=sending_application, sending_facility=sending_facility)
    if not found:
        click.echo(f"no report matches {query} (report id, MSH-10, order number or input file name)", err=True)
        return EXIT_FAILED
    if len(found) > 1:
        listing = [dataclasses.asdict(f) for f in found]

        def several() -> None:
            click.echo(f"{len(found)} reports match {query}; show one by its id:")
            for f in found:
                sender = "/".join(x for x in (f.sending_application, f.sending_facility) if x) or "-"
                click.echo(f"  {f.report_id}  {f.state:<12} MSH-10 {f.control_id}  from {sender}  "
                           f"received {f.received_at[:19]}  ({f.matched})")

        emit(as_json, {"matches": listing}, several)
        return EXIT_OK
    data = show_data(config, found[0].report_id)
    if data is None:  # pruned between the two reads: not found
        click.echo(f"no report matches {query}", err=True)
        return EXIT_FAILED

    def text() -> None:
        click.echo(f"{data['report_id']}: {data['state']}" + (f" ({data['reason']})" if data["reason"] else ""))
        for r in data["recipients"]:
            why = f" — {r['detail']}" if r["detail"] and r["state"] in _NOT_REACHED else ""
            click.echo(f"  → {r['address']} [{r['kind']}] {r['state']} {r['code']}{why}")
        dmp = data["dmp"]
        if dmp:
            click.echo(f"  → DMP [{dmp['action']}] {dmp['state']} {dmp['code']} uniqueId {dmp['unique_id']}"
                       + (f" entryUUID {dmp['entry_uuid']}" if dmp["entry_uuid"] else "")
                       + (f" ({dmp['reason']})" if dmp["reason"] else ""))
        for e in data["events"]:
            click.echo(f"  {e['at']}  {e['event']}  {e['detail']}")

    emit(as_json, data, text)
    return EXIT_OK


@click.command()
@click.argument("report_id", required=False)
@click.option("--failed", is_flag=True, help="Retry every quarantined or waiting report, and every failed DMP feed.")
@config_option
@json_option
@guard
def retry(report_id: str | None, failed: bool, config_path: Path | None, as_json: bool) -> int:
    """Build and send a waiting or quarantined report again, or try its failed DMP feed again.

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
