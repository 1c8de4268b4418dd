"""The ``store:`` section: SQLite by default, a PostgreSQL URL checked at load (no password in it, TLS off-host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import parse_config
from connector.config.settings import store_settings
from connector.errors import ConfigError
from connector.store import Engine, Store

PRODUCTION = "mode: production\nsmtp: {tls: {cafile: ca.pem}}\n"


def test_the_default_store_is_the_sqlite_file_in_the_data_folder(tmp_path: Path) -> None:
    config = parse_config(f"mode: test\ndata_dir: {tmp_path}\n", source="c.yaml")
    settings = store_settings(config)
    assert settings.url == "" and settings.path == tmp_path / "connector.sqlite"
    store = Store(settings)
    try:
        assert store.db.engine is Engine.SQLITE and store.db.where == str(tmp_path / "connector.sqlite")
    finally:
        store.close()


@pytest.mark.parametrize(("store", "expected"), [
    ("{url: 'mysql://db/connector'}", "expected postgresql://user@host:port/database"),
    ("{url: 'postgresql://db.labo.example'}", "expected postgresql://user@host:port/database"),
    ("{url: 'postgresql://connector:s3cret@localhost/connector'}", "the password does not belong in the URL"),
    ("{url: 'postgresql://localhost/connector?password=s3cret'}", "the password does not belong in the URL"),
    ("{pool_size: 0}", "expected 1 to 100 connections"),
])
def test_a_wrong_store_is_refused_with_its_line(store: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"mode: test\nstore: {store}\n", source="c.yaml")
    assert str(caught.value).startswith("c.yaml:2 [store.") and expected in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(("url", "accepted"), [
    ("postgresql://connector@db.labo.example/connector", False),
    ("postgresql://connector@db.labo.example/connector?sslmode=require", False),  # encrypted, server not checked
    ("postgresql://connector@db.labo.example/connector?sslmode=verify-full&sslrootcert=/etc/ca.pem", True),
    ("postgresql://connector@127.0.0.1:5432/connector", True),
    ("postgresql://connector@localhost/connector", True),
    ("postgresql:///connector?host=/var/run/postgresql", True),  # the unix socket
    ("postgresql://connector@db.labo.example/connector?host=/var/run/postgresql", True),
])
def test_production_reaches_a_remote_store_over_verified_tls_only(url: str, accepted: bool) -> None:
    text = f"{PRODUCTION}store: {{url: '{url}'}}\n"
    if accepted:
        assert parse_config(text, source="c.yaml").store.url == url
    else:
        with pytest.raises(ConfigError, match=r"\[store.url\].*sslmode=verify-full"):
            parse_config(text, source="c.yaml")


def test_the_store_password_comes_from_the_environment_or_a_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "store.pw"
    secret.write_text("from-file\n")
    text = f"mode: test\nstore: {{url: 'postgresql://connector@localhost/c', password_file: {secret}}}\n"
    monkeypatch.delenv("CONNECTOR_STORE_PASSWORD", raising=False)
    assert store_settings(parse_config(text, source="c.yaml")).password == "from-file"
    monkeypatch.setenv("CONNECTOR_STORE_PASSWORD", "from-env")
    settings = store_settings(parse_config(text, source="c.yaml"))
    assert settings.password == "from-env" and "from-env" not in settings.location
    # SQLite needs none, and does not read the file.
    assert store_settings(parse_config("mode: test\n", source="c.yaml")).password == ""
