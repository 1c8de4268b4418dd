"""An input committed but left unsplit while the service runs (the store failed between intake's two commits)
is split by the periodic pass, not only at the next start (issue 16); on SQLite that pass only runs once this
process left one (no scan of the inputs otherwise). On SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connector.errors import StoreUnavailable
from connector.store import utcnow
from tests.ledger.oru import ledger
from tests.support.runtime import smtp_runtime
from tests.support.smtp import SmtpServer


def test_an_input_left_unsplit_is_split_by_the_periodic_pass(tmp_path: Path, smtp_server: SmtpServer,
                                                             store_location: Path | str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url = store_location if isinstance(store_location, str) else ""
    rt = smtp_runtime(tmp_path, smtp_server, store_url=url)
    try:
        entry, later = ledger("unsplit", 2)
        assert not rt.pipeline.left_unsplit
        real = rt.store.record_split

        def down(*args: object, **kwargs: object) -> list[str]:
            raise StoreUnavailable("store unavailable (OperationalError)")

        monkeypatch.setattr(rt.store, "record_split", down)
        with pytest.raises(StoreUnavailable):
            rt.pipeline.receive(entry.data, source="one.hl7")  # committed, then the split's commit failed
        monkeypatch.setattr(rt.store, "record_split", real)
        assert rt.pipeline.left_unsplit
        assert rt.store.unsplit_inputs() and rt.store.report(entry.report_id) is None

        time.sleep(0.01)  # the store's times are in milliseconds: the cutoff comes strictly after the failure
        before = utcnow()
        rt.pipeline.receive(later.data, source="two.hl7")
        assert rt.pipeline.recover(received_before="2000-01-01") == 0, "too young for this pass"
        assert rt.pipeline.left_unsplit, "kept until a pass covers the moment it was left"
        assert rt.pipeline.recover(received_before=before) == 1
        assert rt.store.report(entry.report_id) is not None and rt.store.unsplit_inputs() == []
        assert not rt.pipeline.left_unsplit
    finally:
        rt.close()
