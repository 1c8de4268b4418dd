"""One YAML file → a checked :class:`Config`; every error names the file, the line, the key and what was expected.

Secrets are never in the file itself: ``*_file`` keys point to files (0600), or the environment
variables named in the example config supply them. Production mode refuses settings that would
break a promise (TLS verification off, test INS accepted).
"""

from __future__ import annotations

import codecs
import dataclasses
import typing
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from connector.errors import ConfigError
from connector.model import IdentityStatus

from .checks import check_secret_files, check_values
from .schema import MAX_STORE_POOL, VALIDATION_MODES, Config
from .settings import dmp_settings

__all__ = ["load_config", "parse_config"]


_MODES = ("production", "test")
_POSTGRES_SCHEMES = ("postgresql", "postgres")
# A store on the same host needs no TLS (unix socket or loopback); any other is reached over verified TLS.
_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration ({exc.strerror})", path=str(path)) from None
    return parse_config(text, source=str(path), base_dir=path.resolve().parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML ({getattr(exc, 'problem', 'syntax error')})", path=source,
                          line=mark.line + 1 if mark else None) from None
    if node is None:
        node = yaml.MappingNode("tag:yaml.org,2002:map", [])
    _refuse_expansion(node, source)
    config: Config = _build(Config, node, source, "")
    config = dataclasses.replace(config, base_dir=str(base_dir or Path.cwd()))
    _check(config, node, source)
    return config


# A configuration has a few hundred values; aliases (``*name``) may repeat a block (a TLS section for SMTP
# and IMAP), but nested aliases expand exponentially: a YAML "billion laughs" ended in MemoryError with an
# empty log. Past this many values once aliases are expanded, the file is refused.
MAX_CONFIG_VALUES = 10_000


def _refuse_expansion(node: yaml.Node, source: str) -> None:
    """Count the values ``node`` holds with its aliases expanded, stopping at :data:`MAX_CONFIG_VALUES`."""
    count, stack = 0, [node]
    while stack:
        current = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(f"at most {MAX_CONFIG_VALUES} values once YAML aliases (*name) are expanded "
                              "(nested aliases expand exponentially)", path=source,
                              line=current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack += (key, value)
        elif isinstance(current, yaml.SequenceNode):
            stack += current.value


def _no_duplicate(node: yaml.MappingNode, source: str, prefix: str) -> None:
    """A key given twice is an error naming both lines (YAML keeps the last one silently)."""
    first: dict[str, int] = {}
    for key_node, _ in node.value:
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key in first:
            dotted = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"duplicate key: given at line {first[key]} and again at line {line}",
                              path=source, line=line, key=dotted)
        first[key] = line


def _build(cls: type, node: yaml.Node, source: str, prefix: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("expected a mapping of keys", path=source, line=node.start_mark.line + 1, key=prefix)
    _no_duplicate(node, source, prefix)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "base_dir"}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            raise ConfigError(f"unknown key (expected one of: {', '.join(sorted(names))})", path=source,
                              line=key_node.start_mark.line + 1, key=dotted)
        values[key] = _value(hints[key], value_node, source, dotted)
    return cls(**values)


def _value(kind: Any, node: yaml.Node, source: str, key: str) -> Any:
    line = node.start_mark.line + 1
    if dataclasses.is_dataclass(kind):
        return _build(kind, node, source, key)  # type: ignore[arg-type]
    origin = typing.get_origin(kind)
    if origin is tuple:  # a list of texts (networks, names)
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            return ()
        if not isinstance(node, yaml.SequenceNode) or not all(isinstance(n, yaml.ScalarNode) for n in node.value):
            raise ConfigError("expected a list of texts", path=source, line=line, key=key)
        return tuple(str(n.value) for n in node.value)
    if origin is dict:
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError("expected a mapping", path=source, line=line, key=key)
        _no_duplicate(node, source, key)
        if not all(isinstance(v, yaml.ScalarNode) for _, v in node.value):
            raise ConfigError("expected a mapping of texts", path=source, line=line, key=key)
        return {k.value: str(v.value) for k, v in node.value}
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"expected a single {_name(kind)} value", path=source, line=line, key=key)
    raw = yaml.safe_load(yaml.serialize(node))
    if kind is bool:
        if not isinstance(raw, bool):
            raise ConfigError("expected true or false", path=source, line=line, key=key)
        return raw
    if kind in (int, float):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (kind is int and isinstance(raw, float)):
            raise ConfigError(f"expected a number ({_name(kind)})", path=source, line=line, key=key)
        return kind(raw)
    return "" if raw is None else str(raw)


def _name(kind: Any) -> str:
    return {bool: "true/false", int: "whole number", float: "number", str: "text"}.get(kind, str(kind))


def _line_of(node: yaml.Node, dotted: str) -> int | None:
    current: yaml.Node | None = node
    for part in dotted.split("."):
        if not isinstance(current, yaml.MappingNode):
            return None
        current = next((v for k, v in current.value if k.value == part), None)
        if current is None:
            return None
    if current is None:  # cannot happen (the loop returns first), but yaml is untyped so mypy loses the narrowing
        return None
    line: int = current.start_mark.line
    return line + 1


def _check(config: Config, node: yaml.Node, source: str) -> None:
    def fail(message: str, key: str) -> None:
        line, section = _line_of(node, key), key
        while line is None and "." in section:  # a key left at its default: point at its section
            section = section.rpartition(".")[0]
            line = _line_of(node, section)
        raise ConfigError(message, path=source, line=line, key=key)

    if config.mode not in _MODES:
        fail(f"expected one of: {', '.join(_MODES)}", "mode")
    try:
        config.retention.check()
    except ConfigError as exc:
        raise ConfigError(str(exc).partition(": ")[2], path=source, line=_line_of(node, exc.key), key=exc.key) from None
    for status in config.identity.status_map.values():
        if status not in {s.value for s in IdentityStatus} or not status:
            fail("expected RNIV statuses PROV, RECUP, VALI or QUAL as values", "identity.status_map")
    for sil, codec in config.identity.charset_fallback.items():
        try:
            codecs.lookup(codec)
        except LookupError:
            fail(f"expected a Python codec name for {sil} (e.g. cp1252, latin-1)", "identity.charset_fallback")
    mode = config.sil.zam_file_mode
    if not (len(mode) in (3, 4) and all(c in "01234567" for c in mode)) or int(mode, 8) & 0o007:
        fail("an octal file mode such as 0640 that gives others nothing (ZAMs name patients' reports)",
             "sil.zam_file_mode")
    if config.routing.mailbox_choice not in ("all", "first"):
        fail("expected all or first", "routing.mailbox_choice")
    if config.validation.mode not in VALIDATION_MODES:
        fail(f"expected one of: {', '.join(VALIDATION_MODES)}", "validation.mode")
    if config.validation.workers < 0:
        fail("expected a whole number of worker processes, 0 for one per core", "validation.workers")
    check_values(config, fail)
    check_secret_files(config, fail)
    _check_store(config, fail)
    _check_dmp(config, fail)
    if config.production:
        for key, tls in (("smtp.tls.verify", config.smtp.tls), ("imap.tls.verify", config.imap.tls)):
            if not tls.verify:
                fail("TLS verification cannot be turned off in production mode", key)
        if config.identity.allow_test_ins:
            fail("test and demo INS OIDs cannot be accepted in production mode", "identity.allow_test_ins")
        if not config.smtp.tls.cafile:
            fail("a CA bundle (IGC-Santé) is required in production mode", "smtp.tls.cafile")
        if config.imap.enabled and not config.imap.tls.cafile:  # checked like SMTP, not at every poll
            fail("a CA bundle (IGC-Santé) is required in production mode", "imap.tls.cafile")


def _check_dmp(config: Config, fail: typing.Callable[[str, str], None]) -> None:
    """The DMP feed's own rules (DmpSettings.check: production refuses test certificates and demo values)."""
    try:
        settings = dmp_settings(config)
        if config.dmp.enabled:
            settings.check(production=config.production)
    except ConfigError as exc:  # raised without a path: "[key]: message"
        fail(str(exc).partition(": ")[2], exc.key)


def _check_store(config: Config, fail: typing.Callable[[str, str], None]) -> None:
    store = config.store
    if not 1 <= store.pool_size <= MAX_STORE_POOL:
        fail(f"expected 1 to {MAX_STORE_POOL} connections", "store.pool_size")
    if not store.url:
        return
    url = urllib.parse.urlsplit(store.url)
    query = urllib.parse.parse_qs(url.query)
    if url.scheme not in _POSTGRES_SCHEMES or not url.path.strip("/"):
        fail("expected postgresql://user@host:port/database (empty: the SQLite store in data_dir)", "store.url")
    if url.password is not None or "password" in query:
        fail("the password does not belong in the URL: use store.password_file or $CONNECTOR_STORE_PASSWORD",
             "store.url")
    host = (query.get("host") or [url.hostname or ""])[0]
    local = host in _LOCAL_HOSTS or host.startswith("/")
    if config.production and not local and (query.get("sslmode") or [""])[0] != "verify-full":
        fail("a store on another host is reached over TLS with its certificate checked in production mode: "
             "add ?sslmode=verify-full (and sslrootcert=<the CA file>)", "store.url")
