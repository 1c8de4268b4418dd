"""Every test can fail: each test function holds an assertion, ``pytest.raises``/``fail``/``warns`` or a call to
a helper that asserts (tests/support/asserts.py says exactly what counts, and why ``except`` blocks do not)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.support.asserts import (
    asserting_helpers,
    can_fail,
    modules_to_check,
    unfailing_helpers,
    unfailing_tests,
)


def test_every_test_function_can_fail() -> None:
    files = modules_to_check()
    assert len(files) > 50, "the walk over tests/ found too few test modules"
    found = unfailing_tests(files, asserting_helpers())
    assert not found, "tests that pass whatever happens (add an assert or pytest.raises):\n" + "\n".join(
        map(str, found))


def test_every_assert_helper_asserts() -> None:
    found = unfailing_helpers()
    assert not found, "assert_*/expect_* helpers without an assertion:\n" + "\n".join(map(str, found))


# The shapes issue 11 found, written small: each must be reported, and its fix must not.
CANNOT_FAIL = '''
import contextlib
import pytest

def helper(x):
    return x

def assert_nothing(x):
    print(x)

def assert_via(x):
    assert_nothing(x)

def wait_for(probe):
    return probe()

def test_no_assertion(box):
    list(box.fetch_new(None))

def test_passes_refused_or_accepted(load):
    try:
        load()
    except ValueError as exc:
        assert "x.yaml" in str(exc)

def test_suppressed(load):
    with contextlib.suppress(ValueError):
        load()

def test_checks_only_in_a_closure():
    def check():
        assert False
    helper(check)

def test_calls_a_helper_named_to_assert_that_does_not():
    assert_via(1)

def test_waits_with_a_listed_helper_that_never_fails():
    wait_for(helper)

class TestGrouped:
    def test_method_without_assertion(self):
        helper(1)
'''
CAN_FAIL = '''
import pytest

def _assert_positive(x):
    assert x > 0

def test_assert():
    assert 1

def test_raises():
    with pytest.raises(ValueError):
        int("x")

def test_fail_in_a_loop(items):
    for item in items:
        if not item:
            pytest.fail("empty item")

def test_helper():
    _assert_positive(1)

def test_else_of_try(parse):
    try:
        value = parse()
    except ValueError:
        return
    else:
        assert value

async def test_async_with(client):
    async with client:
        assert client.ok

class TestGrouped:
    def test_method(self):
        assert self
'''


def _findings(tmp_path: Path, source: str) -> list[str]:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return [f.name for f in unfailing_tests(modules_to_check(tmp_path), asserting_helpers(tmp_path))]


def test_the_check_reports_each_shape_that_cannot_fail(tmp_path: Path) -> None:
    assert _findings(tmp_path, CANNOT_FAIL) == [
        "test_no_assertion", "test_passes_refused_or_accepted", "test_suppressed", "test_checks_only_in_a_closure",
        "test_calls_a_helper_named_to_assert_that_does_not", "test_waits_with_a_listed_helper_that_never_fails",
        "test_method_without_assertion",
    ]
    assert [f.name for f in unfailing_helpers(tmp_path)] == ["assert_nothing", "assert_via", "wait_for"]


def test_the_check_accepts_each_shape_that_can_fail(tmp_path: Path) -> None:
    assert _findings(tmp_path, CAN_FAIL) == []
    assert unfailing_helpers(tmp_path) == []


# Property: a statement can fail exactly when a failing leaf sits under blocks that always run it
# (if/for/while/with/try body/else/finally), not under an except handler or inside a nested def/lambda.
LEAVES = {"assert x": True, "pytest.raises(E)": True, "pytest.fail('no')": True, "raise AssertionError": True,
          "assert_ok(x)": True, "f(x)": False, "x = 1": False, "pytest.skip('later')": False, "pass": False}
RUNS_BODY = ["if x:", "for i in x:", "while x:", "with x:", "try:\n{body}\nfinally:\n    pass",
             "try:\n    pass\nexcept E:\n    pass\nelse:\n{body}"]
HIDES_BODY = ["def inner():", "try:\n    pass\nexcept E:\n{body}", "class C:"]


def _wrap(body: str, block: str) -> str:
    inner = textwrap.indent(body, "    ")
    return block.format(body=inner) if "{body}" in block else f"{block}\n{inner}"


@st.composite
def statements(draw: st.DrawFn) -> tuple[str, bool]:
    leaf = draw(st.sampled_from(sorted(LEAVES)))
    code, fails = leaf, LEAVES[leaf]
    for _ in range(draw(st.integers(0, 4))):
        hides = draw(st.booleans())
        code = _wrap(code, draw(st.sampled_from(HIDES_BODY if hides else RUNS_BODY)))
        fails = fails and not hides
    return code, fails


@given(st.lists(statements(), min_size=1, max_size=4))
def test_can_fail_is_true_exactly_when_a_failing_leaf_always_runs(body: list[tuple[str, bool]]) -> None:
    tree = ast.parse("\n".join(code for code, _ in body))
    assert can_fail(tree.body, frozenset({"assert_ok"})) == any(fails for _, fails in body)
