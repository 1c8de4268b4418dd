"""pytest plugin: a real PostgreSQL server for the tests marked ``postgres``, one cluster per session.

``initdb`` in a temporary folder, the server on a free loopback port (and a unix socket in the same
folder), ``fsync`` and ``synchronous_commit`` on as in production (the folder is in /dev/shm when
there is one, so a flush is cheap). PostgreSQL refuses to run as root:
when the tests run as root the cluster belongs to the ``postgres`` system user (created if absent).
The binaries come from ``$CONNECTOR_PG_BINDIR``, Debian's ``/usr/lib/postgresql/<version>/bin``
(``bash tests/install-servers.sh`` installs them) or the PATH; without them the tests skip, saying so.

Fixtures:
- ``pg_cluster``: the running :class:`PgCluster` (``stop``/``start``/``restart`` for fault tests,
  ``create_store()`` for a database of one's own, at the current schema);
- ``pg_url``: a database at the current schema, emptied before each test (fast: TRUNCATE);
- ``pg_empty_url``: a new database with no schema at all (migration and copy tests).
Every test that uses one of them is marked ``postgres`` (``-m "not postgres"`` leaves them out).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 60  # seconds; a cold start takes well under one
PG_USER = "postgres"
_FIXTURES = ("pg_cluster", "pg_url", "pg_empty_url")
_names = itertools.count(1)


def find_bindir() -> Path | None:
    candidates = [os.environ.get("CONNECTOR_PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    which = shutil.which("pg_ctl")
    candidates += [str(Path(which).resolve().parent)] if which else []
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_user() -> str | None:
    """The user the server runs as: ourselves, or ``postgres`` when we are root (None: cannot be had)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                              capture_output=True, text=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"PostgreSQL cannot run as root and the '{PG_USER}' user could not be created: "
                        f"{made.stderr.strip()}")
    return PG_USER


@dataclass
class PgCluster:
    bindir: Path
    base: Path  # data/, the socket and the server log
    port: int
    run_as: str | None  # None: the tests' own user

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        kwargs: dict[str, Any] = {"user": self.run_as} if self.run_as else {}
        done = subprocess.run([str(self.bindir / args[0]), *args[1:]], cwd=self.base, capture_output=True,
                              text=True, check=False, timeout=START_TIMEOUT + 30, **kwargs)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} {args[1]} failed ({done.returncode}): {done.stderr[-2000:]}\n{tail}")

    def init(self) -> None:
        # --locale=C: the server's own default; the schema compares text byte-wise (COLLATE "C") anyway.
        self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-sync")

    def start(self) -> None:
        # fsync and synchronous_commit keep their defaults (on): set here they could not be changed by a test.
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", str(START_TIMEOUT), "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: as a crash (the next start replays the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT), "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop and start the same cluster (its data kept): every open connection breaks."""
        self.stop(mode)
        self.start()

    def admin(self, *statements: str, dbname: str = "postgres") -> list[Any]:
        import psycopg

        rows: list[Any] = []
        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")  # a leaked transaction fails the test, never hangs it
            for sql in statements:
                cur = conn.execute(sql)  # type: ignore[arg-type]  # the tests' own SQL
                rows = cur.fetchall() if cur.description else []
        return rows

    def create_database(self) -> str:
        """A new, empty database (no schema): its URL."""
        name = f"connector_{os.getpid()}_{next(_names)}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def create_store(self) -> str:
        """A new database at the current schema, as after `connector store migrate`: its URL (for
        service processes started by a test, e.g. several instances of a ledger test)."""
        from connector.store import open_backend
        from connector.store.migrations import migrate

        url = self.create_database()
        db = open_backend(url)
        try:
            migrate(db)
        finally:
            db.close()
        return url


def _fast_dir() -> str | None:
    """A RAM-backed folder when the machine has one: fsync stays on (and checked) but costs nothing,
    so the suite's thousands of commits take seconds. The bench measures a real disk."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[test]')")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (initdb, pg_ctl, postgres): run "
                    "`bash tests/install-servers.sh` as root, or set CONNECTOR_PG_BINDIR")
    run_as = _server_user()
    base = Path(tempfile.mkdtemp(prefix="connector-pg-", dir=_fast_dir()))
    if run_as:
        shutil.chown(base, user=run_as)
    base.chmod(0o700)
    cluster = PgCluster(bindir=bindir, base=base, port=_free_port(), run_as=run_as)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        # Immediate: the data goes with the folder, no checkpoint to wait for. Not started, or already
        # stopped by a test: the folder goes anyway.
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def _pg_schema_db(pg_cluster: PgCluster) -> str:
    return pg_cluster.create_store()


@pytest.fixture
def pg_url(pg_cluster: PgCluster, _pg_schema_db: str) -> str:
    """A PostgreSQL store at the current schema with no rows (shared by the tests, emptied for each)."""
    empty_pg_store(pg_cluster, _pg_schema_db)
    return _pg_schema_db


def empty_pg_store(cluster: PgCluster, url: str) -> None:
    dbname = url.rsplit("/", 1)[1]
    tables = [r[0] for r in cluster.admin(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'",
        dbname=dbname)]
    # DELETE, not TRUNCATE: ten times faster on tables this small. The replica role skips the foreign-key
    # triggers, so the order of the tables does not matter.
    cluster.admin("BEGIN", "SET LOCAL session_replication_role = replica", *(f"DELETE FROM {t}" for t in tables),
                  "COMMIT", dbname=dbname)


@pytest.fixture
def pg_empty_url(pg_cluster: PgCluster) -> str:
    """A new database without any table: what `connector store migrate` or `store copy` starts from."""
    return pg_cluster.create_database()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in _FIXTURES):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a store test opens its store: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "var" / "connector.sqlite"
    url: str = request.getfixturevalue("pg_url")
    return url
