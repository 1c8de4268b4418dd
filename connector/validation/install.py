"""``connector kit install ZIP-or-DIR`` and ``connector kit check``: the lab's copy of the ANS kit.

Installing copies only what validation reads (the CDA XSD infrastructure, the value sets, the
schematrons and their value sets, the ISO skeleton) from the ANS kit folder or zip into
``<data_dir>/ans-kit``, compiles and rewrites the six schematrons there, checks that every value
set they name by a constant path is present, and records the digest of the copied files in
``KIT.json``. A check recomputes that digest (a changed or damaged file is found) and, with
``compile=True``, builds a gate engine from it as a worker does at start.

Nothing from a zip is extracted as is: each wanted member is read and written under the new
folder, after its name was checked (no absolute path, no ``..``, no link), within size limits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from lxml import etree

from connector.errors import KitError

from .kit import MANIFEST, SCHEMATRONS, AnsKit, compiled_path, is_validation_file, make_private_dirs, prepare_kit

__all__ = ["INSTALL_DIR", "KitReport", "check_kit", "install_kit"]

INSTALL_DIR = "ans-kit"  # under the data directory
MAX_FILES = 20_000
MAX_BYTES = 4 * 1024**3  # the full upstream kit with its LOINC/SNOMED RDF files is well under this
_ANCHOR = "schematrons/" + SCHEMATRONS[-1]  # the CR-BIO volet schematron marks the kit's root
_XSL = "{http://www.w3.org/1999/XSL/Transform}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class KitReport:
    """A kit that passed its check."""

    root: Path
    digest: str
    files: int
    installed_at: str = ""
    compile_seconds: float = 0.0


def _safe_relative(name: str) -> PurePosixPath | None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or ":" in (path.parts[0] if path.parts else ""):
        return None
    return path


def _from_dir(source: Path) -> Iterator[tuple[str, Path]]:
    anchors = sorted(source.rglob(Path(_ANCHOR).name))
    roots = [a.parents[len(Path(_ANCHOR).parts) - 1] for a in anchors if a.as_posix().endswith(_ANCHOR)]
    if not roots:
        raise KitError(f"not an ANS kit: no {_ANCHOR} inside", path=str(source))
    root = min(roots, key=lambda r: len(r.parts))
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise KitError(f"the kit holds a symbolic link ({relative}); copy the real files", path=str(source))
        if path.is_file() and is_validation_file(relative):
            yield relative, path


def _zip_members(archive: zipfile.ZipFile, source: Path) -> Iterator[tuple[str, zipfile.ZipInfo]]:
    infos = archive.infolist()
    if len(infos) > MAX_FILES * 10:
        raise KitError("the zip holds too many files to be an ANS kit", path=str(source))
    prefixes = [i.filename[: -len(_ANCHOR)] for i in infos if i.filename.endswith(_ANCHOR)]
    prefixes = [p for p in prefixes if p == "" or p.endswith("/")]
    if not prefixes:
        raise KitError(f"not an ANS kit: no {_ANCHOR} inside", path=str(source))
    prefix = min(prefixes, key=len)
    for info in infos:
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        relative = info.filename[len(prefix):]
        if not is_validation_file(relative):
            continue
        if _safe_relative(relative) is None or (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise KitError(f"unsafe name in the zip ({relative!r}): refused", path=str(source))
        yield relative, info


def _copy_into(source: Path, staging: Path) -> int:
    count, total = 0, 0

    def target(relative: str) -> Path:
        nonlocal count
        count += 1
        if count > MAX_FILES:
            raise KitError("the kit has more files than an ANS kit has", path=str(source))
        path = staging / relative
        make_private_dirs(path.parent)
        return path

    if source.is_dir():
        for relative, path in _from_dir(source):
            total += path.stat().st_size
            if total > MAX_BYTES:
                raise KitError("the kit is larger than an ANS kit is", path=str(source))
            _write_private(target(relative), path.read_bytes())
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for relative, info in _zip_members(archive, source):
                total += info.file_size
                if total > MAX_BYTES:
                    raise KitError("the kit is larger than an ANS kit is", path=str(source))
                with archive.open(info) as member:
                    data = member.read(info.file_size + 1)
                if len(data) != info.file_size:
                    raise KitError(f"the zip's size for {relative} is wrong: refused", path=str(source))
                _write_private(target(relative), data)
    else:
        raise KitError("expected the ANS kit as a folder or a .zip", path=str(source))
    return count


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def install_kit(source: Path, data_dir: Path, *, work_dir: Path | None = None) -> KitReport:
    """Copy, compile and check the kit from ``source`` into ``<data_dir>/ans-kit``; replace the old one last."""
    source = Path(source)
    if not source.exists():
        raise KitError("the ANS kit to install was not found", path=str(source))
    make_private_dirs(data_dir)
    staging = Path(tempfile.mkdtemp(prefix=".ans-kit-", dir=data_dir))
    try:
        files = _copy_into(source, staging)
        kit = AnsKit.at(staging)
        digest = kit.digest()
        installed_at = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = {"format": 1, "digest": digest, "files": files, "source": source.name,
                    "installed_at": installed_at}
        _write_private(staging / MANIFEST, json.dumps(manifest, indent=2).encode())
        started = time.perf_counter()
        prepare_kit(AnsKit.at(staging), work_dir=work_dir)
        _check_documents(staging)
        seconds = time.perf_counter() - started
        target = data_dir / INSTALL_DIR
        old = data_dir / f".{INSTALL_DIR}-replaced"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return KitReport(root=target, digest=digest, files=files, installed_at=installed_at, compile_seconds=seconds)


def check_kit(path: Path, *, compile: bool = True, work_dir: Path | None = None) -> KitReport:
    """The kit at ``path`` is complete, unchanged since installed (when installed) and, if asked, compiles."""
    kit = AnsKit.at(path)
    digest = kit.digest()
    manifest: dict[str, object] = {}
    if kit.installed:
        try:
            manifest = json.loads((kit.root / MANIFEST).read_text())
        except (OSError, ValueError):
            raise KitError(f"{MANIFEST} is unreadable: install the kit again", path=str(kit.root)) from None
        if manifest.get("digest") != digest:
            raise KitError("the kit's files changed since it was installed (digest differs): install it again",
                           path=str(kit.root))
    seconds = 0.0
    if compile:
        from .engine import GateEngine

        started = time.perf_counter()
        prepared = prepare_kit(kit, work_dir=work_dir)
        _check_documents(prepared)
        GateEngine(prepared)
        seconds = time.perf_counter() - started
    return KitReport(root=kit.root, digest=digest, files=len(kit.files()), compile_seconds=seconds,
                     installed_at=str(manifest.get("installed_at", "")))


_CONSTANT_CALL = re.compile(r"""\b(?:doc|document)\(\s*(?:'([^']*)'|"([^"]*)"|\$([\w.-]+))\s*\)""")


def _check_documents(prepared: Path) -> None:
    """Every value set a compiled schematron names by a constant path exists (the kit's usual gaps)."""
    missing = []
    for rel in SCHEMATRONS:
        compiled = compiled_path(prepared / "schematrons" / rel)
        root = etree.parse(str(compiled), _PARSER).getroot()
        constants = {v.get("name"): (v.get("select") or "")[1:-1] for v in root.findall(f"{_XSL}variable")
                     if re.fullmatch(r"'[^']*'", v.get("select") or "")}
        for element in root.iter(etree.Element):
            for value in element.attrib.values():
                for match in _CONSTANT_CALL.finditer(str(value)):
                    uri = match.group(1) or match.group(2) or constants.get(match.group(3) or "")
                    if uri and not (compiled.parent / uri).is_file():
                        missing.append(os.path.relpath(compiled.parent / uri, prepared))
    if missing:
        raise KitError(f"the schematrons read value sets the kit lacks: {', '.join(sorted(set(missing)))}",
                       path=str(prepared))
