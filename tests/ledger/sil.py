"""A SIL's MLLP sender: one message at a time, resent until an AA/CA comes back (the connector may be down).

Blocking sockets in a thread, so the test's main thread is free to kill and restart the service.
Every ACK received is recorded per MSH-10: the ledger checks each message ended with exactly one
accepting ACK and that a deliberate resend got the stored ACK back, byte for byte.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.ledger.oru import LedgerEntry
from tests.support.mllp import TIMEOUT_SECONDS, frame, read_frame

RECONNECT_PAUSE_SECONDS = 0.2  # a real SIL waits longer; short keeps the test fast


def ack_code(ack: bytes) -> str:
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA|"):
            return segment.split(b"|")[1].decode("ascii", "replace")
    return ""


@dataclass
class SilSender:
    host: str
    port: int
    acks: dict[str, list[bytes]] = field(default_factory=dict)  # MSH-10 → every ACK received, in order
    replayed: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # MSH-10 → (first ACK, replayed ACK)
    attempts: int = 0
    _sock: socket.socket | None = None

    def send_until_accepted(self, control_id: str, message: bytes, stop: threading.Event) -> bytes:
        """Resend until AA/CA (or AR, recorded as such); returns the accepting ACK."""
        while not stop.is_set():
            self.attempts += 1
            try:
                ack = self._exchange(message)
            except OSError:
                self._close()
                time.sleep(RECONNECT_PAUSE_SECONDS)
                continue
            self.acks.setdefault(control_id, []).append(ack)
            if ack_code(ack) in ("AA", "CA", "AR", "CR"):
                return ack
            time.sleep(RECONNECT_PAUSE_SECONDS)  # AE: not committed, resend
        raise TimeoutError(f"{control_id}: no ACK before the test stopped the sender")

    def replay(self, control_id: str, message: bytes, first: bytes, stop: threading.Event) -> None:
        """The SIL lost an ACK it had received and resends: the connector must answer the stored ACK."""
        while not stop.is_set():
            try:
                self.replayed[control_id] = (first, self._exchange(message))
                return
            except OSError:
                self._close()
                time.sleep(RECONNECT_PAUSE_SECONDS)

    def _exchange(self, message: bytes) -> bytes:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=TIMEOUT_SECONDS)
        self._sock.sendall(frame(message))
        return read_frame(self._sock)

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        self._close()


def paced(items: list, action: Callable[[object], None], *, pause: Callable[[], float],
          stop: threading.Event) -> threading.Thread:
    """Run ``action`` on each item in a daemon thread, sleeping ``pause()`` seconds between items."""

    def run() -> None:
        for item in items:
            if stop.is_set():
                return
            action(item)
            stop.wait(pause())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread



@dataclass(frozen=True, kw_only=True)
class Pacing:
    """How a SIL hands its inputs over: mostly in bursts (flushing its queue), with pauses between bursts."""

    seed: int
    burst_share: float  # share of the gaps that are a burst's (``burst_pause``) rather than a pause
    burst_pause: float
    pause: tuple[float, float]  # seconds between two bursts
    replay_every: int  # every n-th MLLP message (by its control id) is resent once after its AA


def feed(entries: list[LedgerEntry], *, drop_file: Callable[[str, bytes], None], sil: SilSender,
         pacing: Pacing, stop: threading.Event) -> list[threading.Thread]:
    """The ledger's SIL: file entries written into the drop folder, MLLP entries sent until accepted (some
    replayed), each channel in a thread of its own; the threads, to join."""
    file_rng, mllp_rng = random.Random(pacing.seed + 1), random.Random(pacing.seed + 2)

    def pause(r: random.Random) -> Callable[[], float]:
        return lambda: pacing.burst_pause if r.random() < pacing.burst_share else r.uniform(*pacing.pause)

    def write(entry: object) -> None:
        assert isinstance(entry, LedgerEntry)
        drop_file(entry.file_name, entry.data)

    def send(entry: object) -> None:
        assert isinstance(entry, LedgerEntry)
        ack = sil.send_until_accepted(entry.control_id, entry.data, stop)
        if int(entry.control_id[-4:]) % pacing.replay_every == 1:
            sil.replay(entry.control_id, entry.data, ack, stop)

    return [paced([e for e in entries if e.channel == "file"], write, pause=pause(file_rng), stop=stop),
            paced([e for e in entries if e.channel == "mllp"], send, pause=pause(mllp_rng), stop=stop)]
