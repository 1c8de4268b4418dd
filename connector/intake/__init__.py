"""Intake stage: the drop folder and the MLLP listener hand raw input to a :class:`Sink`.

The intake knows nothing of parsing or storage: it acts on the sink's :class:`Receipt`
(archive or quarantine a file; AA, AE or AR for an MLLP message, sent only after the
sink committed).
"""

from connector.intake.ack import build_ack
from connector.intake.folder import DropFolder, FolderSettings
from connector.intake.framing import send_mllp
from connector.intake.mllp import MllpServer, MllpSettings
from connector.intake.peers import PeerPolicy, server_tls_context
from connector.intake.sink import Receipt, Sink

__all__ = [
    "DropFolder",
    "FolderSettings",
    "MllpServer",
    "MllpSettings",
    "PeerPolicy",
    "Receipt",
    "Sink",
    "build_ack",
    "send_mllp",
    "server_tls_context",
]
