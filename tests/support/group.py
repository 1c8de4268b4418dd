"""Several connector instances as a lab group runs them: one Site (config file, own data folder, own MLLP and
metrics ports) per instance, every one on the same PostgreSQL store and the same drop folder.

:class:`PgSite` is a :class:`~tests.support.service.Site` whose ``query`` reads the shared PostgreSQL store
(so :class:`~tests.support.service.ServiceProcess` and its kill histogram work unchanged), and whose drop,
quarantine and ZAM folders are the group's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.simulator.plugin import OperatorSim
from tests.support.ports import free_port
from tests.support.service import Site, write_site

SHARED_FOLDERS = ("drop", "archive", "quarantine", "zam")


@dataclass(frozen=True, kw_only=True)
class PgSite(Site):
    store_url: str
    shared: Path  # the group's folders: drop/, archive/, quarantine/, zam/

    @property
    def drop(self) -> Path:
        return self.shared / "drop"

    @property
    def quarantine(self) -> Path:
        return self.shared / "quarantine"

    @property
    def zam(self) -> Path:
        return self.shared / "zam"

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """The shared store, read on a connection of its own; [] while the server does not answer (restarting)."""
        import psycopg

        from connector.store.postgres import translate

        try:
            with psycopg.connect(self.store_url, autocommit=True, connect_timeout=5) as conn:
                return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                        for row in conn.execute(translate(sql), params).fetchall()]  # type: ignore[arg-type]
        except psycopg.OperationalError:
            return []


def write_group(base: Path, sim: OperatorSim | None, *, store_url: str, names: list[str], mllp: bool = True,
                metrics: bool = True, retry_first_seconds: float = 60.0, retry_max_seconds: float = 3600.0
                ) -> list[PgSite]:
    """One site per entry of ``names`` under ``base`` (``""``: the default name, ``<host>-<pid>``, new at each
    start), sharing ``base``'s drop/archive/quarantine/zam folders and the store at ``store_url``."""
    shared = base / "shared"
    for sub in SHARED_FOLDERS:
        (shared / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    shared.chmod(0o700)
    sites = []
    for i, name in enumerate(names):
        folder = base / f"instance{i}"
        folder.mkdir(mode=0o700)
        site = write_site(folder, sim, mllp_port=free_port() if mllp else None, metrics=metrics,
                          retry_first_seconds=retry_first_seconds, retry_max_seconds=retry_max_seconds)
        site.configure(store={"url": store_url}, instance={"name": name},
                       intake={"folder": {"enabled": True, "drop": str(shared / "drop"),
                                          "archive": str(shared / "archive"),
                                          "quarantine": str(shared / "quarantine"), "stable_seconds": 0},
                               "mllp": {"enabled": mllp, "host": "127.0.0.1", "port": site.mllp_port or 2575}},
                       sil={"zam_folder": str(shared / "zam")})
        sites.append(PgSite(base=folder, config=site.config, metrics_port=site.metrics_port,
                            mllp_port=site.mllp_port, store_url=store_url, shared=shared))
    return sites
