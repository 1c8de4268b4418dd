"""`connector store check | migrate | copy`: the store's schema, health, and a move from SQLite to PostgreSQL."""

from __future__ import annotations

import urllib.parse
from dataclasses import asdict
from pathlib import Path

import click

from connector.cli.common import EXIT_FAILED, EXIT_OK, config_for, config_option, emit, guard, json_option


@click.group()
def store() -> None:
    """The store: check it, migrate its schema, copy it to PostgreSQL."""


@store.command()
@config_option
@json_option
@guard
def check(config_path: Path | None, as_json: bool) -> int:
    """Engine, schema version, pending migrations, durability settings and rows per table (changes nothing)."""
    from connector.config.settings import store_settings
    from connector.store import open_backend
    from connector.store.admin import check_store

    db = open_backend(store_settings(config_for(config_path, reads_store=True)))
    try:
        result = check_store(db)
    finally:
        db.close()

    def text() -> None:
        click.echo(f"{result.engine} store {result.location}: schema {result.schema_version}"
                   + (f", migrations pending: {', '.join(map(str, result.pending))}" if result.pending else ""))
        click.echo("durability: " + ", ".join(f"{k}={v}" for k, v in sorted(result.durability.items())))
        click.echo(f"integrity: {result.integrity}")
        click.echo("rows: " + (", ".join(f"{t} {n}" for t, n in result.rows.items()) or "no tables yet"))

    emit(as_json, {**asdict(result), "ok": result.ok}, text)
    return EXIT_OK if result.ok else EXIT_FAILED


@store.command()
@config_option
@json_option
@guard
def migrate(config_path: Path | None, as_json: bool) -> int:
    """Bring the store's schema to this version (SQLite: after a backup copy beside it).

    A PostgreSQL store shared by several instances is only migrated by this command: run it once,
    from one place, after installing the new version and before starting the instances.
    """
    from connector.config.settings import store_settings
    from connector.store import open_backend
    from connector.store.migrations import migrate as migrate_schema

    settings = store_settings(config_for(config_path, reads_store=True))
    db = open_backend(settings)
    try:
        result = migrate_schema(db, backup_dir=settings.path.parent)
    finally:
        db.close()

    def text() -> None:
        if result.before == result.after:
            click.echo(f"the store is at schema {result.after}: nothing to do")
            return
        click.echo(f"the store went from schema {result.before} to {result.after}")
        if result.backup:
            click.echo(f"backup of schema {result.before}: {result.backup}")

    emit(as_json, {"before": result.before, "after": result.after,
                   "backup": str(result.backup) if result.backup else None}, text)
    return EXIT_OK


@store.command()
@click.option("--to", "target_url", required=True, metavar="URL",
              help="The new store: postgresql://user@host:port/database (an empty database). No password in it: "
                   "use $PGPASSWORD, ~/.pgpass or --password-file.")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file holding the target's password.")
@config_option
@json_option
@guard
def copy(target_url: str, password_file: Path | None, config_path: Path | None, as_json: bool) -> int:
    """Copy the configured store (its SQLite file) into an empty PostgreSQL database, and verify it.

    Stop the service first: the source is locked while it is copied (a running service would answer AE
    meanwhile), and what it received after the copy would stay behind. Every table is copied in one
    transaction, then compared row count and checksum; a rerun on a complete copy changes nothing.
    Then set `store.url` in the configuration and start the service.
    """
    from connector.config.settings import store_settings
    from connector.store import Store, StoreSettings, is_postgres_url, open_backend
    from connector.store.admin import copy_store

    if not is_postgres_url(target_url):
        raise click.BadParameter("expected postgresql://user@host:port/database", param_hint="--to")
    if urllib.parse.urlsplit(target_url).password is not None or "password=" in target_url:
        raise click.BadParameter("the password does not belong in the URL (it would be in the shell history): "
                                 "use $PGPASSWORD, ~/.pgpass or --password-file", param_hint="--to")
    settings = store_settings(config_for(config_path, reads_store=True))
    password = password_file.read_text(encoding="utf-8").strip() if password_file else ""
    source = Store(settings)  # an SQLite store is migrated (after a backup) before it is copied
    try:
        target = open_backend(StoreSettings(path=settings.path, url=target_url, password=password))
        try:
            report = copy_store(source.db, target)
        finally:
            target.close()
    finally:
        source.close()

    def text() -> None:
        if report.already_copied:
            click.echo(f"{report.target} already holds this store's {report.rows} rows: nothing written")
            return
        click.echo(f"copied {report.rows} rows from {report.source} to {report.target}; counts and checksums match")
        for table, total in report.tables.items():
            click.echo(f"  {table}: {total.rows}")
        click.echo(f"next: set `store: {{url: {target_url}}}` in the configuration, then start the service")

    emit(as_json, {"source": report.source, "target": report.target, "already_copied": report.already_copied,
                   "tables": {t: asdict(s) for t, s in report.tables.items()}}, text)
    return EXIT_OK
