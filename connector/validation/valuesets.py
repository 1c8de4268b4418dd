"""Value sets in the rewritten schematrons: read once per worker process, looked up by key.

Part of the rewrite of :mod:`connector.validation.fastpath`:

R6  ``doc('constant')`` (and ``doc(concat($constant, 'constant'))``) becomes a global parameter
    bound once per worker process to the same file, parsed by the same Saxon. The official run
    parses each value set again in every transformation (the UCUM table, 250 KB, costs ~18 ms).
R8  ``$value-set//name[text() = string($v)]`` (or a string literal) becomes
    ``key('…', string($v), $value-set)``, a key on ``name`` by ``text()`` over that document:
    both are the ``name`` elements of the document, in document order, with a text child equal to
    the string (a general comparison of untyped text with a string is a string comparison; keys
    compare strings the same way, with the same default collation). Not when a predicate follows,
    since ``//name[…][2]`` counts per parent and a key's result does not.
R9  ``doc-available(concat($constant, $v, 'suffix'))``, for a ``$v`` made only of letters,
    digits, ``.``, ``_`` and ``-``, names a file inside the constant folder: whether it parses is
    computed once per worker (the engine lists that folder) and passed as ``|name|name|``. Any
    other ``$v`` (a ``/``, ``%`` or ``:`` could lead elsewhere) still calls ``doc-available``.
    In the kit, terminologie.sch asks this for every code of the document (no RDF file exists).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from .xpath_text import call_spans

__all__ = ["AVAILABLE_DIR", "AVAILABLE_SUFFIX", "GATE_NS", "HREF", "ValueSetRewrite", "documents_as_parameters"]

XSL = "http://www.w3.org/1999/XSL/Transform"
XS = "http://www.w3.org/2001/XMLSchema"
GATE_NS = "urn:connector:validation:gate"
HREF = f"{{{GATE_NS}}}href"  # on an R6 parameter: the value set's URI, relative to the stylesheet
AVAILABLE_DIR = f"{{{GATE_NS}}}available-dir"  # on an R9 parameter: the folder the engine lists…
AVAILABLE_SUFFIX = f"{{{GATE_NS}}}available-suffix"  # …for files with this suffix that parse
_ATTRIBUTES = ("select", "test", "match")
_LITERAL = r"'[^']*'|\"[^\"]*\""
_QNAME = r"[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?"
_LOOKUP = re.compile(rf"\$(gate-doc-\d+)//({_QNAME})\[\s*text\(\)\s*=\s*(string\(\$[\w.-]+\)|{_LITERAL})\s*\](?!\s*\[)")
_AVAILABLE_ARGUMENT = re.compile(rf"concat\(\s*\$([\w.-]+)\s*,\s*\$([\w.-]+)\s*,\s*({_LITERAL})\s*\)")


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueSetRewrite:
    documents: tuple[tuple[str, str], ...]  # R6: (parameter, URI relative to the stylesheet)
    keyed_lookups: int  # R8
    availability_checks: int  # R9


def _q(tag: str) -> str:
    return f"{{{XSL}}}{tag}"


def _instructions(root: etree._Element) -> list[etree._Element]:
    """XSLT elements only: an attribute of a literal result element (``svrl:failed-assert/@test``) is output."""
    return [el for el in root.iter(etree.Element) if etree.QName(el).namespace == XSL]


def documents_as_parameters(root: etree._Element) -> ValueSetRewrite:
    constants = _constant_variables(root)
    documents = _parameters_for_documents(root, constants)
    keys = _keyed_lookups(root)
    available = _availability(root, constants)
    return ValueSetRewrite(documents=documents, keyed_lookups=keys, availability_checks=available)


def _parameters_for_documents(root: etree._Element, constants: dict[str, str]) -> tuple[tuple[str, str], ...]:
    documents: dict[str, str] = {}  # URI → parameter name
    for element in _instructions(root):
        for attribute in _ATTRIBUTES:
            text = element.get(attribute)
            if not text or "doc" not in text:
                continue
            spans = call_spans(text, "doc")
            if not spans:
                continue
            out, last = [], 0
            for start, end, argument in spans:
                uri = _constant_uri(argument, constants)
                if uri is None:
                    continue
                name = documents.setdefault(uri, f"gate-doc-{len(documents)}")
                out.append(text[last:start] + "$" + name)
                last = end
            if out:
                element.set(attribute, "".join(out) + text[last:])
    for index, (uri, name) in enumerate(documents.items()):
        param = etree.Element(_q("param"), {"name": name, "required": "yes", "as": "document-node()", HREF: uri},
                              nsmap={"gate": GATE_NS})
        root.insert(index, param)
    return tuple((name, uri) for uri, name in documents.items())


def _constant_variables(root: etree._Element) -> dict[str, str]:
    """Global variables bound to a string literal and never shadowed by a local one.

    A global parameter with a literal default counts (a schema-level ``let`` compiles to one):
    neither the official run nor the gate ever sets it.
    """
    declared: dict[str, int] = {}
    for element in root.iter(_q("variable"), _q("param")):
        name = element.get("name") or ""
        declared[name] = declared.get(name, 0) + 1
    out = {}
    for variable in [*root.findall(_q("variable")), *root.findall(_q("param"))]:
        name, select = variable.get("name") or "", variable.get("select") or ""
        if declared.get(name) == 1 and re.fullmatch(r"'[^']*'", select):
            out[name] = select[1:-1]
    return out


def _constant_uri(argument: str, constants: dict[str, str]) -> str | None:
    argument = argument.strip()
    if re.fullmatch(_LITERAL, argument):
        return argument[1:-1]
    match = re.fullmatch(rf"concat\(\s*\$([\w.-]+)\s*,\s*({_LITERAL})\s*\)", argument)
    if match and match.group(1) in constants:
        return constants[match.group(1)] + match.group(2)[1:-1]
    return None


def _keyed_lookups(root: etree._Element) -> int:
    keys: dict[tuple[str, str], str] = {}  # (document parameter, element name) → key name
    count = 0
    for element in _instructions(root):
        for attribute in _ATTRIBUTES:
            text = element.get(attribute)
            if not text or "$gate-doc-" not in text:
                continue

            def keyed(match: re.Match[str], element: etree._Element = element) -> str:
                nonlocal count
                document, name, value = match.groups()
                prefix = name.partition(":")[0] if ":" in name else None
                if prefix is not None and element.nsmap.get(prefix) != root.nsmap.get(prefix):
                    return match.group(0)  # the key is declared at the top: the prefix must mean the same there
                key = keys.setdefault((document, name), f"gate-key-{len(keys)}")
                count += 1
                return f"key('{key}', {value}, ${document})"

            rewritten = _LOOKUP.sub(keyed, text)
            if rewritten != text:
                element.set(attribute, rewritten)
    for (_, name), key in keys.items():
        root.insert(0, etree.Element(_q("key"), name=key, match=name, use="text()"))
    return count


def _availability(root: etree._Element, constants: dict[str, str]) -> int:
    parameters: dict[tuple[str, str], str] = {}  # (folder, suffix) → parameter name
    count = 0
    for element in _instructions(root):
        for attribute in _ATTRIBUTES:
            text = element.get(attribute)
            spans = call_spans(text, "doc-available") if text and "doc-available" in text else None
            if not text or not spans:
                continue
            out, last = [], 0
            for start, end, argument in spans:
                match = _AVAILABLE_ARGUMENT.fullmatch(argument.strip())
                if match is None or match.group(1) not in constants:
                    continue
                folder, variable, suffix = constants[match.group(1)], match.group(2), match.group(3)[1:-1]
                name = parameters.setdefault((folder, suffix), f"gate-available-{len(parameters)}")
                out.append(text[last:start] + (
                    f"(if (matches(string(${variable}), '^[A-Za-z0-9._\\-]+$')) "
                    f"then contains(${name}, concat('|', string(${variable}), '|')) "
                    f"else {text[start:end]})"))
                last = end
                count += 1
            if out:
                element.set(attribute, "".join(out) + text[last:])
    for (folder, suffix), name in parameters.items():
        root.insert(0, etree.Element(_q("param"), {"name": name, "required": "yes", "as": f"Q{{{XS}}}string",
                                                   AVAILABLE_DIR: folder, AVAILABLE_SUFFIX: suffix},
                                     nsmap={"gate": GATE_NS}))
    return count
