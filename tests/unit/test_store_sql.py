"""The portable SQL's placeholders as psycopg's, and the test cluster's own discovery (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.store.backend import lock_number
from connector.store.postgres import PgRow, translate
from tests.support import postgres as plugin

_WORDS = st.sampled_from(["SELECT", "x", "FROM t", "WHERE", "=", "(", ")", ",", " ", "\n", "AND", "a.b", "1"])
_TEXT = st.text(alphabet="ab?:%'\" -\n", max_size=8)
_NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)

# Each part: (portable SQL, what psycopg must receive).
_PART = st.one_of(
    _WORDS.map(lambda w: (w, w)),
    st.just(("?", "%s")),
    _NAME.map(lambda n: (f" :{n} ", f" %({n})s ")),
    st.just(("%", "%%")),
    _NAME.map(lambda n: (f"x::{n} ", f"x::{n} ")),  # a cast is not a placeholder
    _TEXT.map(lambda t: ("'" + t.replace("'", "''") + "'",) * 2),  # a literal: copied, % doubled below
    _TEXT.map(lambda t: ('"' + t.replace('"', '""') + '"',) * 2),  # a quoted identifier
    _TEXT.filter(lambda t: "\n" not in t).map(lambda t: (f"-- {t}\n",) * 2),  # a comment
)


def _expected(part: tuple[str, str]) -> str:
    source, target = part
    quoted = source[:1] in ("'", '"') or source.startswith("--")
    return source.replace("%", "%%") if quoted else target


@given(st.lists(_PART, max_size=25))
def test_placeholders_are_translated_outside_quotes_and_comments_only(parts: list[tuple[str, str]]) -> None:
    sql = "".join(p[0] for p in parts)
    assert translate(sql) == "".join(_expected(p) for p in parts)


def test_translation_examples() -> None:
    assert translate("SELECT * FROM r WHERE id = ? AND s IN (?, ?)") == \
        "SELECT * FROM r WHERE id = %s AND s IN (%s, %s)"
    assert translate("UPDATE o SET data = :empty WHERE at < :cut AND note = 'a ? b :c'") == \
        "UPDATE o SET data = %(empty)s WHERE at < %(cut)s AND note = 'a ? b :c'"
    assert translate("SELECT x::text, 'it''s 100%' FROM t") == "SELECT x::text, 'it''s 100%%' FROM t"


@given(st.text(max_size=30), st.text(max_size=30))
def test_lock_numbers_are_signed_64_bit_and_stable(namespace: str, key: str) -> None:
    number = lock_number(namespace, key)
    assert -(2**63) <= number < 2**63
    assert number == lock_number(namespace, key)


def test_a_row_reads_by_name_and_by_position_and_never_shows_its_values() -> None:
    row = PgRow(("r-1", b"MSH|secret"), {"report_id": 0, "data": 1})
    assert row["report_id"] == row[0] == "r-1" and dict(row) == {"report_id": "r-1", "data": b"MSH|secret"}
    assert "secret" not in repr(row) and list(row) == ["r-1", b"MSH|secret"]


def test_the_test_cluster_skips_when_no_server_binaries_are_found(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("CONNECTOR_PG_BINDIR", str(tmp_path))  # a folder without initdb
    monkeypatch.setattr(plugin.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(plugin.shutil, "which", lambda name: None)
    assert plugin.find_bindir() is None
    for tool in ("initdb", "pg_ctl", "postgres"):
        (tmp_path / tool).write_text("")
    assert plugin.find_bindir() == tmp_path
