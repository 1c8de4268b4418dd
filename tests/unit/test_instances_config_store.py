"""What several instances need from the configuration and the store (issue 16): a name per instance, the
group's rows (heartbeat, forgotten when silent, left at a clean stop), the first stored ACK kept, unsplit
inputs found by age. The store parts run on SQLite and on PostgreSQL (``store_location``)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from connector.config import parse_config
from connector.config.checks import INSTANCE_NAME
from connector.config.settings import folder_settings, instance_name
from connector.errors import ConfigError
from connector.store import NewReport, Store, default_instance, utcnow


def test_the_default_name_is_host_and_pid_and_a_valid_name() -> None:
    name = default_instance()
    assert re.fullmatch(r".+-\d+", name) and INSTANCE_NAME.fullmatch(name), name
    assert instance_name(parse_config("mode: test\n")) == name
    assert instance_name(parse_config("mode: test\ninstance: {name: lyon-1}\n")) == "lyon-1"


@given(st.text(min_size=1, max_size=80).filter(lambda name: not INSTANCE_NAME.fullmatch(name)))
def test_a_name_that_cannot_name_a_folder_is_refused_with_its_line(name: str) -> None:
    text = yaml.safe_dump({"mode": "test", "instance": {"name": name}}, allow_unicode=True)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="c.yaml")
    assert str(caught.value).startswith("c.yaml:") and "[instance.name]" in str(caught.value)


def test_a_shared_store_gives_the_drop_folder_its_instance() -> None:
    alone = parse_config("mode: test\ninstance: {name: a}\n")
    shared = parse_config("mode: test\ninstance: {name: a}\nstore: {url: 'postgresql://db.local/c'}\n")
    assert folder_settings(alone).instance == "" and folder_settings(alone).claim.name == ".claim"
    assert folder_settings(shared).instance == "a" and folder_settings(shared).claim.name == "@a"


# ---------------------------------------------------------------------------------------------- the store


def test_the_first_stored_ack_is_the_one_replayed(store_location: Path | str) -> None:
    store = Store(store_location, instance="a")
    try:
        record = store.record_input(b"MSH|one", source="mllp:x", dedup_key="SIL|LAB|1")
        assert store.set_ack(record.input_id, b"ACK from a") == b"ACK from a"
        assert store.set_ack(record.input_id, b"ACK from b, answered at the same instant") == b"ACK from a"
        assert store.record_input(b"MSH|one", source="mllp:y", dedup_key="SIL|LAB|1").ack == b"ACK from a"
    finally:
        store.close()


def test_unsplit_inputs_by_age(store_location: Path | str) -> None:
    store = Store(store_location, instance="a")
    try:
        old = store.record_input(b"MSH|old", source="a.hl7").input_id
        time.sleep(0.002)  # stamps are to the millisecond: "before" must not tie
        cutoff = utcnow()
        time.sleep(0.002)
        young = store.record_input(b"MSH|young", source="b.hl7").input_id
        done = store.record_input(b"MSH|done", source="c.hl7").input_id
        store.record_split(done, [NewReport(report_id="r-1", message_index=0, patient_index=0, control_id="1",
                                            series_key="")], [])
        assert store.unsplit_inputs() == [old, young]
        assert store.unsplit_inputs(received_before=cutoff) == [old]
    finally:
        store.close()


def test_a_clean_stop_leaves_the_group_and_gives_its_leases_back(store_location: Path | str) -> None:
    a, b = Store(store_location, instance="a"), Store(store_location, instance="b")
    try:
        for store in (a, b):
            store.register_instance()
        record = a.record_input(b"MSH|x", source="x.hl7")
        a.record_split(record.input_id, [NewReport(report_id="r-x", message_index=0, patient_index=0,
                                                   control_id="x", series_key="")], [])
        build, _ = a.claim_due("9999")
        assert [r.report_id for r in build] == ["r-x"]
        assert {i.instance_id for i in b.instances()} == {"a", "b"} and all(i.alive for i in b.instances())
        a.deregister_instance()
        assert {i.instance_id for i in b.instances()} == {"b"}
        assert b.leases() == {} and [r.report_id for r in b.claim_due("9999")[0]] == ["r-x"]
    finally:
        a.close()
        b.close()


def test_silent_instances_are_forgotten(store_location: Path | str) -> None:
    a, b = Store(store_location, instance="a"), Store(store_location, instance="b")
    try:
        a.register_instance()
        b.register_instance()
        with a.db.transaction() as c:
            c.execute("UPDATE instances SET seen_at = seen_at - 100000 WHERE instance_id = 'b'")
        assert [i.instance_id for i in a.instances() if not i.alive] == ["b"]
        assert a.forget_instances(silent_seconds=86_400) == 1
        assert [i.instance_id for i in a.instances()] == ["a"]
        assert b.forget_instances(silent_seconds=0) == 1, "an instance never forgets itself"
    finally:
        a.close()
        b.close()
