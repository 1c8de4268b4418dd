"""`connector init DIR`: a new lab's folder, ready for its mappings and a first check.

    DIR/connector.yaml   the documented example configuration (config/connector.example.yaml), in test
                         mode, with every path inside DIR: nothing to edit before `mappings check`
    DIR/mappings/        the default mapping files, to adapt to the SIL's own test codes
    DIR/var/ DIR/spool/  the store and the drop, archive, quarantine and ZAM folders, 0700

The configuration is the example itself, not a second copy of it: the same comments explain every
key; only the values below are set for a folder of its own. Nothing existing is overwritten.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from connector.errors import ConfigError
from connector.files import DIR_MODE, FILE_MODE, write_private
from connector.mapping import default_mappings_dir
from connector.mapping.loinc import bundled

__all__ = ["CONFIG_NAME", "InitResult", "init_site"]

CONFIG_NAME = "connector.yaml"
EXAMPLE = ("config", "connector.example.yaml")
# What a new folder needs different from the example (dotted key → value as YAML writes it).
SITE_VALUES = {
    "mode": "test",  # a new lab starts on its test bench; production once certificates and mappings are done
    "data_dir": "var",
    "intake.folder.drop": "spool/drop",
    "intake.folder.archive": "spool/archive",
    "intake.folder.quarantine": "spool/quarantine",
    "mappings.dir": "mappings",
    "mappings.loinc_dir": '""',
    "sil.zam_folder": "spool/zam",
    "identity.allow_test_ins": "true",
}
FOLDERS = ("var", "spool", "spool/drop", "spool/archive", "spool/quarantine", "spool/zam")
_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<gap> *)(?P<value>[^#\n]*?)(?P<rest> *#.*)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    config: Path
    mappings: Path
    folders: tuple[Path, ...]


def site_config(example: str, values: dict[str, str] = SITE_VALUES) -> str:
    """The example with ``values`` set; every other line (comments included) as it is."""
    out: list[str] = []
    path: list[tuple[int, str]] = []
    found: set[str] = set()
    for line in example.splitlines():
        match = _LINE.match(line)
        if match is None:
            out.append(line)
            continue
        indent = len(match["indent"])
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, match["key"]))
        dotted = ".".join(k for _, k in path)
        if dotted in values and match["value"].strip():
            found.add(dotted)
            rest = match["rest"] or ""
            value = values[dotted]
            line = f"{match['indent']}{match['key']}:{match['gap'] or ' '}{value}"
            if rest:  # keep the comment in its column when the value fits
                line = line.ljust(len(match["indent"]) + len(match["key"]) + 1 + len(match["gap"] or " ")
                                  + len(match["value"])) + rest
        out.append(line)
    missing = sorted(set(values) - found)
    if missing:  # the example changed shape: say so rather than write a configuration that lies
        raise ConfigError(f"the example configuration has no value for {', '.join(missing)}")
    return "\n".join(out) + "\n"


def init_site(folder: Path) -> InitResult:
    """Create a lab's folder; refuses one that already holds a configuration or mappings."""
    config = folder / CONFIG_NAME
    mappings = folder / "mappings"
    for existing in (config, mappings):
        if existing.exists():
            raise ConfigError(f"{existing} exists: `connector init` never overwrites a lab's files")
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    made = []
    for name in FOLDERS:
        path = folder / name
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        made.append(path)
    mappings.mkdir(mode=DIR_MODE)
    for source in sorted(default_mappings_dir().glob("*.y*ml")):
        target = mappings / source.name
        shutil.copyfile(source, target)
        target.chmod(FILE_MODE)
    example = bundled(EXAMPLE[0]).joinpath(EXAMPLE[1]).read_text(encoding="utf-8")
    write_private(config, site_config(example).encode("utf-8"))
    return InitResult(config=config, mappings=mappings, folders=tuple(made))
