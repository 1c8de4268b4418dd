"""Issue 12 class 12: a time without a zone is local time in Europe/Paris, summer time included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.cda.timestamps import to_ts
from connector.errors import CdaBuildError
from connector.model.labtime import lab_zone, offset_at, with_zone, zone_problem
from connector.package._times import parse_instant, to_xds_dtm
from connector.pipeline.compose import cda_time

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("dtm", "ts"),
    [
        ("20260115083000", "20260115083000+0100"),  # winter
        ("20260715083000", "20260715083000+0200"),  # summer: the fixed +0100 was an hour off
        ("202603290159", "202603290159+0100"),  # just before clocks go forward
        ("202603290305", "202603290305+0200"),  # just after
        ("202603290230", "202603290230+0100"),  # never happened: fold=0, winter offset (= 03:30 summer)
        ("202610250230", "202610250230+0200"),  # happened twice: fold=0, the first (summer)
        ("202610250330", "202610250330+0100"),
        ("20260715", "20260715"),  # a date has no offset
        ("20260715083000+0000", "20260715083000+0000"),  # the SIL's own zone is kept
        ("20260715083000.25", "20260715083000.25+0200"),
    ],
)
def test_cda_times_follow_summer_time(dtm: str, ts: str) -> None:
    assert to_ts(dtm, "Europe/Paris") == ts


@given(st.datetimes(datetime(1990, 1, 1), datetime(2040, 12, 31)))
def test_offset_is_the_one_zoneinfo_gives_at_that_local_time(local: datetime) -> None:
    expected = local.replace(tzinfo=PARIS, fold=0).utcoffset()
    assert expected is not None
    minutes = int(expected.total_seconds() // 60)
    assert offset_at(local, "Europe/Paris") == f"+{minutes // 60:02d}{minutes % 60:02d}"
    stamp = local.strftime("%Y%m%d%H%M%S")
    assert with_zone(stamp, "Europe/Paris") == stamp + offset_at(local, "Europe/Paris")


@given(st.datetimes(datetime(2000, 1, 1), datetime(2040, 12, 31)).map(lambda d: d.replace(microsecond=0)))
def test_xds_utc_time_and_cda_time_name_the_same_instant(local: datetime) -> None:
    stamp = local.strftime("%Y%m%d%H%M%S")
    cda = to_ts(stamp, "Europe/Paris")
    utc = to_xds_dtm(stamp, default_zone="Europe/Paris")
    assert to_xds_dtm(cda) == utc  # with or without the zone written, one instant
    back = datetime.strptime(utc, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    assert back == parse_instant(cda)


def test_fixed_offset_still_loads_but_is_fixed() -> None:
    """The deprecated "+0100": accepted for old configurations, wrong in summer (why it is deprecated)."""
    assert to_ts("20260715083000", "+0100") == "20260715083000+0100"
    assert lab_zone("+0100").utcoffset(None) == timedelta(hours=1)


@pytest.mark.parametrize("zone", ["Europe/Pariss", "CET+1", "+2500", "", "../etc/passwd"])
def test_bad_zones_are_refused_with_what_is_expected(zone: str) -> None:
    problem = zone_problem(zone)
    assert problem is not None and "Europe/Paris" in problem
    with pytest.raises(CdaBuildError, match="lab timezone"):
        to_ts("20260715083000", zone)


def test_document_time_now_is_in_the_lab_zone() -> None:
    assert cda_time(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/Paris") == "20260701140000+0200"
    assert cda_time(datetime(2026, 1, 1, 12, 0, tzinfo=UTC), "Europe/Paris") == "20260101130000+0100"
