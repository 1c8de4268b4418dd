"""Issue 13, observations 1 and 8: the safe XML parser refuses any DTD whatever the encoding or where it
stands (the parser says so, not a byte scan), and a forwarded CDA with a DOCTYPE is refused naming OBX-5
instead of reaching schema validation (which raised XMLSchemaValidateError on an entity reference)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.config import demo_config
from connector.config.settings import lab_identity
from connector.embedded import check_embedded
from connector.errors import InputError
from connector.parse import parse_message, split_messages
from connector.xmlsafe import parse_xml
from tests.support.hostile import DOCTYPE_KINDS, cda_with_doctype, sample_cda, shape_b_with
from tests.support.settings import PARSE

LAB = lab_identity(demo_config())
# (Python codec, the name the XML declaration gives): what a SIL could plausibly write.
ENCODINGS = [("utf-8", "UTF-8"), ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16LE"), ("utf-16-be", "UTF-16BE"),
             ("iso-8859-1", "ISO-8859-1"), ("cp1252", "windows-1252")]
DOCTYPES = ['<!DOCTYPE d>', '<!DOCTYPE d SYSTEM "file:///etc/hostname">',
            '<!DOCTYPE d PUBLIC "-//x//y" "http://127.0.0.1:9/x.dtd">', '<!DOCTYPE d [<!ENTITY e "x">]>',
            '<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>']


def _xsd():  # type: ignore[no-untyped-def]
    from connector.cda import XsdValidator
    from tests.support.paths import cda_xsd_or_none as default_xsd_path

    path = default_xsd_path()
    if path is None:
        pytest.skip("the ANS CDA XSD is absent (../shared/ref or CONNECTOR_SHARED_REF)")
    return XsdValidator(path)


@given(encoding=st.sampled_from(ENCODINGS), doctype=st.sampled_from(DOCTYPES),
       comment=st.integers(min_value=0, max_value=9000), use_entity=st.booleans())
def test_any_dtd_is_refused_whatever_the_encoding_and_position(
        encoding: tuple[str, str], doctype: str, comment: int, use_entity: bool) -> None:
    codec, declared = encoding
    body = "<d>&e;</d>" if use_entity and "ENTITY e" in doctype else "<d>x</d>"
    text = f'<?xml version="1.0" encoding="{declared}"?>' + (f"<!--{'c' * comment}-->" if comment else "")
    with pytest.raises(InputError) as caught:
        parse_xml((text + doctype + body).encode(codec), source="hostile.xml")
    assert "DOCTYPE" in caught.value.expected and caught.value.source == "hostile.xml"


@given(encoding=st.sampled_from(ENCODINGS), comment=st.integers(min_value=0, max_value=9000))
def test_the_same_documents_without_dtd_are_read(encoding: tuple[str, str], comment: int) -> None:
    codec, declared = encoding
    text = f'<?xml version="1.0" encoding="{declared}"?>' + (f"<!--{'c' * comment}-->" if comment else "")
    assert parse_xml((text + "<d>x</d>").encode(codec)).text == "x"


def test_a_word_that_only_looks_like_a_declaration_is_not_a_dtd() -> None:
    """The byte scan refused text that merely mentions the keyword; the parser knows better."""
    root = parse_xml(b"<d><![CDATA[<!ENTITY x 'y'> <!DOCTYPE z>]]></d>")
    assert "<!ENTITY" in (root.text or "")


@pytest.mark.parametrize("kind", DOCTYPE_KINDS)
def test_forwarded_cda_with_a_doctype_is_refused_naming_obx5(kind: str) -> None:
    data = shape_b_with(cda_with_doctype(kind))
    report = parse_message(split_messages(data, source="b.hl7")[0], source="b.hl7", settings=PARSE)[0]
    with pytest.raises(InputError) as caught:
        check_embedded(report, lab=LAB, xsd=_xsd())  # the XSD raised XMLSchemaValidateError on &e; before
    assert caught.value.field == "OBX-5" and "document OBX" in caught.value.segment
    assert "DOCTYPE" in caught.value.expected


def test_the_same_cda_without_doctype_is_forwarded() -> None:
    """Control: the sample itself passes, so the DOCTYPE is the one reason for the refusals above."""
    data = shape_b_with(sample_cda())
    report = parse_message(split_messages(data, source="b.hl7")[0], source="b.hl7", settings=PARSE)[0]
    assert check_embedded(report, lab=LAB, xsd=_xsd()).data == sample_cda()
