"""What every command shares: exit codes, the error guard, the configuration, JSON or text output, progress."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from connector.errors import ConnectorError

if TYPE_CHECKING:  # imported where used: `connector --help` stays fast
    from connector.config import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SERVICE = 0, 1, 2, 3


def guard(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Turn our errors into one clear line and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from connector.errors import ConfigError, MappingFileError

        try:
            code = fn(*args, **kwargs)
        except BrokenPipeError:
            # `connector status | head`: the reader has what it wanted. Python would report the
            # pipe again when it flushes stdout at exit, so stdout now goes nowhere.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except (ConfigError, MappingFileError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except ConnectorError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            sys.exit(130)
        except click.ClickException:
            raise  # a usage error raised by a command (missing argument): click prints it, exit 2
        except (OSError, ValueError) as exc:  # files, permissions, bad arguments: say which, no traceback
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        except Exception as exc:  # noqa: BLE001 - a bug: the class and where it was raised (its text may quote input)
            click.echo(f"error: internal {type(exc).__name__} at {where_raised(exc)}", err=True)
            sys.exit(EXIT_SERVICE)
        sys.exit(code or EXIT_OK)

    return wrapper


def where_raised(exc: BaseException) -> str:
    """``connector/x/y.py:123 (function)`` of the innermost connector frame that raised ``exc``: names
    the cause of a failure without its message (which may quote input)."""
    from connector.logs import where_raised as where

    return where(exc)


def config_for(path: Path | None, *, reads_store: bool = False) -> Config:
    """The configuration named by ``--config`` (or ``$CONNECTOR_CONFIG``), else the embedded demo defaults."""
    from connector.config import demo_config, load_config

    if path is not None:
        return load_config(path)
    config = demo_config()
    if reads_store:
        # An operator who forgot --config would otherwise read an empty demo store and believe it.
        click.echo(f"note: no --config and no $CONNECTOR_CONFIG: this is the demo store {config.store_path}",
                   err=True)
    return config


def emit(as_json: bool, data: Any, text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        text()


class _NoProgress:
    pos = 0

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.pos += n


def progress(length: int, label: str) -> Any:
    """A progress bar on an interactive terminal; nothing otherwise (stderr stays one line per failure)."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return _NoProgress()


config_option = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CONNECTOR_CONFIG",
    help="Service configuration (YAML). Default: $CONNECTOR_CONFIG or embedded demo defaults.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
