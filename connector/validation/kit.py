"""The ANS validation kit: where it is, what it must hold, and its stylesheets compiled once.

A kit is the testContenuCDA layout (``infrastructure/cda`` XSD, ``jeuxDeValeurs`` value sets,
``schematrons``). Its path is always a value the caller passes: configured, or installed into
the data directory by ``connector kit install`` (:mod:`connector.validation.install`).

The ``.sch`` files are compiled with the kit's ISO skeleton into ``.compiled.xsl`` *next to
each .sch* (relative ``doc()`` paths to the value sets must resolve), then rewritten into
``.gate-v1.xsl`` (:mod:`connector.validation.fastpath`). An installed kit is compiled in place;
any other (read-only reference kit) is copied once to a private cache keyed by its digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from connector.errors import KitError

from .fastpath import rewrite_stylesheet, rewritten_path
from .xsd import XSD_RELATIVE

__all__ = [
    "COMPILED_SUFFIX",
    "ENGINE_FILES",
    "ENGINE_STEPS",
    "MANIFEST",
    "SCHEMATRONS",
    "AnsKit",
    "compiled_path",
    "default_work_dir",
    "is_generated",
    "is_validation_file",
    "make_private_dirs",
    "prepare_kit",
    "saxon_processor",
]

# Relative to ``<kit>/schematrons``: the full check of a CR-BIO 2024.01 document.
SCHEMATRONS = (
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/IHE.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/terminologies/schematron/terminologie.sch",
    "CI-SIS_BIO-CR-BIO_2024.01.sch",
)
ENGINE_STEPS = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
ENGINE_FILES = (*ENGINE_STEPS, "iso_schematron_skeleton_for_saxon.xsl")  # the last step imports the skeleton
COMPILED_SUFFIX = ".compiled.xsl"
MANIFEST = "KIT.json"  # written by install_kit: marks a kit we own and may compile in place
_READY = ".prepared"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


_PROCESSOR: Any = None


def saxon_processor() -> Any:  # saxonche ships no type hints
    """One SaxonC processor per process: executables and the documents they receive must share it."""
    global _PROCESSOR
    if _PROCESSOR is None:
        from saxonche import PySaxonProcessor

        _PROCESSOR = PySaxonProcessor(license=False)
    return _PROCESSOR


# What validation reads, relative to the kit root; anything else in a kit (examples, display
# stylesheets, the .jar/.bat of the ANS tooling) is neither installed nor part of the digest.
VALIDATION_FILES = (
    ("infrastructure/cda/", (".xsd", ".dtd")),
    ("jeuxDeValeurs/", (".xml",)),
    ("schematrons/", (".sch", ".xsl", ".xml", ".rdf", ".txt")),
)


def is_validation_file(relative: str) -> bool:
    """A kit file validation reads (``relative``: its POSIX path in the kit), not one we generated."""
    if is_generated(Path(relative)):
        return False
    return any(relative.startswith(folder) and relative.endswith(suffixes) for folder, suffixes in VALIDATION_FILES)


def compiled_path(sch: Path) -> Path:
    return sch.with_name(sch.stem + COMPILED_SUFFIX)


def is_generated(path: Path) -> bool:
    """Files this module writes into a kit: left out of its digest."""
    name = path.name
    return name.endswith(COMPILED_SUFFIX) or ".gate-v" in name or name.endswith(".tmp") or name in (MANIFEST, _READY)


@dataclass(frozen=True, slots=True)
class AnsKit:
    """A kit folder whose layout has been checked: the XSD, the six schematrons, the engine, value sets."""

    root: Path

    @classmethod
    def at(cls, path: Path) -> AnsKit:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise KitError("ANS kit not found (expected a folder; install one with `connector kit install`)",
                           path=str(root))
        required = [XSD_RELATIVE] + [Path("schematrons") / rel for rel in SCHEMATRONS]
        required += [Path("schematrons") / "moteur" / name for name in ENGINE_FILES]
        missing = [str(rel) for rel in required if not (root / rel).is_file()]
        if not (root / "jeuxDeValeurs").is_dir():
            missing.append("jeuxDeValeurs/")
        if missing:
            raise KitError(f"incomplete ANS kit: missing {', '.join(missing)}", path=str(root))
        return cls(root.resolve())

    @property
    def xsd_path(self) -> Path:
        return self.root / XSD_RELATIVE

    @property
    def installed(self) -> bool:
        """Installed by ``connector kit install``: ours to compile in place."""
        return (self.root / MANIFEST).is_file()

    def files(self) -> list[Path]:
        """The files validation reads, sorted (examples and generated files left out)."""
        return sorted(p for p in self.root.rglob("*")
                      if p.is_file() and is_validation_file(p.relative_to(self.root).as_posix()))

    def digest(self) -> str:
        """SHA-256 over the files validation reads, names and contents: the same for a kit and its install."""
        h = hashlib.sha256()
        for path in self.files():
            h.update(path.relative_to(self.root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
        return h.hexdigest()


def default_work_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"connector-schematron-{uid}"


def prepare_kit(kit: AnsKit, *, work_dir: Path | None = None) -> Path:
    """A folder with the kit and, next to each schematron, its compiled and rewritten stylesheets.

    In place for an installed kit; else a private copy in ``work_dir`` (reused when present).
    Compiling takes ≈15 s once; later calls find the files and return at once.
    """
    digest = kit.digest()
    cache = work_dir or default_work_dir()
    root = kit.root if kit.installed else _private_copy(kit, cache, digest)
    if _is_prepared(root, digest):
        return root
    if kit.installed and _is_prepared(cache / f"kit-{digest[:16]}", digest):
        _reuse_compiled(cache / f"kit-{digest[:16]}", root)  # the same kit was compiled before: ≈15 s saved
    compiler = saxon_processor().new_xslt30_processor()
    for rel in SCHEMATRONS:
        compiled = _compile(root, rel, compiler)
        target = rewritten_path(compiled)
        if not target.is_file():
            tree = etree.parse(str(compiled), _PARSER)
            rewrite_stylesheet(tree)
            _write_atomically(target, etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
    _write_atomically(root / _READY, digest.encode())
    return root


def _is_prepared(root: Path, digest: str) -> bool:
    try:
        ready = (root / _READY).read_text().strip() == digest
    except OSError:
        return False
    return ready and all(rewritten_path(compiled_path(root / "schematrons" / r)).is_file() for r in SCHEMATRONS)


def _reuse_compiled(source: Path, target: Path) -> None:
    for rel in SCHEMATRONS:
        for path in (compiled_path(Path(rel)), rewritten_path(compiled_path(Path(rel)))):
            _write_atomically(target / "schematrons" / path, (source / "schematrons" / path).read_bytes())


def _private_copy(kit: AnsKit, work_dir: Path, digest: str) -> Path:
    """A writable copy of a (read-only) kit keyed by its digest; reused when present."""
    _private_dir(work_dir)
    target = work_dir / f"kit-{digest[:16]}"
    if not (target / "schematrons").is_dir():
        staging = Path(tempfile.mkdtemp(prefix="kit-", dir=work_dir))
        _copy_validation_files(kit, staging / "kit")  # writable copies: the reference kit is read-only
        with contextlib.suppress(OSError):  # another process won the race: use its copy
            os.replace(staging / "kit", target)
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _copy_validation_files(kit: AnsKit, target: Path) -> None:
    for path in kit.files():
        destination = target / path.relative_to(kit.root)
        make_private_dirs(destination.parent)
        shutil.copyfile(path, destination)
        destination.chmod(0o600)


def make_private_dirs(path: Path) -> None:
    """``mkdir -p`` with every created level 0700 (``Path.mkdir(parents=True)`` leaves parents to the umask)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
        folder.chmod(0o700)  # the umask may have narrowed mkdir's mode; never widened it


def _private_dir(path: Path) -> None:
    """Create ``path`` 0700, and refuse one another user could have prepared for us (shared /tmp).

    Ours but readable by others (an older cache): narrowed to 0700. Writable by others: refused,
    someone may have planted stylesheets in it.
    """
    make_private_dirs(path)
    st = path.lstat()
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022 or not path.is_dir()
                                  or path.is_symlink()):
        raise KitError("the schematron cache folder must be this user's own, not writable by others",
                       path=str(path))
    if st.st_mode & 0o077:
        path.chmod(0o700)


def _compile(root: Path, rel: str, compiler: Any) -> Path:
    """``X.sch`` → ``X.compiled.xsl`` beside it, with the kit's three ISO skeleton steps."""
    sch = root / "schematrons" / rel
    out = compiled_path(sch)
    if out.is_file():
        return out
    engine = root / "schematrons" / "moteur"
    source, unique = sch, f"{os.getpid()}-{os.urandom(4).hex()}"  # racing processes never share a file
    steps: list[Path] = []
    try:
        for i, step in enumerate(ENGINE_STEPS):
            exe = _compiled_or_none(compiler, engine / step)
            if exe is None:
                raise KitError(f"schematron engine step {step} does not compile", path=str(engine / step))
            target = sch.with_name(f"{sch.stem}.step{i}.{unique}.tmp")
            steps.append(target)
            try:
                exe.transform_to_file(source_file=str(source), output_file=str(target))
            except Exception as exc:  # noqa: BLE001 - PySaxonApiError; its text quotes kit paths only
                raise KitError(f"schematron {rel} does not compile at step {step}: {_first_line(exc)}",
                               path=str(sch)) from None
            if not target.is_file():
                raise KitError(f"schematron {rel}: step {step} produced nothing", path=str(sch))
            source = target
        os.replace(source, out)
    finally:
        for step_file in steps:
            step_file.unlink(missing_ok=True)
    return out


def _compiled_or_none(compiler: Any, path: Path) -> Any:
    try:
        return compiler.compile_stylesheet(stylesheet_file=str(path))
    except Exception:  # noqa: BLE001 - PySaxonApiError: reported by the caller with the path
        return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
