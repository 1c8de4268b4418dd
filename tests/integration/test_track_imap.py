"""Real DSNs and injected MDNs read over IMAP from the Postfix + Dovecot operator simulator.

Send one report mail to a known and an unknown mailbox (NOTIFY=SUCCESS,FAILURE, RET=HDRS, ENVID),
read both DSNs with STARTTLS + LOGIN, inject MDNs (processed, processed/error 902) through the
plain fixture port, read them with SASL EXTERNAL, file everything into the done folder and check
that the cursor resumes with nothing new.
"""

from __future__ import annotations

import imaplib
import ssl
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest

from connector.errors import ImapUnavailable
from connector.send import TlsSettings, create_ssl_context
from connector.states import RecipientState
from connector.track import (
    Ack,
    AckMailbox,
    Cursor,
    ImapSettings,
    encode_mailbox_name,
    parse_acks,
)
from tests.simulator.plugin import OperatorSim  # the fixture comes from the root conftest's plugin
from tests.support.mail import inject, mdn
from tests.support.settings import imap_settings, tls_settings

pytestmark = pytest.mark.simulator


def sim_tls(sim: OperatorSim, *, client_cert: bool = True, cafile: Path | None = None) -> TlsSettings:
    return tls_settings(cafile=cafile or sim.pki.ca, certfile=sim.pki.client_cert if client_cert else None,
                       keyfile=sim.pki.client_key if client_cert else None)


def tls_context(sim: OperatorSim, *, client_cert: bool = True, cafile: Path | None = None) -> ssl.SSLContext:
    """The send stage's one SSLContext factory, as the service will build it for IMAP too."""
    return create_ssl_context(sim_tls(sim, client_cert=client_cert, cafile=cafile), production=False)


def settings(sim: OperatorSim, **overrides: object) -> ImapSettings:
    base: dict[str, object] = {
        "host": sim.imap_host, "port": sim.imap_port, "username": sim.lab_mailbox,
        "password": sim.passwords[sim.lab_mailbox], "done_folder": "Traités", "unknown_folder": "Inconnus",
        "tls": sim_tls(sim),
    }
    base.update(overrides)
    return imap_settings(**base)


def fetch_until(box: AckMailbox, cursor: Cursor | None, want: int, match: object,
                timeout: float = 15.0) -> tuple[Cursor | None, list[tuple[int, Ack]]]:
    """Poll IMAP until ``want`` acks satisfy ``match``; returns the last cursor and (uid, ack) pairs."""
    found: list[tuple[int, Ack]] = []
    deadline = time.monotonic() + timeout
    while True:
        for cur, raw in box.fetch_new(cursor):
            cursor = cur
            found.extend((cur[1], a) for a in parse_acks(raw) if match(a))  # type: ignore[operator]
        if len(found) >= want or time.monotonic() > deadline:
            return cursor, found
        time.sleep(0.1)


@pytest.fixture
def sent(operator_sim: OperatorSim) -> Iterator[tuple[str, str, str]]:
    """(envid, Message-ID, unknown address) of one report mail sent through the submission port."""
    sim = operator_sim
    envid = uuid.uuid4().hex
    unknown = f"inconnu-{envid[:8]}@hopital.test"
    msg = EmailMessage()
    msg["From"] = sim.lab_mailbox
    msg["To"] = f"dr.x@hopital.test, {unknown}"
    msg["Subject"] = "XDM/1.0/DDM+CR d'examens biologiques SYNTH-NOM SYNTH-PRENOM"
    msg["Message-ID"] = make_msgid(domain="labo.test")
    msg["Disposition-Notification-To"] = sim.lab_mailbox
    msg.set_content("Compte rendu de biologie (synthétique).")
    import asyncio

    errors, _ = asyncio.run(aiosmtplib.send(
        msg, sender=sim.lab_mailbox, recipients=["dr.x@hopital.test", unknown], hostname=sim.smtp_host,
        port=sim.submission_port, start_tls=True, tls_context=tls_context(sim), timeout=10,
        mail_options=["RET=HDRS", f"ENVID={envid}"], rcpt_options=["NOTIFY=SUCCESS,FAILURE"]))
    assert errors == {}
    yield envid, str(msg["Message-ID"]), unknown


def test_dsns_then_mdns_over_imap(operator_sim: OperatorSim, sent: tuple[str, str, str]) -> None:
    sim = operator_sim
    envid, message_id, unknown = sent

    # 1. both real DSNs, STARTTLS + LOGIN
    with AckMailbox(settings(sim), tls_context(sim, client_cert=False)) as box:
        cursor, dsns = fetch_until(box, None, 2, lambda a: a.kind == "dsn" and a.envid == envid)
        by_recipient = {a.recipient: a for _, a in dsns}
        assert set(by_recipient) == {"dr.x@hopital.test", unknown}
        assert by_recipient["dr.x@hopital.test"].state is RecipientState.DELIVERED  # Action: relayed (LMTP)
        failed = by_recipient[unknown]
        assert (failed.state, failed.status, failed.error_code) == (RecipientState.FAILED, "5.1.1", "550")
        assert all(a.original_message_id == message_id for _, a in dsns)  # from RET=HDRS headers
        for uid, _ in dsns:
            box.move_done(uid, known=True)

    # 2. MDNs injected through the plain fixture port, read with SASL EXTERNAL
    inject(sim, mdn(reader="dr.x@hopital.test", to=sim.lab_mailbox, original_message_id=message_id))
    inject(sim, mdn(reader="dr.x@hopital.test", to=sim.lab_mailbox, original_message_id=message_id,
                    error="902^Identifiant de patient inconnu^applicationErrorCondition| E^Error^errorSeverity"))
    with AckMailbox(settings(sim, sasl_external=True, username="", password=""), tls_context(sim)) as box:
        cursor, mdns = fetch_until(box, cursor, 2, lambda a: a.kind == "mdn" and a.original_message_id == message_id)
        states = sorted((a.state.value, a.error_code) for _, a in mdns)
        assert states == [("error", "902"), ("processed", "")]
        for uid, _ in mdns:
            box.move_done(uid, known=True)
        # cursor resume: nothing of ours comes back
        again = [a for _, raw in box.fetch_new(cursor) for a in parse_acks(raw)
                 if a.envid == envid or a.original_message_id == message_id]
        assert again == []

    # 3. the four messages are in the done folder
    with imaplib.IMAP4(sim.imap_host, sim.imap_port, timeout=10) as imap:
        imap.starttls(ssl_context=tls_context(sim, client_cert=False))
        imap.login(sim.lab_mailbox, sim.passwords[sim.lab_mailbox])
        typ, _ = imap.select('"' + encode_mailbox_name("Traités") + '"', readonly=True)
        assert typ == "OK"
        _, dsn_hits = imap.uid("SEARCH", "BODY", envid)
        _, mdn_hits = imap.uid("SEARCH", "BODY", message_id.strip("<>"))
        assert len(dsn_hits[0].split()) == 2
        assert len(mdn_hits[0].split()) >= 2  # the MDNs (the DSNs' returned headers hold it too)


def test_changed_uidvalidity_rescans(operator_sim: OperatorSim, sent: tuple[str, str, str]) -> None:
    sim = operator_sim
    envid = sent[0]
    sim.wait_for_messages(sim.lab_mailbox, 2, match=lambda raw: envid.encode() in raw)
    with AckMailbox(settings(sim), tls_context(sim, client_cert=False)) as box:
        cursor, first = fetch_until(box, None, 2, lambda a: a.envid == envid)
        assert cursor is not None and len(first) == 2
        stale = (cursor[0] + 1, cursor[1])  # the folder was recreated: same UIDs mean other messages
        rescanned = [a for _, raw in box.fetch_new(stale) for a in parse_acks(raw) if a.envid == envid]
        assert len(rescanned) == 2
        assert [a for _, raw in box.fetch_new(cursor) for a in parse_acks(raw) if a.envid == envid] == []
        box.move_done(first[0][0], known=False)  # into the unknown folder
        box.move_done(first[1][0], known=True)


def test_implicit_tls_with_external(operator_sim: OperatorSim) -> None:
    """IMAPS (TLS from the first byte) with SASL EXTERNAL: the client certificate alone logs in and an ack is read."""
    sim = operator_sim
    message_id = make_msgid(domain="labo.test")
    inject(sim, mdn(reader="dr.x@hopital.test", to=sim.lab_mailbox, original_message_id=message_id))
    with AckMailbox(settings(sim, port=sim.imaps_port, starttls=False, sasl_external=True), tls_context(sim)) as box:
        _, found = fetch_until(box, None, 1, lambda a: a.kind == "mdn" and a.original_message_id == message_id)
        assert [(a.state.value, a.error_code) for _, a in found] == [("processed", "")]
        box.move_done(found[0][0], known=True)


@pytest.mark.parametrize("case", ["bad password", "unknown CA", "external without cert"])
def test_refusals_are_imap_unavailable(operator_sim: OperatorSim, case: str) -> None:
    sim = operator_sim
    if case == "bad password":
        box = AckMailbox(settings(sim, password="wrong"), tls_context(sim, client_cert=False))
    elif case == "unknown CA":
        box = AckMailbox(settings(sim), tls_context(sim, client_cert=False, cafile=sim.pki.rogue_ca))
    else:
        box = AckMailbox(settings(sim, sasl_external=True), tls_context(sim, client_cert=False))
    with box, pytest.raises(ImapUnavailable):
        list(box.fetch_new(None))
