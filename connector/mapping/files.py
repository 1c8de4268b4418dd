"""Reading ``mappings/*.yaml`` with line numbers, into immutable mapping entries.

The reader walks ``yaml.compose`` nodes (not ``safe_load``) so that every problem names
its file, line and key, duplicate keys are seen (``safe_load`` silently keeps the last
one), and scalars stay strings (``NO`` is a local code, not ``False``; ``0.01`` is a
Decimal, not a float). It never raises: it collects :class:`Finding`s, and the caller
decides (``Mappings.load`` raises on the first error, the lint reports them all).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from connector.model import Coded, ReferenceRange

from .chapters import CHAPTER_LABELS, chapter_coded
from .loinc import LOINC_OID, LoincTable, check_digit_ok
from .units import ucum_trap
from .values import parse_range

__all__ = ["VALUE_TYPES", "BatteryMapping", "Finding", "ReadResult", "TestMapping", "mapping_files", "read_directory"]

VALUE_TYPES = ("numeric", "coded", "text")
TOP_KEYS = frozenset({"chapter", "subchapter", "tests", "batteries", "units"})
TEST_KEYS = frozenset({"loinc", "display", "unit", "convert", "chapter", "subchapter", "type", "range"})
BATTERY_KEYS = frozenset({"loinc", "display"})
# Each mapping file is a short hand-edited list; a bigger one is a mistake (a LOINC table dropped here).
MAX_MAPPING_FILE_BYTES = 2 * 1024 * 1024
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)  # no slots: vars() gives the JSON output of the CLI
class Finding:
    """One lint result: where (file, line, key), how bad, and what is expected."""

    path: str
    line: int | None
    key: str
    severity: str  # "error" | "warning"
    message: str

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line is not None else "")
        if self.key:
            return f"{where} [{self.key}] {self.severity}: {self.message}"
        return f"{where} {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class TestMapping:
    """What one local test code becomes in the document."""

    __test__ = False  # not a pytest test class despite its name

    local_code: str
    loinc: Coded | None  # None: sent with the local code in <translation> (e.g. CRP)
    display: str
    unit: str  # UCUM; "" for coded/text results
    chapter: Coded
    subchapter: Coded | None = None
    value_type: str = "numeric"
    conversions: tuple[tuple[str, Decimal], ...] = ()  # (unit as the SIL sends it, factor)
    reference_range: ReferenceRange | None = None  # overrides OBX-7, already in ``unit``
    source: str = ""  # "biochimie.yaml:12", for messages

    def factor_for(self, sent_unit: str) -> Decimal | None:
        for spelling, factor in self.conversions:
            if spelling == sent_unit:
                return factor
        return None


@dataclass(frozen=True, slots=True)
class BatteryMapping:
    local_code: str
    loinc: Coded | None
    display: str
    source: str = ""


@dataclass
class ReadResult:
    tests: dict[str, TestMapping] = field(default_factory=dict)
    batteries: dict[str, BatteryMapping] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    version: str = ""
    files: tuple[Path, ...] = ()
    # LOINC codes met, with (file, line, key) for the lint
    # (code, path, line, key, unit, unit line)
    loinc_refs: list[tuple[str, str, int, str, str, int]] = field(default_factory=list)
    unit_refs: list[tuple[str, str, int, str]] = field(default_factory=list)  # (unit, path, line, key)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def mapping_files(directory: Path) -> list[Path]:
    """``*.yaml`` / ``*.yml`` of the directory (not recursive), sibling ``*.test.yaml`` excluded."""
    files = [p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(p for p in files if not p.name.endswith((".test.yaml", ".test.yml")))


def read_directory(directory: Path, loinc: LoincTable) -> ReadResult:
    out = ReadResult()
    if not directory.is_dir():
        out.findings.append(Finding(str(directory), None, "", "error", "mapping directory not found"))
        return out
    digest = hashlib.sha256()
    out.files = tuple(mapping_files(directory))
    for path in out.files:
        data = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + data + b"\0")
        _FileReader(path, loinc, out).read(data)
    out.version = digest.hexdigest()[:12]
    return out


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _is_null(node: yaml.Node) -> bool:
    """YAML's own null (``null``, ``~``, nothing) or an empty text; a quoted ``'null'`` is the word null."""
    return isinstance(node, yaml.ScalarNode) and (node.tag == _NULL_TAG or not node.value.strip())


class _FileReader:
    def __init__(self, path: Path, loinc: LoincTable, out: ReadResult) -> None:
        self.path, self.name, self.loinc, self.out = path, str(path), loinc, out

    def error(self, node: yaml.Node | int | None, key: str, message: str, severity: str = "error") -> None:
        line = _line(node) if isinstance(node, yaml.Node) else node
        self.out.findings.append(Finding(self.name, line, key, severity, message))

    def read(self, data: bytes) -> None:
        if len(data) > MAX_MAPPING_FILE_BYTES:
            return self.error(None, "", f"file larger than {MAX_MAPPING_FILE_BYTES} bytes")
        try:
            root = yaml.compose(data.decode("utf-8"), Loader=_LOADER)
        except UnicodeDecodeError:
            return self.error(None, "", "not UTF-8 text: save the file as UTF-8")
        except RecursionError:
            return self.error(None, "", "YAML nested too deeply")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or "invalid YAML"
            return self.error(mark.line + 1 if mark else None, "", f"YAML syntax error: {problem}")
        if root is None:
            return self.error(None, "", "empty mapping file", "warning")
        top = self.mapping(root, "")
        if top is None:
            return
        chapter = self.chapter(top.get("chapter"), "chapter")
        subchapter = self.chapter(top.get("subchapter"), "subchapter")
        if "units" in top:
            self.read_units(top["units"][1])
        if "batteries" in top:
            self.read_batteries(top["batteries"][1])
        if "tests" in top:
            self.read_tests(top["tests"][1], chapter, subchapter)

    # -- generic helpers

    def mapping(
        self, node: yaml.Node, key: str, allowed: frozenset[str] | None = TOP_KEYS
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, key, "expected a mapping (key: value lines)")
            return None
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for knode, vnode in node.value:
            name = str(knode.value).strip() if isinstance(knode, yaml.ScalarNode) else ""
            full = f"{key}.{name}" if key else name
            if not name:
                self.error(knode, key, "expected a plain key")
            elif name in items:
                self.error(knode, full, f"duplicate key (first at line {_line(items[name][0])})")
            elif allowed is not None and name not in allowed:
                self.error(knode, full, f"unknown key; expected one of: {', '.join(sorted(allowed))}")
            else:
                items[name] = (knode, vnode)
        return items

    def scalar(self, node: yaml.Node, key: str) -> str | None:
        if _is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, key, "expected a single value")
            return None
        return str(node.value).strip()

    def chapter(self, entry: tuple[yaml.Node, yaml.Node] | None, key: str) -> Coded | None:
        if entry is None:
            return None
        code = self.scalar(entry[1], key)
        if not code:
            return None
        if code not in CHAPTER_LABELS:
            self.error(entry[1], key, f"'{code}' is not a known CR-BIO chapter code (terminology.md §2)", "warning")
        label = CHAPTER_LABELS.get(code) or ""
        if not label and (concept := self.loinc.get(code)):
            label = concept.display
        return chapter_coded(code, label)

    def loinc_code(self, node: yaml.Node, key: str, unit: str = "", unit_line: int = 0) -> str | None:
        code = self.scalar(node, key)
        if code is None:
            return None
        if not check_digit_ok(code):
            self.error(node, key, f"'{code}' is not a LOINC code (NNNNN-N with a valid check digit)")
            return None
        self.out.loinc_refs.append((code, self.name, _line(node), key, unit, unit_line))
        return code

    def ucum(self, node: yaml.Node, key: str) -> str:
        unit = self.scalar(node, key) or ""
        if trap := ucum_trap(unit):
            self.error(node, key, trap)
        elif unit:
            self.out.unit_refs.append((unit, self.name, _line(node), key))
        return unit

    # -- sections

    def read_units(self, node: yaml.Node) -> None:
        items = self.mapping(node, "units", None) or {}
        for spelling, (knode, vnode) in items.items():
            key = f"units.{spelling}"
            if spelling == "UI/L":
                self.error(knode, key, "'UI/L' is ambiguous ([IU]/L for hormones, U/L for enzymes): "
                           "set it per test with `convert:`")
                continue
            target = self.ucum(vnode, key)
            if spelling in self.out.units and self.out.units[spelling] != target:
                self.error(knode, key, "unit spelling already defined in another file with another UCUM unit")
            self.out.units[spelling] = target

    def read_batteries(self, node: yaml.Node) -> None:
        for code, (knode, vnode) in (self.mapping(node, "batteries", None) or {}).items():
            key = f"batteries.{code}"
            if code in self.out.batteries:
                self.error(knode, key, f"battery code already mapped at {self.out.batteries[code].source}")
                continue
            loinc_code, display = None, ""
            if isinstance(vnode, yaml.ScalarNode):
                display = self.scalar(vnode, key) or ""
            else:
                fields = self.mapping(vnode, key, BATTERY_KEYS) or {}
                if "loinc" in fields:
                    loinc_code = self.loinc_code(fields["loinc"][1], f"{key}.loinc")
                if "display" in fields:
                    display = self.scalar(fields["display"][1], f"{key}.display") or ""
            if not display and loinc_code and (concept := self.loinc.get(loinc_code)):
                display = concept.display
            loinc = Coded(loinc_code, display, LOINC_OID) if loinc_code else None
            self.out.batteries[code] = BatteryMapping(code, loinc, display, f"{self.path.name}:{_line(knode)}")

    def read_tests(self, node: yaml.Node, chapter: Coded | None, subchapter: Coded | None) -> None:
        for code, (knode, vnode) in (self.mapping(node, "tests", None) or {}).items():
            key = f"tests.{code}"
            if code in self.out.tests:
                self.error(knode, key, f"local code already mapped at {self.out.tests[code].source}")
                continue
            fields = self.mapping(vnode, key, TEST_KEYS)
            if fields is not None and (entry := self.read_test(code, knode, key, fields, chapter, subchapter)):
                self.out.tests[code] = entry

    def read_test(self, code: str, knode: yaml.Node, key: str, f: dict[str, tuple[yaml.Node, yaml.Node]],
                  chapter: Coded | None, subchapter: Coded | None) -> TestMapping | None:
        errors_before = len(self.out.errors)
        value_type = (self.scalar(f["type"][1], f"{key}.type") or "") if "type" in f else "numeric"
        if value_type not in VALUE_TYPES:
            self.error(f["type"][1], f"{key}.type", f"expected one of: {', '.join(VALUE_TYPES)}")
        unit = self.ucum(f["unit"][1], f"{key}.unit") if "unit" in f else ""
        unit_line = _line(f["unit"][1]) if "unit" in f else 0
        loinc_code = self.loinc_code(f["loinc"][1], f"{key}.loinc", unit, unit_line) if "loinc" in f else None
        if "loinc" not in f:
            self.error(knode, key, "no `loinc:` line: write `loinc: null` to send this test without LOINC")
        display = (self.scalar(f["display"][1], f"{key}.display") or "") if "display" in f else ""
        if not display and loinc_code and (concept := self.loinc.get(loinc_code)):
            display = concept.display
        if not display:
            self.error(knode, f"{key}.display", "no display name (the French name shown to the doctor)")
        chapter = self.chapter(f.get("chapter"), f"{key}.chapter") or chapter
        subchapter = self.chapter(f.get("subchapter"), f"{key}.subchapter") or subchapter
        if chapter is None:
            self.error(knode, f"{key}.chapter",
                       "no CR-BIO chapter: add `chapter:` at the top of the file or on this test")
        conversions = self.conversions(f["convert"][1], f"{key}.convert") if "convert" in f else ()
        if value_type != "numeric" and (unit or conversions):
            self.error(knode, key, f"a {value_type} result has no unit: remove `unit:`/`convert:`", "warning")
        ref = None
        if "range" in f:
            text = self.scalar(f["range"][1], f"{key}.range") or ""
            ref = parse_range(text, unit)
        if len(self.out.errors) > errors_before or chapter is None or value_type not in VALUE_TYPES:
            return None
        loinc = Coded(loinc_code, display, LOINC_OID) if loinc_code else None
        return TestMapping(code, loinc, display, unit, chapter, subchapter, value_type, conversions, ref,
                           f"{self.path.name}:{_line(knode)}")

    def conversions(self, node: yaml.Node, key: str) -> tuple[tuple[str, Decimal], ...]:
        out: list[tuple[str, Decimal]] = []
        for spelling, (_knode, vnode) in (self.mapping(node, key, None) or {}).items():
            text = self.scalar(vnode, f"{key}.{spelling}") or ""
            try:
                factor = Decimal(text.replace(",", "."))
            except InvalidOperation:
                factor = Decimal(0)
            if not factor.is_finite() or factor <= 0:
                self.error(vnode, f"{key}.{spelling}",
                           "expected a positive number (the factor from this unit to `unit:`)")
                continue
            out.append((spelling, factor))
        return tuple(out)
