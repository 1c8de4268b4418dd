"""SilOutbox: folder (atomic, 0600) and MLLP (waits for the SIL's ACK, retries) on loopback."""

from __future__ import annotations

import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.errors import ConfigError, PermanentError, TransientError
from connector.track import FolderOutbox, MllpOutbox, encode_mailbox_name
from tests.support.mllp import frame, read_frame
from tests.support.ports import free_port

ZAM = b"MSH|^~\\&|PFI-X|Org|SIL-Y|labo|2026||ZAM^Z02^ZAM_Z01|018|P|2.6\rEVN||2026\r"


def test_folder_outbox_writes_atomically_with_0600(tmp_path: Path) -> None:
    FolderOutbox(directory=tmp_path, mode=0o600).deliver(ZAM, name="zam-018")
    target = tmp_path / "zam-018.hl7"
    assert target.read_bytes() == ZAM
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["zam-018.hl7"]  # no temp file left


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b"])
def test_folder_outbox_refuses_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError):
        FolderOutbox(directory=tmp_path, mode=0o600).deliver(ZAM, name=name)


def test_folder_outbox_failure_is_transient(tmp_path: Path) -> None:
    with pytest.raises(TransientError):
        FolderOutbox(directory=tmp_path / "missing", mode=0o600).deliver(ZAM, name="zam-1")


class FakeSil:
    """An MLLP listener answering each frame with the next reply in ``replies`` (None: hang up)."""

    def __init__(self, replies: list[bytes | None]) -> None:
        self.replies = replies
        self.received: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for reply in self.replies:
            conn, _ = self.sock.accept()
            with conn:
                self.received.append(read_frame(conn))
                if reply is not None:
                    conn.sendall(frame(reply))


def ack(code: str) -> bytes:
    return b"MSH|^~\\&|SIL-Y|labo|PFI-X|Org|2026||ACK^Z02^ACK|9|P|2.6\rMSA|" + code.encode() + b"|018\r"


@pytest.fixture
def sil(request: pytest.FixtureRequest) -> Iterator[FakeSil]:
    server = FakeSil(request.param)
    yield server
    server.sock.close()


@pytest.mark.parametrize("sil", [[ack("AA")]], indirect=True)
def test_mllp_outbox_waits_for_aa(sil: FakeSil) -> None:
    MllpOutbox("127.0.0.1", sil.port, backoff=0.01).deliver(ZAM, name="zam-018")
    assert sil.received == [ZAM]


@pytest.mark.parametrize("sil", [[None, ack("AE"), ack("CA")]], indirect=True)
def test_mllp_outbox_retries_until_accepted(sil: FakeSil) -> None:
    MllpOutbox("127.0.0.1", sil.port, backoff=0.01).deliver(ZAM, name="zam-018")
    assert len(sil.received) == 3


@pytest.mark.parametrize("sil", [[ack("AE"), ack("AE")]], indirect=True)
def test_mllp_outbox_gives_up_with_transient_error(sil: FakeSil) -> None:
    with pytest.raises(TransientError, match="MSA-1 AE"):
        MllpOutbox("127.0.0.1", sil.port, attempts=2, backoff=0.01).deliver(ZAM, name="zam-018")


@pytest.mark.parametrize("sil", [[ack("AR")]], indirect=True)
def test_mllp_outbox_reject_is_permanent(sil: FakeSil) -> None:
    with pytest.raises(PermanentError):
        MllpOutbox("127.0.0.1", sil.port, backoff=0.01).deliver(ZAM, name="zam-018")


def test_mllp_outbox_unreachable_is_transient() -> None:
    with pytest.raises(TransientError):
        MllpOutbox("127.0.0.1", free_port(), attempts=2, backoff=0.01, timeout=1).deliver(ZAM, name="zam-1")


@pytest.mark.parametrize(
    ("name", "encoded"),
    [("INBOX", "INBOX"), ("Traités", "Trait&AOk-s"), ("A&B", "A&-B"), ("Reçus/Échecs", "Re&AOc-us/&AMk-checs")],
)
def test_mailbox_names_in_modified_utf7(name: str, encoded: str) -> None:
    assert encode_mailbox_name(name) == encoded


def test_zam_files_are_readable_by_the_sil_through_the_folder_s_group(tmp_path: Path) -> None:
    """deploy/README.md shares zam/ with the SIL's account through a group: the default mode lets it read."""
    import os

    from connector.config import parse_config
    from connector.config.settings import sil_outbox

    folder = tmp_path / "zam"
    folder.mkdir()
    sil_group = 4242  # the SIL's group, as deploy/README.md sets it on the folder
    if os.geteuid() == 0:
        os.chown(folder, -1, sil_group)
    config = parse_config(f"mode: test\nsil: {{zam_folder: {folder}}}\n", source="c.yaml")
    sil_outbox(config).deliver(ZAM, name="zam-1")
    written = (folder / "zam-1.hl7").stat()
    assert stat.S_IMODE(written.st_mode) == 0o640
    assert written.st_gid == folder.stat().st_gid


@pytest.mark.parametrize("mode", ["0644", "0666", "640x", "99"])
def test_a_zam_mode_that_opens_zams_to_others_is_refused(mode: str) -> None:
    from connector.config import parse_config

    with pytest.raises(ConfigError, match=r"sil\.zam_file_mode"):
        parse_config(f"mode: test\nsil: {{zam_folder: z, zam_file_mode: '{mode}'}}\n", source="c.yaml")
