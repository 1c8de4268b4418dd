"""Installing and checking the lab's copy of the ANS kit: from a folder, from a zip, refusals."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from connector.errors import KitError
from connector.validation import INSTALL_DIR, AnsKit, check_kit, install_kit
from connector.validation.kit import MANIFEST, SCHEMATRONS
from tests.validation.support import ROOT

pytestmark = pytest.mark.schematron
MISSING_VALUE_SET = "schematrons/profils/structurationMinimale/include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml"


def _zip_of(kit: AnsKit, path: Path, prefix: str = "interop-outil-cda-main/") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(kit.root.rglob("*")):
            if file.is_file():
                archive.write(file, prefix + file.relative_to(kit.root).as_posix())
        archive.writestr(prefix + "schematrons/moteur/saxon9he.jar", b"not copied")
    return path


@pytest.fixture(scope="module")
def installed(ans_kit: AnsKit, kit_cache: Path, prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    report = install_kit(ans_kit.root, data, work_dir=kit_cache)
    assert report.root == data / INSTALL_DIR
    return data


def test_install_from_a_folder_copies_what_validation_reads(installed: Path, ans_kit: AnsKit) -> None:
    root = installed / INSTALL_DIR
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["digest"] == ans_kit.digest()  # the same files as the reference kit, nothing added
    assert manifest["files"] == len(AnsKit.at(root).files()) > 1000
    assert not (root / "ExemplesCDA").exists()  # examples are not needed to validate
    for rel in SCHEMATRONS:
        assert (root / "schematrons" / rel).is_file()
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    assert not [p for p in installed.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_an_installed_kit_checks_and_a_changed_file_is_found(installed: Path, tmp_path: Path) -> None:
    copy = tmp_path / INSTALL_DIR
    shutil.copytree(installed / INSTALL_DIR, copy)
    assert check_kit(copy, compile=False).digest == json.loads((copy / MANIFEST).read_text())["digest"]
    value_set = next((copy / "jeuxDeValeurs").glob("*.xml"))
    value_set.write_bytes(value_set.read_bytes() + b"\n")
    with pytest.raises(KitError, match="changed since it was installed"):
        check_kit(copy, compile=False)


def test_the_installed_kit_compiles_into_a_gate_engine(installed: Path) -> None:
    report = check_kit(installed / INSTALL_DIR, compile=True)
    assert report.compile_seconds > 0


def test_install_from_a_zip_gives_the_same_kit(ans_kit: AnsKit, kit_cache: Path, prepared: Path,
                                               tmp_path: Path) -> None:
    archive = _zip_of(ans_kit, tmp_path / "kit.zip")
    report = install_kit(archive, tmp_path / "data", work_dir=kit_cache)
    assert report.digest == ans_kit.digest()
    assert not (report.root / "schematrons" / "moteur" / "saxon9he.jar").exists()
    again = install_kit(archive, tmp_path / "data", work_dir=kit_cache)  # replaces the installed kit
    assert again.root == report.root and again.digest == report.digest
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [INSTALL_DIR]


@pytest.mark.parametrize("member", ["schematrons/../escape.xml", "schematrons/a/../../../escape.xml",
                                    "jeuxDeValeurs/..\\escape.xml"])
def test_a_zip_with_unsafe_names_is_refused(ans_kit: AnsKit, tmp_path: Path, member: str) -> None:
    archive = _zip_of(ans_kit, tmp_path / "kit.zip", prefix="")
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr(zipfile.ZipInfo(member), b"<x/>")
    with pytest.raises(KitError, match="unsafe name"):
        install_kit(archive, tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


def test_a_zip_with_a_link_is_refused(ans_kit: AnsKit, tmp_path: Path) -> None:
    archive = _zip_of(ans_kit, tmp_path / "kit.zip", prefix="")
    link = zipfile.ZipInfo("schematrons/link.xml")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr(link, "/etc/passwd")
    with pytest.raises(KitError, match="unsafe name"):
        install_kit(archive, tmp_path / "data")


def test_something_that_is_not_a_kit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("hello")
    with pytest.raises(KitError, match="not an ANS kit"):
        install_kit(tmp_path / "src", tmp_path / "data")
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(KitError, match="not an ANS kit"):
        install_kit(tmp_path / "x.zip", tmp_path / "data")
    with pytest.raises(KitError, match="incomplete ANS kit"):
        check_kit(tmp_path / "src")


def test_a_kit_missing_a_value_set_its_schematrons_read_is_refused(ans_kit: AnsKit, tmp_path: Path) -> None:
    """The upstream snapshot lacks this StrucMin value set (a local fix of the reference copy)."""
    source = tmp_path / "kit"
    shutil.copytree(ans_kit.root, source, ignore=shutil.ignore_patterns("ExemplesCDA"), copy_function=shutil.copyfile)
    for folder in [source, *source.rglob("*")]:  # the reference kit is read-only, and so is a copy of its folders
        if folder.is_dir():
            folder.chmod(0o700)
    (source / MISSING_VALUE_SET).unlink()
    with pytest.raises(KitError, match=re.escape("voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml")):
        install_kit(source, tmp_path / "data", work_dir=tmp_path / "cache")
    assert not (tmp_path / "data" / INSTALL_DIR).exists()


def _connector(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CONNECTOR_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=1800)


def test_the_kit_commands(installed: Path, tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(f"mode: test\ndata_dir: {installed}\n")
    result = _connector("kit", "check", "--quick", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["path"] == str(installed / INSTALL_DIR) and not answer["compiled"]
    missing = _connector("kit", "check", "--kit", str(tmp_path / "nowhere"), "--config", str(config))
    assert missing.returncode == 2 and "ANS kit not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    refused = _connector("kit", "install", str(config), "--config", str(config))
    assert refused.returncode == 2 and "folder or a .zip" in refused.stderr
