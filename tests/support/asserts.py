"""Which tests can fail: an ``ast`` reading of ``tests/**/test_*.py``.

A test can fail when its own body (``with``/``for``/``if``/``try`` blocks included, nested function
definitions not: a closure that is never called proves nothing) holds one of

- an ``assert`` statement, or ``raise`` (an explicit failure);
- ``pytest.raises``, ``pytest.warns`` or ``pytest.fail``, or a library runner of our assertions
  (:data:`FAILING_LIBRARY_CALLS`: Hypothesis's ``run_state_machine_as_test``);
- a call to a helper that asserts: ``assert_*``/``expect_*`` (``_assert_*`` too) or a name in
  :data:`ASSERTING_HELPERS`, defined under ``tests/``; each such helper must itself be able to fail
  (:func:`unfailing_helpers`), so the name or the list cannot promise what the body does not do.

What sits in an ``except`` handler does not count: it runs only when something raised, so the test
passes when nothing does (``try: f() except E: assert ...`` is the shape this check exists to catch;
write ``with pytest.raises(E):``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
HELPER_PREFIXES = ("assert_", "expect_")
FAILING_PYTEST_CALLS = frozenset({"raises", "warns", "fail"})
# Library calls that run assertion-bearing test code of ours (and fail the test when it fails).
FAILING_LIBRARY_CALLS = frozenset({
    ("", "run_state_machine_as_test"),  # hypothesis.stateful: runs a RuleBasedStateMachine's rules and invariants
})
# Helpers outside the naming convention that fail the test themselves (checked like the others), and how.
ASSERTING_HELPERS: dict[str, str] = {
    "wait_for": "tests/support/service.py: pytest.fail when the probe stays falsy past the timeout",
    "cli_json": "tests/support/service.py: asserts the command exited 0",
}


@dataclass(frozen=True, kw_only=True)
class Finding:
    path: Path
    line: int
    name: str

    def __str__(self) -> str:
        path = self.path.relative_to(TESTS.parent) if self.path.is_relative_to(TESTS.parent) else self.path
        return f"{path}:{self.line} {self.name}"


def modules_to_check(root: Path = TESTS) -> list[Path]:
    return sorted(p for p in root.rglob("test_*.py") if "__pycache__" not in p.parts)


_HIDDEN = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef | ast.ExceptHandler


def _own_nodes(body: Iterable[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of ``body``, not entering nested definitions nor ``except`` handlers (they may never run)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, _HIDDEN):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _called_name(call: ast.Call) -> tuple[str, str]:
    """(owner, name) of a call: ``pytest.raises`` → ("pytest", "raises"), ``f()`` → ("", "f")."""
    func = call.func
    if isinstance(func, ast.Name):
        return "", func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else ""
        return owner, func.attr
    return "", ""


def can_fail(body: Iterable[ast.stmt], helpers: frozenset[str]) -> bool:
    """Whether these statements hold an assertion of their own (see the module docstring)."""
    for node in _own_nodes(body):
        if isinstance(node, ast.Assert | ast.Raise):
            return True
        if isinstance(node, ast.Call):
            owner, name = _called_name(node)
            if owner == "pytest" and name in FAILING_PYTEST_CALLS:
                return True
            if (owner, name) in FAILING_LIBRARY_CALLS:
                return True
            if name in helpers:
                return True
    return False


def _definitions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _test_functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """What pytest collects: module-level ``test_*`` functions and ``test_*`` methods of ``Test*`` classes."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    yield item


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _helper_definitions(root: Path) -> dict[str, list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]]:
    found: dict[str, list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]] = {}
    for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
        for fn in _definitions(_parse(path)):
            if fn.name.lstrip("_").startswith(HELPER_PREFIXES) or fn.name in ASSERTING_HELPERS:
                found.setdefault(fn.name, []).append((path, fn))
    return found


def asserting_helpers(root: Path = TESTS) -> frozenset[str]:
    """``assert_*``/``expect_*`` and allow-listed helpers defined under ``root`` whose every definition can fail."""
    definitions = _helper_definitions(root)
    good: frozenset[str] = frozenset()
    while True:  # least fixpoint: a helper counts once what it calls is known to assert
        more = frozenset(n for n, defs in definitions.items() if all(can_fail(fn.body, good) for _, fn in defs))
        if more == good:
            return good
        good = more


def unfailing_helpers(root: Path = TESTS) -> list[Finding]:
    """Helpers named or listed as asserting that hold no assertion: the name or the list would lie."""
    good = asserting_helpers(root)
    return [Finding(path=path, line=fn.lineno, name=fn.name)
            for name, defs in sorted(_helper_definitions(root).items()) for path, fn in defs
            if name not in good or not can_fail(fn.body, good)]


def unfailing_tests(files: Iterable[Path], helpers: frozenset[str]) -> list[Finding]:
    return [Finding(path=path, line=fn.lineno, name=fn.name)
            for path in files for fn in _test_functions(_parse(path)) if not can_fail(fn.body, helpers)]
