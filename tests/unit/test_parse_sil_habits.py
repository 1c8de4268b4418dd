"""Issue 12 classes 7, 8 and 13 at the parse stage: SIL habits that used to lose who did what."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.model import RPPS_OID, Identifier
from connector.parse import parse_message
from connector.parse.er7 import Encoding
from connector.parse.fields import xcn, xon
from connector.parse.orders import principal_interpreter
from tests.support.settings import PARSE

ENC = Encoding()
HEAD = "MSH|^~\\&|SIL|LABO|C|D|20260601101500||ORU^R01|H1|P|2.5\rPID|1||IPP1^^^LABO^PI||ZQNOM^A||19800101|F\r"


@pytest.mark.parametrize(
    ("obr32", "idnps", "family"),
    [
        ("810003461033&DURAND&PAUL&&&DR&&&ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO", "810003461033", "DURAND"),  # HL7
        ("810003461033&DURAND&PAUL&&&DR", "810003461033", "DURAND"),  # CNN without authority
        ("810003461033^DURAND^PAUL^^^DR", "810003461033", "DURAND"),  # components: the SIL habit of the issue
        ("810003461033^DURAND^PAUL^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO", "810003461033", "DURAND"),
        ("10003461033^DURAND^PAUL^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^RPPS", "810003461033", "DURAND"),
        ("810003461033&DURAND&PAUL^202606011015^202606011600", "810003461033", "DURAND"),  # NDL with times
        ("&DURAND&PAUL", "", "DURAND"),  # a name and no id: nothing to sign with
    ],
)
def test_obr32_keeps_the_biologist_in_every_shape(obr32: str, idnps: str, family: str) -> None:
    person = principal_interpreter(obr32, ENC)
    assert person is not None
    assert person.idnps == idnps
    assert person.name.family == family


def test_obr32_components_through_the_whole_message() -> None:
    message = HEAD + "OBR|1|C1|D1|NFS^NFS^L" + "|" * 28 + "810003461033^DURAND^PAUL^^^DR\rOBX|1|NM|HB^Hb^L||13|g/dL\r"
    (report,) = parse_message(message.encode(), settings=PARSE)
    assert report.orders[0].principal_interpreter is not None
    assert report.orders[0].principal_interpreter.idnps == "810003461033"


@given(rpps=st.from_regex(r"[0-9]{11}", fullmatch=True))
def test_bare_idnps_is_recognised_only_without_any_authority(rpps: str) -> None:
    bare = xcn(f"8{rpps}^NOM^PRENOM^^^DR", ENC)
    assert bare is not None and bare.idnps == "8" + rpps
    assert bare.identifier == Identifier("8" + rpps, "", RPPS_OID, "IDNPS")
    local = xcn(f"8{rpps}^NOM^PRENOM^^^DR^^^LABO", ENC)  # the SIL's own table: not reinterpreted
    assert local is not None and local.idnps == ""


@pytest.mark.parametrize("value", ["0123456789^NOM", "81234^NOM", "8123456789012^NOM", "DR42^NOM"])
def test_other_bare_ids_are_not_national(value: str) -> None:
    person = xcn(value, ENC)
    assert person is not None and person.idnps == ""


@pytest.mark.parametrize(
    ("value", "name", "ident"),
    [
        ("LABO SOUS-TRAITANT^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^330000000", "LABO SOUS-TRAITANT",
         Identifier("330000000", "ASIP-SANTE-ST", "1.2.250.1.71.4.2.2", "FINEG")),
        ("Laboratoire Cerba", "Laboratoire Cerba", None),
        ("LABO^^12345", "LABO", Identifier("12345")),  # v2.3 XON-3
        ("", "", None),
    ],
)
def test_obx23_executing_lab(value: str, name: str, ident: Identifier | None) -> None:
    org = xon(value, ENC)
    if not value:
        assert org is None
        return
    assert org is not None and org.name == name and org.identifier == ident


def test_obx23_reaches_the_result() -> None:
    message = (HEAD + "OBR|1|C1|D1|NFS^NFS^L\r"
               "OBX|1|NM|HB^Hb^L||13|g/dL|||||F||||||||||||LABO EXT^^^^^^^^^750000001\r")
    (report,) = parse_message(message.encode(), settings=PARSE)
    lab = report.results[0].executing_lab
    assert lab is not None and lab.name == "LABO EXT" and lab.identifier is not None
    assert lab.identifier.value == "750000001"
