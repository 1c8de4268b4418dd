"""Just enough XPath lexing to rewrite the ANS stylesheets' expressions safely.

The rewrite in :mod:`connector.validation.fastpath` moves match patterns into select
expressions and swaps constant ``doc()`` calls for parameters. Those are text edits, so they
must never look inside a string literal or an XPath comment, nor split a union inside a
predicate. Anything these helpers do not understand makes them answer ``None`` and the caller
keeps the official text.
"""

from __future__ import annotations

import re

__all__ = ["call_spans", "leading_step", "split_top_level"]

_QNAME = r"[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?"
_QNAME_RE = re.compile(_QNAME)
_OPEN, _CLOSE = "([", ")]"


def _skip_literal(text: str, i: int) -> int | None:
    """Index after the string literal opening at ``text[i]`` (XPath doubles a quote to escape it)."""
    quote = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == quote:
            if j + 1 < len(text) and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return None


def _has_comment(expr: str) -> bool | None:
    """An XPath comment ``(: … :)`` outside literals (None: a literal is not closed)."""
    i = 0
    while i < len(expr):
        if expr[i] in "'\"":
            end = _skip_literal(expr, i)
            if end is None:
                return None
            i = end
            continue
        if expr.startswith("(:", i):
            return True
        i += 1
    return False


def split_top_level(expr: str, separator: str = "|") -> list[str] | None:
    """``expr`` cut at each ``separator`` outside brackets and literals; None if it cannot be lexed."""
    if _has_comment(expr) is not False:  # a comment is not worth lexing: keep the expression whole
        return None
    parts: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(expr):
        ch = expr[i]
        if ch in "'\"":
            end = _skip_literal(expr, i)
            if end is None:
                return None
            i = end
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                return None
        elif ch == separator and depth == 0:
            parts.append(expr[start:i].strip())
            start = i + 1
        i += 1
    if depth != 0:
        return None
    parts.append(expr[start:].strip())
    return parts


def _after_predicates(text: str, i: int) -> int | None:
    """Index after the predicates ``[...]...`` starting at ``text[i]`` (``i`` itself when none)."""
    while i < len(text) and text[i] == "[":
        depth, j = 0, i
        while j < len(text):
            ch = text[j]
            if ch in "'\"":
                end = _skip_literal(text, j)
                if end is None:
                    return None
                j = end
                continue
            if ch in _OPEN:
                depth += 1
            elif ch in _CLOSE:
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(text):
            return None
        i = j + 1
    return i


def leading_step(path: str, *, prefix: str = "") -> tuple[str, str, str] | None:
    """Split ``prefix NameTest[pred]...rest`` into (name test, predicates, rest), or None.

    The name test is ``*`` or a (prefixed) name; ``rest`` is what follows the step's predicates
    ("" or text starting with ``/``). Anything else (an axis, a function call) gives None.
    """
    if not path.startswith(prefix):
        return None
    i = len(prefix)
    if path.startswith("*", i):
        name, j = "*", i + 1
    else:
        match = _QNAME_RE.match(path, i)
        if match is None:
            return None
        name, j = match.group(0), match.end()
        if path.startswith("::", j) or path.startswith("(", j):
            return None
    end = _after_predicates(path, j)
    if end is None:
        return None
    rest = path[end:]
    if rest and not rest.startswith("/"):
        return None
    return name, path[j:end], rest


def call_spans(expr: str, function: str) -> list[tuple[int, int, str]] | None:
    """Every unprefixed call ``function(arg)`` outside literals: (start, end, argument text).

    None when the expression cannot be lexed (the caller leaves it alone).
    """
    if _has_comment(expr) is not False:
        return None
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch in "'\"":
            end = _skip_literal(expr, i)
            if end is None:
                return None
            i = end
            continue
        if expr.startswith(function, i) and (i == 0 or not re.match(r"[\w.:$-]", expr[i - 1])):
            j = i + len(function)
            while j < len(expr) and expr[j].isspace():
                j += 1
            if j < len(expr) and expr[j] == "(":
                close = _matching_paren(expr, j)
                if close is None:
                    return None
                spans.append((i, close + 1, expr[j + 1:close]))
                i = close + 1
                continue
        i += 1
    return spans


def _matching_paren(text: str, i: int) -> int | None:
    depth, j = 0, i
    while j < len(text):
        ch = text[j]
        if ch in "'\"":
            end = _skip_literal(text, j)
            if end is None:
                return None
            j = end
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return None
