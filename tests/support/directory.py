"""National-directory extracts for tests, written one way: the MSSanté format (31 columns, ``|``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from connector.send import Directory, import_directory

HEADER = ("Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"
          "Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|"
          "Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|"
          "Code Profession|Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|"
          "Raison Sociale structure BAL|Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|"
          "L3COMPLEMENTDISTRIBUTION|L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|"
          "L5LIEUDITMENTION|L6LIGNEACHEMINEMENT|Code postal|Département|Pays")


def row(address: str, idnps: str, *, family: str = "TEST", given: str = "DOC", bal: str = "PER",
        civility: str = "", profession: str = "Médecin") -> str:
    """One mailbox: ``idnps`` is the national id (type digit + RPPS/ADELI), as PRT/OBR carry it."""
    cols = [""] * 31
    cols[0], cols[1], cols[2], cols[3], cols[4] = bal, address, idnps[:1], idnps[1:], idnps
    cols[8], cols[9], cols[10], cols[14] = civility, family, given, profession
    return "|".join(cols)


def extract(rows: Iterable[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def write_extract(path: Path, rows: Iterable[str]) -> Path:
    path.write_text(extract(rows), encoding="utf-8")
    return path


def directory_of(folder: Path, rows: Iterable[str]) -> Directory:
    """The rows imported as the service imports an extract, opened for lookups."""
    import_directory(write_extract(folder / "extract.txt", rows), db_path=folder / "dir.sqlite")
    return Directory(folder / "dir.sqlite")
