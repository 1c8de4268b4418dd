"""The ANS compiled schematrons, rewritten to skip the work their official run repeats.

The ISO skeleton turns each schematron pattern into an XSLT mode and walks the *whole*
document once per pattern (IHE.sch has 231 patterns: 231 walks of ~1,000 elements, plus as
many walks in the default mode that print nothing), and each transformation parses the value
sets it reads again. For a 20-result report that is most of the ~0.8 s the six schematrons take.
The rewrite below keeps every rule template and every assertion as the ANS wrote them and
changes only how nodes and value sets reach them:

R1  ``<svrl:active-pattern><xsl:apply-templates/>``: the default mode has only the ``/`` and
    ``text()`` templates (checked), so this walk writes nothing. Dropped.
R2  ``<svrl:fired-rule>``: a constant element per fired rule, read by nobody here. Dropped.
R3  Per pattern, instead of walking every element, apply the pattern's mode directly to the
    nodes some rule of the pattern matches, in document order: the union of the rules' match
    patterns evaluated as expressions (a node matches pattern P iff it is in ``root//(P)``),
    kept to the kinds the official walk visits (elements and the document node). Each such
    node then meets the very same template rules, with their priorities, so the same rule
    fires; the walk's other nodes met only the no-output default rules. The rules' trailing
    ``apply-templates select="*"`` recursion is removed. A mode is left as the ANS compiled
    it when any of its rules does something this argument does not cover (see
    ``_mode_is_rewritable``).
R4  ``*[cda:templateId/@root = 'X']`` as the first step of such an expression becomes
    ``key('gate-templateId', 'X')``, a key on ``hl7:templateId/@root`` built once per document.
R5  ``//hl7:ClinicalDocument[...]/…``, repeated in 766 StrucMin rules, is evaluated once
    into a local variable (``E1/E2`` is ``(E1)/E2``).
R11 The selection of R3 shares the steps its expressions have in common:
    ``A/B | A/C`` is evaluated as ``A/(B | C)`` and ``A | A/B`` as ``A/(. | B)`` (the same
    nodes, in document order, without duplicates: ``/`` is associative on nodes and a step
    is evaluated once per context node either way). StrucMin's 616 expressions then walk
    their shared ``recordTarget/patientRole/…`` prefixes once (a sixth of its time).
R6, R8, R9  Value sets: parsed once per worker process instead of once per document, looked
    up by key, their availability listed once (:mod:`connector.validation.valuesets`).
R10 A pattern whose rules can neither fail nor raise is not run: every assertion and report in
    its rules has a constant role that does not fail (warning, info), every test is ``not(.)``
    and every text names the document's structure only (``name(.)``, its location). StrucMin's
    closed-template pattern is one (148 "this element is not defined" warnings; half of its
    time). The gate's verdict counts failing assertions only (:mod:`.svrl`), so it cannot
    change; the pattern's ``svrl:active-pattern`` is marked ``gate:verdict-free`` so that the
    differential compares every other pattern entry by entry and checks that the official run
    never failed in this one.
R7  Not for speed: every ``xsl:value-of`` in an assertion's text is wrapped in a
    ``<gate:value>`` element, so the gate can print ``…`` where the ANS text quotes the
    document (INS, birth date, result values). The text with values is unchanged.

That the rewritten stylesheets give the same SVRL failed asserts and reports as the official
ones, in the same order with the same texts, is tested over generated documents, valid and
broken (tests/validation/test_differential.py); the engine also falls back to the
official stylesheet for a schematron whose rewritten form raises an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from .svrl import NON_FAILING_ROLES, VERDICT_FREE
from .valuesets import GATE_NS, documents_as_parameters
from .xpath_text import leading_step, split_top_level

__all__ = ["GATE_NS", "REWRITE_VERSION", "Rewrite", "rewrite_stylesheet", "rewritten_path"]

REWRITE_VERSION = 4  # part of the rewritten file's name: a new rewrite never reuses an old file
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"
HL7 = "urn:hl7-org:v3"
TEMPLATE_ID_KEY = "gate-templateId"
# The skeleton's two traversals: elements only, or elements, comments and processing instructions.
WALKS = frozenset({"*", "*|comment()|processing-instruction()"})
# Patterns that could match a node kind the walk skips, or mean something else in an expression.
_UNSAFE_IN_PATTERN = re.compile(r"current\(\)|comment\(\)|processing-instruction|text\(\)|node\(\)|namespace|\$gate-")
# Assertion text that names the document's structure, never its content: kept verbatim.
STRUCTURAL_VALUES = frozenset({"name()", "name(.)", "local-name()", "local-name(.)"})
_MODE = re.compile(r"M\d+")
_STRING = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rewrite:
    """What the rewrite did to one stylesheet (for the logs and the tests)."""

    patterns_selected: int  # R3: patterns reached by selecting their nodes
    patterns_walked: int  # patterns left with the official walk
    patterns_verdict_free: int = 0  # R10: patterns not run, as they can neither fail nor raise
    documents: tuple[tuple[str, str], ...] = ()  # R6: (parameter name, URI relative to the stylesheet)
    keyed_lookups: int = 0  # R8
    availability_checks: int = 0  # R9


def _q(tag: str) -> str:
    return f"{{{XSL}}}{tag}"


def rewrite_stylesheet(tree: etree._ElementTree) -> Rewrite:
    """Rewrite a compiled ANS schematron (``.compiled.xsl``) in place; see the module docstring."""
    root = tree.getroot()
    if root.tag != _q("stylesheet") or _declares_defaults(root) or _has_modules_or_stripping(root):
        return Rewrite(patterns_selected=0, patterns_walked=0, documents=())
    main = [t for t in root.findall(_q("template")) if t.get("match") == "/" and t.get("mode") is None]
    unmoded = {t.get("match") for t in root.findall(_q("template")) if t.get("mode") is None}
    if len(main) != 1 or unmoded != {"/", "text()"}:
        return Rewrite(patterns_selected=0, patterns_walked=0, documents=())
    _drop_default_walks(main[0])  # R1
    _drop_fired_rules(root)  # R2
    modes, calls = _modes(root), _outside_calls(root)  # R10 and R3 change calls in main only, never rules
    verdict_free = _drop_verdict_free_patterns(main[0], modes, calls)  # R10
    selected, walked = _select_pattern_nodes(root, main[0], modes, calls)  # R3, R4, R5
    value_sets = documents_as_parameters(root)  # R6, R8, R9
    _mark_values(root)  # R7
    return Rewrite(patterns_selected=selected, patterns_walked=walked, patterns_verdict_free=verdict_free,
                   documents=value_sets.documents,
                   keyed_lookups=value_sets.keyed_lookups, availability_checks=value_sets.availability_checks)


def _declares_defaults(root: etree._Element) -> bool:
    """Defaults that would change what a moved expression means: none in the ANS kit."""
    attrs = ("xpath-default-namespace", "default-collation", "default-mode")
    return any(el.get(a) is not None for el in root.iter(etree.Element) for a in attrs)


def _has_modules_or_stripping(root: etree._Element) -> bool:
    """Templates in another module, or whitespace stripping of ``doc()`` documents: none in the kit."""
    return any(root.find(_q(tag)) is not None for tag in ("include", "import", "strip-space"))


def _drop_default_walks(main: etree._Element) -> None:
    for pattern in main.iter(f"{{{SVRL}}}active-pattern"):
        for walk in pattern.findall(_q("apply-templates")):
            if walk.get("select") is None and walk.get("mode") is None and len(walk) == 0:
                pattern.remove(walk)


def _drop_fired_rules(root: etree._Element) -> None:
    for fired in list(root.iter(f"{{{SVRL}}}fired-rule")):
        constant = len(fired) == 0 and not any("{" in v for v in fired.attrib.values())
        parent = fired.getparent()
        if constant and parent is not None:
            parent.remove(fired)


# ---------------------------------------------------------------------------------- R3, R4, R5


@dataclass(slots=True)
class _Mode:
    walk: str = ""  # the select of the defaults' recursion
    rules: list[etree._Element] | None = None
    defaults: list[etree._Element] | None = None


def _modes(root: etree._Element) -> dict[str, _Mode]:
    modes: dict[str, _Mode] = {}
    for template in root.findall(_q("template")):
        name = template.get("mode") or ""
        if not _MODE.fullmatch(name):
            continue
        mode = modes.setdefault(name, _Mode(rules=[], defaults=[]))
        assert mode.rules is not None and mode.defaults is not None
        if (template.get("match"), template.get("priority")) in (("text()", "-1"), ("@*|node()", "-2")):
            mode.defaults.append(template)
            recursion = template.find(_q("apply-templates"))
            if recursion is not None:
                mode.walk = recursion.get("select") or ""
        else:
            mode.rules.append(template)
    return modes


def _defaults_are_the_skeletons(name: str, mode: _Mode) -> bool:
    """The mode's fallbacks write nothing: ``text()`` is empty, ``@*|node()`` only recurses."""
    if mode.walk not in WALKS or mode.defaults is None or len(mode.defaults) != 2:
        return False
    for default in mode.defaults:
        children = list(default)
        if default.get("match") == "text()" and children:
            return False
        if default.get("match") == "@*|node()" and (len(children) != 1 or not _is_recursion(children[0], name, mode)):
            return False
    return True


def _mode_is_rewritable(name: str, mode: _Mode, main: etree._Element) -> bool:
    """Every rule ends with the walk's own recursion, nothing else recurses in this mode, and its
    pattern means the same in the main template (same namespace prefixes) where it is moved."""
    if not mode.rules or not _defaults_are_the_skeletons(name, mode):
        return False
    for rule in mode.rules:
        match = rule.get("match") or ""
        if not match or _UNSAFE_IN_PATTERN.search(_STRING.sub("''", match)) or rule.get("name"):
            return False
        if dict(rule.nsmap) != dict(main.nsmap) or rule.get("{http://www.w3.org/XML/1998/namespace}base"):
            return False
        elements = [c for c in rule if isinstance(c.tag, str)]
        if not elements or not _is_recursion(elements[-1], name, mode) or (elements[-1].tail or "").strip():
            return False
        if sum(1 for a in rule.iter(_q("apply-templates")) if a.get("mode") == name) != 1:
            return False
    return True


def _is_recursion(element: etree._Element, name: str, mode: _Mode) -> bool:
    return (element.tag == _q("apply-templates") and element.get("mode") == name
            and element.get("select") == mode.walk and len(element) == 0)


def _outside_calls(root: etree._Element) -> dict[str, int]:
    """How often each mode is applied from anywhere but its own rules (more than once: left alone)."""
    calls: dict[str, int] = {}
    for call in root.iter(_q("apply-templates")):
        owner = next(call.iterancestors(_q("template")), None)
        if owner is not None and owner.get("mode") != call.get("mode"):
            calls[call.get("mode") or ""] = calls.get(call.get("mode") or "", 0) + 1
    return calls


def _select_pattern_nodes(root: etree._Element, main: etree._Element, modes: dict[str, _Mode],
                          calls: dict[str, int]) -> tuple[int, int]:
    prefixes: dict[str, str] = {}
    empty_walks: list[etree._Element] = []
    uses_key = False
    selected = walked = 0
    for call in main.iter(_q("apply-templates")):
        name = call.get("mode") or ""
        mode = modes.get(name)
        if mode is None or call.get("select") != "/":
            continue
        if not mode.rules and calls.get(name) == 1 and _defaults_are_the_skeletons(name, mode):
            empty_walks.append(call)  # a pattern without rules (StrucMin has one): its walk writes nothing
            selected += 1
            continue
        rewritable = calls.get(name) == 1 and _mode_is_rewritable(name, mode, main)
        expressions = _candidates(mode, root.nsmap, prefixes) if rewritable else None
        if expressions is None:
            walked += 1
            continue
        assert mode.rules is not None and mode.defaults is not None
        for rule in mode.rules:
            rule.remove([c for c in rule if isinstance(c.tag, str)][-1])
        for default in mode.defaults:
            for child in list(default):
                default.remove(child)
        uses_key = uses_key or any(TEMPLATE_ID_KEY in e for e in expressions)
        call.set("select", f"({_factored(expressions)})[self::* or self::document-node()]")
        selected += 1
    for call in empty_walks:
        parent = call.getparent()
        if parent is not None:
            parent.remove(call)
    for index, (expression, variable) in enumerate(prefixes.items()):
        main.insert(index, etree.Element(_q("variable"), name=variable, select=expression))
    if uses_key:
        # An EQName: the key must not depend on which prefix a stylesheet binds to the HL7 namespace.
        key = etree.Element(_q("key"), name=TEMPLATE_ID_KEY, match="*", use=f"Q{{{HL7}}}templateId/@root")
        root.insert(0, key)
    return selected, walked


def _candidates(mode: _Mode, nsmap: dict[str | None, str], prefixes: dict[str, str]) -> list[str] | None:
    assert mode.rules is not None
    out: list[str] = []
    for rule in mode.rules:
        alternatives = split_top_level(rule.get("match") or "")
        if alternatives is None:
            return None
        for alternative in alternatives:
            expression = _as_expression(alternative, nsmap, prefixes)
            if expression is None:
                return None
            out.append(expression)
    return out


@dataclass(slots=True)
class _Step:
    """A node of R11's tree of steps: whether an expression ends here, and the steps that follow."""

    ends: bool = False
    next: dict[str, _Step] | None = None


def _factored(expressions: list[str]) -> str:
    """``expressions`` as one union with their common leading steps written once (R11)."""
    alone: list[str] = []  # absolute paths and ``//``: left as they are
    tree: dict[str, _Step] = {}
    for expression in expressions:
        steps = split_top_level(expression, "/")
        if steps is None or any(not step for step in steps):
            alone.append(expression)
            continue
        level = tree
        for i, step in enumerate(steps):
            node = level.setdefault(step, _Step())
            if i == len(steps) - 1:
                node.ends = True
            else:
                node.next = node.next if node.next is not None else {}
                level = node.next
    return " | ".join(alone + _union(tree))


def _union(level: dict[str, _Step]) -> list[str]:
    out = []
    for step, node in level.items():
        if not node.next:
            out.append(step)
            continue
        rest = (["."] if node.ends else []) + _union(node.next)
        out.append(f"{step}/({' | '.join(rest)})" if len(rest) > 1 else f"{step}/{rest[0]}")
    return out


def _as_expression(pattern: str, nsmap: dict[str | None, str], prefixes: dict[str, str]) -> str | None:
    """The nodes ``pattern`` matches in the document, as an expression evaluated at its root."""
    if pattern == "/":
        return "/"
    if pattern.startswith("//"):
        step = leading_step(pattern, prefix="//")
        if step is None or not step[2]:
            return pattern
        head = pattern[: len(pattern) - len(step[2])]  # R5: //Name[...] shared by many rules
        variable = prefixes.setdefault(head, f"gate-prefix-{len(prefixes)}")
        return f"${variable}{step[2]}"
    if pattern.startswith("/"):
        return pattern
    if not re.match(r"[A-Za-z_*@]", pattern):
        return None
    step = leading_step(pattern)
    if step is not None:
        keyed = _keyed(step, nsmap)  # R4
        if keyed is not None:
            return keyed
    return "//" + pattern


_TEMPLATE_ID_TEST = re.compile(
    r"""\[\s*([A-Za-z_][\w.-]*):templateId/@root\s*=\s*('[^']*'|"[^"]*")\s*\]""")


def _keyed(step: tuple[str, str, str], nsmap: dict[str | None, str]) -> str | None:
    name, predicates, rest = step
    match = _TEMPLATE_ID_TEST.fullmatch(predicates)
    if match is None or nsmap.get(match.group(1)) != HL7:
        return None
    head = f"key('{TEMPLATE_ID_KEY}', {match.group(2)})"
    return head + ("" if name == "*" else f"[self::{name}]") + rest


# ---------------------------------------------------------------------------------- R10

# What a verdict-free rule may hold besides literal SVRL: the skeleton's assertion scaffolding.
_SCAFFOLDING = frozenset({"choose", "when", "otherwise", "if", "attribute", "text", "value-of", "apply-templates"})
_CANNOT_FAIL = frozenset({"not(.)"})  # false on every node a rule fires on: the assertion always reports
_LOCATION = (".", "schematron-select-full-path")  # (select, mode) of the skeleton's location call


def _drop_verdict_free_patterns(main: etree._Element, modes: dict[str, _Mode], calls: dict[str, int]) -> int:
    dropped = 0
    for call in list(main.iter(_q("apply-templates"))):
        name = call.get("mode") or ""
        mode = modes.get(name)
        pattern = call.getprevious()
        if (mode is None or not mode.rules or call.get("select") != "/" or calls.get(name) != 1
                or pattern is None or pattern.tag != f"{{{SVRL}}}active-pattern"
                or not _defaults_are_the_skeletons(name, mode)
                or not all(_verdict_free(rule, name, mode) for rule in mode.rules)):
            continue
        pattern.set(VERDICT_FREE, "true")
        _remove_keeping_tail(call)
        dropped += 1
    return dropped


def _verdict_free(rule: etree._Element, name: str, mode: _Mode) -> bool:
    """The rule can write no failing assertion and raise no error (see R10)."""
    elements = [c for c in rule if isinstance(c.tag, str)]
    if not elements or not _is_recursion(elements[-1], name, mode):
        return False
    for top in elements[:-1]:
        for node in top.iter(etree.Element):
            if any("{" in value for value in node.attrib.values()):  # an attribute value template
                return False
            if node.tag in (f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report") and not _reports_only(node):
                return False
            if not str(node.tag).startswith(f"{{{XSL}}}"):
                continue
            local = etree.QName(node).localname
            if local not in _SCAFFOLDING:
                return False
            if local == "apply-templates" and ((node.get("select"), node.get("mode")) != _LOCATION or len(node)):
                return False
            if local == "value-of" and " ".join((node.get("select") or "").split()) not in STRUCTURAL_VALUES:
                return False
            if local in ("when", "if") and " ".join((node.get("test") or "").split()) not in _CANNOT_FAIL:
                return False
    return True


def _reports_only(assertion: etree._Element) -> bool:
    """Its role is a constant that does not fail (an assertion without a role fails)."""
    roles = [a for a in assertion.findall(_q("attribute")) if a.get("name") == "role"]
    if len(roles) != 1 or len(roles[0]) or assertion.get("role") is not None:
        return False
    return (roles[0].text or "").strip().lower() in NON_FAILING_ROLES


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


# ---------------------------------------------------------------------------------- R7


def _mark_values(root: etree._Element) -> None:
    for kind in ("failed-assert", "successful-report"):
        for report in root.iter(f"{{{SVRL}}}{kind}"):
            for value in list(report.iter(_q("value-of"))):
                inside_attribute = next(value.iterancestors(_q("attribute")), None) is not None
                if inside_attribute or (value.get("select") or "").strip() in STRUCTURAL_VALUES:
                    continue
                parent = value.getparent()
                if parent is None:
                    continue
                marker = etree.Element(f"{{{GATE_NS}}}value", nsmap={"gate": GATE_NS})
                parent.replace(value, marker)
                marker.append(value)
                marker.tail, value.tail = value.tail, None


def rewritten_path(compiled: Path) -> Path:
    """Where the rewrite of ``X.compiled.xsl`` lives: beside it, so relative URIs still resolve."""
    stem = compiled.name.removesuffix(".compiled.xsl")
    return compiled.with_name(f"{stem}.gate-v{REWRITE_VERSION}.xsl")
