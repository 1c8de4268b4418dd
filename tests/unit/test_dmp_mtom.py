"""MTOM writer: any binary parts come back byte for byte through the stdlib MIME parser."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import HTTP

from hypothesis import given
from hypothesis import strategies as st

from connector.dmp.mtom import Attachment, multipart_related
from connector.dmp.responses import soap_part

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"


@given(root=st.binary(min_size=1, max_size=300), blobs=st.lists(st.binary(max_size=500), min_size=1, max_size=3),
       seed=st.text(max_size=20))
def test_parts_round_trip_exactly(root: bytes, blobs: list[bytes], seed: str) -> None:
    attachments = tuple(Attachment(f"part{i}@dmp", blob) for i, blob in enumerate(blobs))
    content_type, body = multipart_related(root=root, root_id="root@dmp", action=ACTION, attachments=attachments,
                                           seed=seed)
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=HTTP)
    parts = list(message.iter_parts())
    assert message.get_content_type() == "multipart/related"
    assert message.get_param("start") == "<root@dmp>" and message.get_param("action") == ACTION
    assert [p.get("Content-ID") for p in parts] == ["<root@dmp>", *(f"<{a.content_id}>" for a in attachments)]
    assert [p.get_payload(decode=True) for p in parts] == [root, *blobs]
    assert soap_part(content_type, body) == root


def test_a_part_holding_the_boundary_gets_another_one() -> None:
    first_type, _ = multipart_related(root=b"<x/>", root_id="r@d", action=ACTION, attachments=(), seed="s")
    boundary = first_type.split('boundary="')[1].split('"')[0]
    content_type, body = multipart_related(root=b"<x/>", root_id="r@d", action=ACTION,
                                           attachments=(Attachment("a@d", f"--{boundary}".encode()),), seed="s")
    assert boundary not in content_type
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=HTTP)
    assert [p.get_payload(decode=True) for p in message.iter_parts()][1] == f"--{boundary}".encode()
