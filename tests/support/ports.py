"""Loopback ports for the servers the tests start, and a listener that greets with one line and hangs up."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Self


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it; a test then binds it or leaves it closed)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Greeter:
    """A listener that answers every connection with ``line`` at once and closes: an overloaded server
    (SMTP ``421`` at connect, IMAP ``* BYE``). Blocking accept in a daemon thread, stopped by :meth:`close`."""

    def __init__(self, line: bytes, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.line = line
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # takes over a port just closed
        self._sock.bind((host, port))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(self.line)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
