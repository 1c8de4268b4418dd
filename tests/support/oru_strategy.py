"""Hypothesis strategies that write ORU^R01 messages the way real SILs do, not the way our fixtures do.

Each drawn :class:`GeneratedMessage` is ER7 bytes (correct escaping for the drawn delimiters and
charset) plus what the lab *meant* (the doctors it names as recipients, its validating biologist,
the PID-8 value…), so a test can check the connector's output against the intent rather than
against our own reading. Synthetic patients only: family names start with ``ZQ`` and INS values
belong to nobody (valid NIR keys on made-up bodies).

Variation (issue 12 "proof by generation"): every PID-8 value (F M U O A N empty), every OBX-2
type we accept (NM SN ST TX FT CE CWE CNE IS DT TS NR ED), every OBX-11 status, absent optional fields,
repeated components, escapes (``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\.br\\ \\X..\\``, ``\\T\\#8805;``), charsets
(UTF-8, 8859/1, 8859/15, none, and 8859/1 declared over UTF-8), CR/LF/CRLF endings, the 5-character
MSH-2, several OBR and SPM, corrections after preliminaries (a second message for the same order),
copy-to doctors with and without assigning authority, validating biologists in OBR-32 written with
subcomponents (HL7) or components (a frequent SIL habit), OBX-17 methods, OBX-23 executing labs,
SPM-4 in HL7 0487 or SNOMED CT, and units in the spellings SILs use.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import strategies as st

from connector.cda.methods import TECHNIQUES
from tests.support.directory import extract, row

__all__ = [
    "BIOLOGISTS",
    "DIRECTORY_DOCTORS",
    "GeneratedMessage",
    "GeneratedPatient",
    "NamedDoctor",
    "directory_extract",
    "er7_escape",
    "messages",
    "oru_messages",
]

RPPS_AUTHORITY = "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
INS_NIR_AUTHORITY = "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"
IPP_AUTHORITIES = ("LABO&1.2.250.1.999.7.1&ISO", "SILX&1.2.250.1.999.8.2&ISO", "LABO", "")

# Doctors with an MSSanté mailbox in the test directory (idnps, family, given, address).
DIRECTORY_DOCTORS = (
    ("810000000101", "PRESCRIT", "JEAN", "jean.prescrit@test-ci-sis.mssante.fr"),
    ("810000000102", "COPIE", "CLAIRE", "claire.copie@test-ci-sis.mssante.fr"),
    ("810000000103", "DEUX-BAL", "LÉA", "lea.deuxbal@test-ci-sis.mssante.fr"),
    ("0999999991", "INFIRMIER", "MARC", "marc.infirmier@test-ci-sis.mssante.fr"),  # 0 + ADELI
)
# National ids the directory does not know: looked up, not found, reported.
UNLISTED_DOCTORS = (("810000000901", "ABSENT", "PAUL"), ("810000000902", "INCONNU", "ZOÉ"))
LOCAL_DOCTORS = (("DR042", "LOCAL", "ANNE"), ("M1234", "CABINET", "HUGO"))
BIOLOGISTS = (("810000000002", "BIOLO", "ANNE"), ("810000000004", "VALIDE", "PAUL"))


@dataclass(frozen=True)
class NamedDoctor:
    """A professional the message names as a recipient: ``field`` (ORC-12/OBR-16, OBR-28) and the ids meant."""

    field: str
    idnps: str  # the national id (8+RPPS or 0+ADELI) the lab meant, "" when the message gives none
    local_id: str = ""  # the SIL's own id when it is not national
    in_directory: bool = False
    family: str = ""


@dataclass(frozen=True)
class GeneratedPatient:
    """What one PID group meant. Patient values are here only so tests can look for leaks."""

    family: str
    birth_date: str
    ins: str
    sex: str  # PID-8 as sent
    qualified: bool
    biologist_idnps: str  # the validating biologist the lab meant ("" when none is identifiable)
    doctors: tuple[NamedDoctor, ...]
    result_count: int  # OBX results written (all statuses)
    reportable: int  # results whose status is neither D nor W


@dataclass(frozen=True)
class GeneratedMessage:
    data: bytes
    patients: tuple[GeneratedPatient, ...]
    features: tuple[str, ...] = field(default=())  # what was drawn, no values: for failure messages
    codec: str = "utf-8"
    line_end: str = "\r"

    def corrected(self, control_id: str) -> GeneratedMessage:
        """The SIL's correction of this message: results P/F/empty become C (OBR-25 too), a new MSH-10."""
        lines = self.data.decode(self.codec).split(self.line_end)
        out = []
        for line in lines:
            fields = line.split("|")
            if fields[0] == "MSH":
                fields[9] = control_id
            elif fields[0] == "OBX" and len(fields) > 11 and fields[11] in ("P", "F", ""):
                fields[11] = "C"
            elif fields[0] == "OBR" and len(fields) > 25:
                fields[25] = "C"
            out.append("|".join(fields))
        data = self.line_end.join(out).encode(self.codec)
        return GeneratedMessage(data, self.patients, (*self.features, "correction"), self.codec, self.line_end)


# ---------------------------------------------------------------------------- ER7 text


@dataclass(frozen=True)
class _Enc:
    chars: str  # MSH-2
    charset: str  # MSH-18 as declared
    codec: str  # how the bytes are written
    line_end: str

    @property
    def truncation(self) -> bool:
        return len(self.chars) == 5


def er7_escape(text: str, *, truncation: bool = False) -> str:
    """A leaf value (component or subcomponent) with HL7 escape sequences for every delimiter."""
    table = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\", "\n": "\\.br\\"}
    if truncation:
        table["#"] = "\\P\\"
    return "".join(table.get(ch, ch) for ch in text)


def _e(enc: _Enc, text: str) -> str:
    return er7_escape(text, truncation=enc.truncation)


# ---------------------------------------------------------------------------- leaf strategies

_LATIN1_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZÉÈÊËÀÂÎÏÔÛÙÇ"
_NAME_PUNCT = " -'"
# Delimiters inside names exist (typing mistakes, "DUPONT^MARTIN" pasted): they must survive escaping.
_DELIMITERS = "^&|~\\"


@st.composite
def _name(draw: st.DrawFn, codec: str, prefix: str = "") -> str:
    letters = _LATIN1_LETTERS + ("Œ" if codec in ("utf-8", "iso8859-15") else "")
    body = draw(st.text(st.sampled_from(letters + _NAME_PUNCT), min_size=2, max_size=12))
    body = " ".join(body.split()).strip(" -'") or "NOM"
    if draw(st.integers(0, 19)) == 0:
        body += draw(st.sampled_from(_DELIMITERS)) + "X"
    return prefix + body


def _nir(body12: str, sex: str) -> str:
    body = sex + body12
    key = 97 - int(body.replace("2A", "19").replace("2B", "18")) % 97
    return f"{body}{key:02d}"


@st.composite
def _ins(draw: st.DrawFn) -> str:
    sex = draw(st.sampled_from("12"))
    year = draw(st.integers(0, 99))
    month = draw(st.integers(1, 12))
    dept = draw(st.sampled_from(["75", "13", "2A", "2B", "69", "99"]))
    commune = draw(st.integers(1, 999))
    order = draw(st.integers(1, 999))
    return _nir(f"{year:02d}{month:02d}{dept}{commune:03d}{order:03d}", sex)


# Local times around the Europe/Paris changes: 2026-03-29 02:30 does not exist, 2026-10-25 02:30 happens twice.
_EDGE_TIMES = (datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 3, 5), datetime(2026, 10, 25, 2, 30),
               datetime(2026, 10, 25, 1, 59), datetime(2026, 12, 31, 23, 59), datetime(2026, 7, 14, 12, 0))


@st.composite
def _moment(draw: st.DrawFn) -> datetime:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(_EDGE_TIMES))
    return draw(st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31))).replace(microsecond=0)


@st.composite
def _dtm(draw: st.DrawFn, when: datetime) -> str:
    """HL7 DTM: minutes or seconds, with no zone (local time, the usual case) or an explicit one."""
    text = when.strftime(draw(st.sampled_from(["%Y%m%d%H%M", "%Y%m%d%H%M%S", "%Y%m%d%H%M%S"])))
    zone = draw(st.sampled_from(["", "", "", "+0100", "+0200", "+0000"]))
    return text + zone


# ---------------------------------------------------------------------------- people


@st.composite
def _doctor(draw: st.DrawFn, enc: _Enc, field_name: str) -> tuple[str, NamedDoctor | None]:
    """An XCN naming a doctor, in one of the shapes SILs send, and what it meant."""
    pool = draw(st.sampled_from(["listed", "listed", "unlisted", "local", "name"]))
    if pool == "listed":
        idnps, family, given, _ = draw(st.sampled_from(DIRECTORY_DOCTORS))
    elif pool == "unlisted":
        idnps, family, given = draw(st.sampled_from(UNLISTED_DOCTORS))
    else:
        local, family, given = draw(st.sampled_from(LOCAL_DOCTORS))
        if pool == "name":
            return f"^{_e(enc, family)}^{_e(enc, given)}", NamedDoctor(field_name, "", "", False, family)
        return (f"{local}^{_e(enc, family)}^{_e(enc, given)}^^^DR^^^LABO",
                NamedDoctor(field_name, "", local, False, family))
    listed = pool == "listed"
    name = f"{_e(enc, family)}^{_e(enc, given)}"
    adeli = idnps.startswith("0")
    shapes = ["full", "bare", "bare", "namespace", "typed"]
    shape = draw(st.sampled_from(shapes if not adeli else ["full", "typed"]))
    if shape == "full":
        xcn = f"{idnps}^{name}^^^DR^^^{RPPS_AUTHORITY}^D^^^IDNPS"
    elif shape == "bare":  # the IDNPS alone, no assigning authority: a frequent SIL habit
        xcn = f"{idnps}^{name}^^^DR"
    elif shape == "namespace":
        xcn = f"{idnps}^{name}^^^^^^ASIP-SANTE-PS"
    elif adeli:
        xcn = f"{idnps[1:]}^{name}^^^^^^{RPPS_AUTHORITY}^L^^^ADELI"
    else:
        xcn = f"{idnps[1:]}^{name}^^^DR^^^{RPPS_AUTHORITY}^L^^^RPPS"
    return xcn, NamedDoctor(field_name, idnps, "", listed, family)


@st.composite
def _interpreter(draw: st.DrawFn, enc: _Enc, biologist: tuple[str, str, str]) -> tuple[str, str]:
    """OBR-32 (NDL whose first component is a CNN) and the biologist's IDNPS it identifies ("" none)."""
    idnps, family, given = biologist
    shape = draw(st.sampled_from(["cnn", "cnn_bare", "components", "components_auth", "name_only", "absent"]))
    fam, giv = _e(enc, family), _e(enc, given)
    if shape == "cnn":
        return f"{idnps}&{fam}&{giv}&&&DR&&&ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO", idnps
    if shape == "cnn_bare":
        return f"{idnps}&{fam}&{giv}&&&DR", idnps
    if shape == "components":  # 810…^DURAND^PAUL^^^DR: components where HL7 wants subcomponents
        return f"{idnps}^{fam}^{giv}^^^DR", idnps
    if shape == "components_auth":
        return f"{idnps}^{fam}^{giv}^^^DR^^^{RPPS_AUTHORITY}", idnps
    if shape == "name_only":
        return f"&{fam}&{giv}", ""
    return "", ""


@st.composite
def _observer(draw: st.DrawFn, biologist: tuple[str, str, str]) -> tuple[str, str]:
    """OBX-16 (XCN) and the IDNPS it identifies."""
    idnps, family, given = biologist
    shape = draw(st.sampled_from(["full", "bare", "local", "absent", "absent"]))
    if shape == "full":
        return f"{idnps}^{family}^{given}^^^DR^^^{RPPS_AUTHORITY}^D^^^IDNPS", idnps
    if shape == "bare":
        return f"{idnps}^{family}^{given}^^^DR", idnps
    if shape == "local":
        return f"BIO7^{family}^{given}^^^DR^^^LABO", ""
    return "", ""


# ---------------------------------------------------------------------------- results

# (code^label^system, OBX-2, unit spellings, low, high, reference ranges) — mapped, LOINC and unmapped codes.
_NUMERIC_TESTS = (
    ("NA^Sodium^L", ("mmol/L", "mmol/l", ""), 120, 160, ("135-145", "135_145", "")),
    ("K^Potassium^L", ("mmol/L", "mmol/l"), 2, 7, ("3.5-5.0", "3,5-5,0")),
    ("GLY^Glycémie à jeun^L", ("g/L", "g/l"), 0, 3, ("0.70-1.10", "<1.10")),
    ("GLYMG^Glycémie à jeun^L", ("mg/dL",), 50, 300, ("70-110",)),
    ("ASAT^ASAT^L", ("UI/L", "U/L"), 5, 300, ("<35", "<=35", "")),
    ("GB^Leucocytes^L", ("G/L", "10*9/L"), 1, 30, ("4.0-10.0",)),
    ("PLT^Plaquettes^L", ("G/L",), 20, 900, ("150-400", ">150")),
    ("HT^Hématocrite^L", ("%",), 20, 60, ("37-47",)),
    ("TSH^TSH^L", ("mUI/L",), 0, 20, ("0.27-4.20", "<4.20")),
    ("CRP^Protéine C réactive^L", ("mg/L", "mg/l"), 0, 200, ("<5", "<=5", "<80")),
    ("HB^Hémoglobine^L", ("g/dL",), 5, 20, ("12.0-16.0", ">=12")),
    ("2345-7^Glucose^LN", ("mg/dL",), 50, 300, ("70-99",)),
    ("XVITD^Vitamine D^L", ("nmol/L",), 10, 200, ("75-250", ">75")),
)
# The smallest valid PDF, base64 in an ED: ^AP^PDF^Base64^…
_PDF_ED = "^AP^PDF^Base64^" + base64.b64encode(
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n").decode()
_CODED_VALUES = ("POS^Positif^L", "NEG^Négatif^L", "DET^Détecté^L", "260385009^Negative^SCT")
_STATUSES = ("F", "F", "F", "F", "C", "P", "X", "W", "D", "I", "R", "S", "U", "O", "N", "")
_FLAGS = ("", "", "N", "H", "L", "HH", "LL", "A", "<", ">", "H~A")
_METHODS = ("", "", "DEH^Spectrophotométrie enzyme/UV  Hexokinase^ANSM", "^Immunoturbidimétrie^L",
            "TURB^Turbidimétrie^99LAB", "UEA^Immunodosage EIA^1.2.250.1.213.2.3.5")
_EXECUTING = ("", "", "LABO SOUS-TRAITANT^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^330000000",
              "Laboratoire Cerba", "LABO SPECIAL^^^^^^^^^750000001")


@st.composite
def _value(draw: st.DrawFn, enc: _Enc) -> tuple[str, str, str, str, str]:
    """(OBX-2, OBX-3, OBX-5, OBX-6, OBX-7) as escaped ER7 fields."""
    kind = draw(st.sampled_from(["NM", "NM", "NM", "NM", "SN", "ST", "TX", "FT", "CE", "CWE", "CNE", "IS", "DT", "TS",
                                 "NR", "ED"]))
    if kind == "ED":  # a PDF the SIL attaches as a result (OBX-2 ED, or a lying CE)
        return draw(st.sampled_from(["ED", "CE"])), "CRPDF^Compte rendu PDF^L", _PDF_ED, "", ""
    if kind == "IS":
        return kind, "TOXOGI^Toxoplasmose IgG^L", draw(st.sampled_from(["POS", "NEG"])), "", ""
    if kind in ("NM", "SN", "NR"):
        code, units, low, high, ranges = draw(st.sampled_from(_NUMERIC_TESTS))
        unit = _e(enc, draw(st.sampled_from(units)))
        ref = _e(enc, draw(st.sampled_from(ranges)))
        number = draw(st.decimals(low, high, places=draw(st.integers(0, 3)), allow_nan=False))
        text = str(number)
        if kind == "NM":
            if draw(st.booleans()) and "." in text:
                text = text.replace(".", ",")  # decimal comma
            value = text
        elif kind == "SN":
            value = draw(st.sampled_from([f"<^{text}", f">=^{text}", f"^{text}", "^1^:^128", f"^{text}^-^{high}"]))
        else:
            value = f"{low}^{high}"
        return kind, code, value, unit, ref
    if kind in ("CE", "CWE", "CNE"):
        value = draw(st.sampled_from(_CODED_VALUES))
        return kind, "TOXOGI^Toxoplasmose IgG^L", value, "", ""
    if kind in ("DT", "TS"):
        when = draw(_moment())
        stamp = when.strftime("%Y%m%d" if kind == "DT" else "%Y%m%d%H%M")
        return kind, "DDR^Date des dernières règles^L", stamp, "", ""
    text = draw(st.sampled_from(["Absence de cristaux", "Trouble ≥ 2 croix", "Aspect : clair\nCouleur : jaune",
                                 "Valeur > seuil & confirmée", "Hémolyse légère"]))
    escaped = _e(enc, text)
    if "≥" in text and (enc.codec != "utf-8" or draw(st.booleans())):
        # An HTML entity whose & had to be escaped: how SILs write ≥ in a single-byte charset.
        escaped = escaped.replace("≥", "\\T\\#8805;")
    if kind in ("TX", "FT") and draw(st.booleans()):
        escaped = escaped.replace("\\.br\\", "\\X0D0A\\")
    return kind, "ASPECT^Aspect^L", escaped, "", ""


@st.composite
def _result(draw: st.DrawFn, enc: _Enc, n: int, base: datetime, status: str, biologist: tuple[str, str, str]
            ) -> tuple[str, str]:
    """One OBX (+NTE); returns (segments, the OBX-16 biologist's IDNPS)."""
    vt, code, value, unit, ref = draw(_value(enc))
    if status == "X" and draw(st.booleans()):
        value = ""  # cannot obtain: no value at all
    flags = draw(st.sampled_from(_FLAGS))
    observer, observer_id = draw(_observer(biologist))
    observed = draw(_dtm(base + timedelta(hours=2))) if draw(st.booleans()) else ""
    analysed = draw(_dtm(base + timedelta(hours=3))) if draw(st.booleans()) else ""
    method = draw(st.sampled_from(_METHODS))
    if method.endswith("^ANSM") and draw(st.booleans()):
        technique = draw(st.sampled_from(sorted(TECHNIQUES)))  # any code of the table, current or retired
        method = f"{technique}^{_e(enc, TECHNIQUES[technique])}^ANSM"
    if draw(st.integers(0, 9)) == 0:
        code = code.split("^", 1)[0]  # OBX-3 with the code alone, no text: some SILs send only that
    executing = draw(st.sampled_from(_EXECUTING))
    fields = ["OBX", str(n), vt, code, "", value, unit, ref, flags, "", "", status, "", "", observed, "",
              observer, method, "", analysed, "", "", "", executing]
    segs = ["|".join(fields).rstrip("|")]
    for _ in range(draw(st.integers(0, 1 if n > 1 else 2))):
        segs.append("NTE|1|L|" + _e(enc, draw(st.sampled_from(_RESULT_NOTES))))
    return "\r".join(segs), observer_id


_RESULT_NOTES = ("Contrôlé.", "Résultat vérifié\\sur un 2e tube", "À recontrôler")
_SPECIMENS = ("BLD^Sang total^HL70487", "SER^Sérum^HL70487", "UR^Urine^HL70487", "PLAS^Plasma^HL70487",
              "119297000^Blood specimen^SCT", "122575003^Urine specimen^SCT", "SG^Sang^L", "")


@st.composite
def _order(draw: st.DrawFn, enc: _Enc, n: int, number: str, status_pool: tuple[str, ...],
           biologist: tuple[str, str, str]) -> tuple[str, list[NamedDoctor], list[str], int, int]:
    """ORC+OBR+NTE+OBX(+NTE)+SPM(+OBX): (segments, doctors named, biologist ids in order, results, reportable)."""
    base = draw(_moment())
    collected = draw(_dtm(base)) if draw(st.integers(0, 4)) else ""
    received = draw(_dtm(base + timedelta(minutes=40))) if draw(st.booleans()) else ""
    reported = draw(_dtm(base + timedelta(hours=6))) if draw(st.integers(0, 4)) else ""
    doctors: list[NamedDoctor] = []
    prescriber, named = draw(_doctor(enc, "ORC-12/OBR-16"))
    if draw(st.integers(0, 6)) == 0:
        prescriber, named = "", None
    if named is not None:
        doctors.append(named)
    copies = []
    for _ in range(draw(st.integers(0, 2))):
        xcn, copy = draw(_doctor(enc, "OBR-28"))
        copies.append(xcn)
        if copy is not None:
            doctors.append(copy)
    interpreter, interpreter_id = draw(_interpreter(enc, biologist))
    battery = draw(st.sampled_from(["NFS^Numération formule sanguine^L", "IONO^Ionogramme^L", "BILAN^Bilan du jour^L",
                                    "24323-8^Bilan métabolique^LN", "PANEL7"]))
    segs = []
    with_orc = draw(st.booleans())
    place = draw(st.sampled_from(["orc", "obr", "both"])) if with_orc else "obr"
    if with_orc:
        orc12 = prescriber if place in ("orc", "both") else ""
        segs.append(f"ORC|RE|{number}^SIL|D{number}^LABO||CM||||{collected}|||{orc12}".rstrip("|"))
    obr16 = prescriber if place in ("obr", "both") else ""
    obr = ["OBR", str(n), f"{number}^SIL", f"D{number}^LABO", battery, "", "", collected, "", "", "", "", "", "",
           received, "", obr16, "", "", "", "", "", reported, "", "", draw(st.sampled_from(["F", "F", "P", "C", ""])),
           "", "", "~".join(copies), "", "", "", interpreter]
    segs.append("|".join(obr).rstrip("|"))
    for _ in range(draw(st.integers(0, 2))):
        segs.append("NTE|1|P|" + _e(enc, draw(st.sampled_from(["Patient à jeun", "Prélèvement à 8h ; tube n°2"]))))
    biologists = [interpreter_id] if interpreter_id else []
    observers = []
    count = draw(st.integers(0, 4))
    statuses = [draw(st.sampled_from(status_pool)) for _ in range(count)]
    spm_at = draw(st.integers(0, count)) if draw(st.booleans()) else None
    for i, status in enumerate(statuses, start=1):
        if spm_at is not None and i == spm_at + 1:
            segs.append(_spm(draw, enc, number, base))
        text, observer = draw(_result(enc, i, base, status, biologist))
        segs.append(text)
        if observer:
            observers.append(observer)
    if spm_at is not None and spm_at == count:
        segs.append(_spm(draw, enc, number, base))
    reportable = sum(1 for s in statuses if s not in ("D", "W"))
    return "\r".join(segs), doctors, biologists + observers, count, reportable


def _spm(draw: st.DrawFn, enc: _Enc, number: str, base: datetime) -> str:
    kind = draw(st.sampled_from(_SPECIMENS))
    collected = draw(_dtm(base)) if draw(st.booleans()) else ""
    received = draw(_dtm(base + timedelta(minutes=30))) if draw(st.booleans()) else ""
    fields = ["SPM", "1", f"E{number}" if draw(st.booleans()) else "", "", kind] + [""] * 12 + [collected, received]
    return "|".join(fields).rstrip("|")


# ---------------------------------------------------------------------------- patient and message


@st.composite
def _patient(draw: st.DrawFn, enc: _Enc, index: int, number: str, status_pool: tuple[str, ...]
             ) -> tuple[str, GeneratedPatient]:
    family = draw(_name(enc.codec, "ZQ"))
    biologist = draw(st.sampled_from(BIOLOGISTS))  # one validating biologist per report, in any shape
    given = draw(_name(enc.codec))
    birth = draw(st.dates(datetime(1920, 1, 1).date(), datetime(2025, 12, 31).date())).strftime("%Y%m%d")
    birth_field = draw(st.sampled_from([birth, birth, birth, birth, birth, birth + "0830", ""]))
    sex = draw(st.sampled_from(["F", "M", "U", "O", "A", "N", ""]))
    ipp = f"IPP{number}{index}"
    authority = draw(st.sampled_from(IPP_AUTHORITIES))
    ids = [f"{ipp}^^^{authority}^PI" if authority else ipp]
    ins = ""
    qualified = False
    status = ""
    if draw(st.booleans()):
        ins = draw(_ins())
        ids.insert(draw(st.integers(0, 1)), f"{ins}^^^{INS_NIR_AUTHORITY}^INS")
        status = draw(st.sampled_from(["QUAL", "QUAL", "VALI", ""]))
        qualified = status == "QUAL"
    names = [f"{_e(enc, family)}^{_e(enc, given)}^{_e(enc, given)}^^^^L"]
    if draw(st.booleans()):
        names.append(f"{_e(enc, family)}-USAGE^{_e(enc, given)}^^^^^D")
    addresses = []
    if draw(st.booleans()):
        addresses.append("12 RUE DES ESSAIS^^PARIS^^75001^FRA^H")
    if qualified and draw(st.integers(0, 5)):
        addresses.append(f"^^LYON^^^FRA^BDL^^{draw(st.sampled_from(['69123', '75056', '2A004']))}")
    pid = ["PID", "1", "", "~".join(ids), "", "~".join(names), "", birth_field, sex, "", "", "~".join(addresses)]
    pid += [""] * (32 - len(pid)) + [status]
    segs = ["|".join(pid).rstrip("|")]
    for _ in range(draw(st.integers(0, 1))):
        segs.append("NTE|1|L|" + _e(enc, "Patient sous anticoagulant"))
    doctors: list[NamedDoctor] = []
    biologists: list[str] = []
    results = reportable = 0
    for n in range(1, draw(st.integers(1, 3)) + 1):
        text, named, bio, count, ok = draw(_order(enc, n, f"{number}{index}{n}", status_pool, biologist))
        segs.append(text)
        doctors += named
        biologists += bio
        results += count
        reportable += ok
    meant = biologists[0] if biologists else ""  # the one biologist, when some field identifies them
    return "\r".join(segs), GeneratedPatient(family, birth, ins, sex, qualified, meant, tuple(doctors), results,
                                             reportable)


_ENCODINGS = (("UNICODE UTF-8", "utf-8"), ("8859/1", "latin-1"), ("", "utf-8"), ("8859/15", "iso8859-15"),
              ("8859/1", "utf-8"))  # the last one lies: 8859/1 declared over UTF-8 bytes


@st.composite
def _encoding(draw: st.DrawFn) -> _Enc:
    charset, codec = draw(st.sampled_from(_ENCODINGS))
    return _Enc(draw(st.sampled_from(["^~\\&", "^~\\&", "^~\\&#"])), charset, codec,
                draw(st.sampled_from(["\r", "\n", "\r\n"])))


@st.composite
def oru_messages(draw: st.DrawFn, *, control_id: str | None = None, status_pool: tuple[str, ...] = _STATUSES
                 ) -> GeneratedMessage:
    """One ORU^R01 message with one or two patients."""
    enc = draw(_encoding())
    number = draw(st.sampled_from(["C1", "C2", "C3"])) + str(draw(st.integers(0, 9)))
    # A small pool of MSH-10 on purpose: SILs reuse control ids, and ids must not collide for it.
    control = control_id or "M" + str(draw(st.integers(0, 4)))
    when = draw(_moment())
    msh = ["MSH", enc.chars, "SIL", "LABO", "CONNECTEUR", "LABO", draw(_dtm(when)), "", "ORU^R01^ORU_R01", control,
           "P", draw(st.sampled_from(["2.5", "2.5.1", "2.3"])), "", "", "", "", "FRA", enc.charset]
    segments = ["|".join(msh).rstrip("|")]
    patients = []
    for index in range(draw(st.integers(1, 2)) if draw(st.integers(0, 5)) == 0 else 1):
        text, patient = draw(_patient(enc, index, number, status_pool))
        segments.append(text)
        patients.append(patient)
    text = "\r".join(segments).replace("\r", enc.line_end) + enc.line_end
    features = (f"charset={enc.charset or 'none'}/{enc.codec}", f"msh2={enc.chars}",
                f"eol={enc.line_end.encode().hex()}")
    return GeneratedMessage(text.encode(enc.codec), tuple(patients), features, enc.codec, enc.line_end)


@st.composite
def messages(draw: st.DrawFn) -> tuple[GeneratedMessage, ...]:
    """One message, or a preliminary one followed by its correction (same order numbers, new MSH-10)."""
    first = draw(oru_messages())
    if draw(st.integers(0, 4)):
        return (first,)
    return first, first.corrected(draw(st.sampled_from(["M7", "M8"])))


def directory_extract() -> str:
    """The national-directory extract (MSSanté format) knowing :data:`DIRECTORY_DOCTORS`."""
    return extract(row(address, idnps, family=family, given=given, civility="DR")
                   for idnps, family, given, address in DIRECTORY_DOCTORS)
