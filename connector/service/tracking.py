"""The service's side of tracking: read the lab mailbox once, deliver pending ZAMs once.

Order matters for "nothing lost, nothing twice": an ack mail is applied and committed
(recipient state, report state, the ZAM it owes the SIL, the IMAP cursor) *before* it
is moved out of the inbox; a crash in between re-reads it and applying it again changes
nothing (same states, the ZAM is keyed by name).
"""

from __future__ import annotations

import logging

from connector.config.settings import imap_settings, sil_outbox
from connector.errors import PermanentError
from connector.logs import event
from connector.send import create_ssl_context
from connector.track import AckMailbox

from .runtime import Runtime

__all__ = ["deliver_outbox_once", "read_acks_once"]


def read_acks_once(runtime: Runtime) -> int:
    settings = imap_settings(runtime.config)
    context = create_ssl_context(settings.tls, production=runtime.config.production)
    handled = 0
    with AckMailbox(settings, context) as mailbox:
        cursor = runtime.store.imap_cursor(settings.mailbox)
        for new_cursor, raw in mailbox.fetch_new(cursor):
            known = runtime.pipeline.handle_ack_mail(raw)
            runtime.store.set_imap_cursor(settings.mailbox, new_cursor)
            mailbox.move_done(new_cursor[1], known=known)
            handled += 1
    return handled


def deliver_outbox_once(runtime: Runtime) -> int:
    outbox = sil_outbox(runtime.config)
    sent = 0
    # Claimed: with several instances on one store each ZAM is handed over by one of them (a lease).
    for outbox_id, name, data in runtime.store.claim_outbox():
        try:
            outbox.deliver(data, name=name)
        except PermanentError as exc:  # the SIL answered AR: resending the same bytes cannot help
            event("sil.zam_refused", level=logging.ERROR, outbox_id=outbox_id, reason=str(exc))
            runtime.store.outbox_done(outbox_id, refused=True)
            continue
        runtime.store.outbox_done(outbox_id)
        event("sil.zam_sent", outbox_id=outbox_id)
        sent += 1
    return sent
