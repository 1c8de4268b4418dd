"""Checks of values that parse but cannot work: each names its key and what a valid value looks like.

Issue 13: port 70000, ``max_connections: 0``, negative timeouts and sizes, a garbage OID or time
zone and a password file readable by others were all accepted, and failed later, one report or
one poll at a time, or never. Here they are refused when the file is read (``connector run`` exits
2 naming the line), and at a reload the running configuration stays.
"""

from __future__ import annotations

import math
import re
import stat
from collections.abc import Callable
from functools import reduce

from connector.limits import MAX_MESSAGE_BYTES

from .schema import Config

__all__ = ["INSTANCE_NAME", "MIN_MESSAGE_BYTES", "check_values"]

MIN_MESSAGE_BYTES = 1024  # an ORU with one result is a few hundred bytes; less is a typo (a unit forgotten)
_PORTS = ("smtp.port", "imap.port", "intake.mllp.port", "metrics.port")
_POSITIVE_SECONDS = ("smtp.timeout", "imap.timeout", "imap.poll_seconds", "intake.mllp.idle_timeout",
                     "intake.mllp.read_timeout", "retry.first_seconds", "retry.max_seconds", "retry.give_up_hours",
                     "build.budget_seconds", "dmp.connect_timeout", "dmp.read_timeout")
_AT_LEAST_ONE = ("intake.mllp.max_connections", "intake.mllp.max_connections_per_peer")
_OIDS = ("lab.oid_root", "lab.ipp_oid")
_SECRET_FILES = ("smtp.password_file", "imap.password_file")
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_ZONE = re.compile(r"[+-](0[0-9]|1[0-4])[0-5][0-9]")
# An instance's name is a folder name (its drop-folder claims) and a metrics label: no separator, no space.
INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")

Fail = Callable[[str, str], None]  # (what was expected, dotted key): raises


def value_at(config: Config, dotted: str) -> object:
    return reduce(getattr, dotted.split("."), config)


def check_values(config: Config, fail: Fail) -> None:
    for key in _PORTS:
        port = value_at(config, key)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            fail("expected a TCP port from 1 to 65535", key)
    zam_port = config.sil.zam_port
    if not 0 <= zam_port <= 65535 or (config.sil.zam_host and not zam_port):
        fail("expected a TCP port from 1 to 65535 (0 only when sil.zam_host is empty)", "sil.zam_port")
    for key in _POSITIVE_SECONDS:
        seconds = value_at(config, key)
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
            fail("expected a number of seconds (hours) greater than 0", key)
    if config.retry.max_seconds < config.retry.first_seconds:
        fail("expected at least retry.first_seconds", "retry.max_seconds")
    stable = config.intake.folder.stable_seconds
    if not math.isfinite(stable) or stable < 0:
        fail("expected a number of seconds, 0 or more", "intake.folder.stable_seconds")
    for key in _AT_LEAST_ONE:
        count = value_at(config, key)
        if not isinstance(count, int) or count < 1:
            fail("expected a whole number, 1 or more", key)
    if config.intake.mllp.max_connections_per_peer > config.intake.mllp.max_connections:
        fail("expected at most intake.mllp.max_connections", "intake.mllp.max_connections_per_peer")
    size = config.intake.max_message_bytes
    if not MIN_MESSAGE_BYTES <= size <= MAX_MESSAGE_BYTES:
        fail(f"expected a size in bytes from {MIN_MESSAGE_BYTES} to {MAX_MESSAGE_BYTES} (the built-in ceiling, "
             "50 MiB)", "intake.max_message_bytes")
    for key in _OIDS:
        if not _OID.fullmatch(str(value_at(config, key))):
            fail("expected an OID such as 1.2.250.1.999.1 (digits and dots, no leading zero)", key)
    if not _ZONE.fullmatch(config.lab.timezone):
        fail('expected a UTC offset such as "+0100" or "-0500" (quoted)', "lab.timezone")
    if config.instance.name and not INSTANCE_NAME.fullmatch(config.instance.name):
        fail("expected 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or a digit (it names the "
             "instance's claim folder and its metrics)", "instance.name")


def check_secret_files(config: Config, fail: Fail) -> None:
    """A password file must exist; in production it must be readable by its owner only, like a private key."""
    for key in _SECRET_FILES:
        name = str(value_at(config, key))
        if not name:
            continue
        path = config.path(name)
        try:
            st = path.stat()
        except OSError as exc:
            fail(f"expected a readable file ({exc.strerror or type(exc).__name__}: {path})", key)
            continue
        if not stat.S_ISREG(st.st_mode):
            fail(f"expected a regular file ({path})", key)
        if config.production and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            fail(f"expected a file readable by its owner only (chmod 600 {path})", key)
