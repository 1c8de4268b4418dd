"""The `connector` command.

Exit codes (every command): 0 done; 1 some inputs, documents or reports failed (each
named on stderr); 2 usage or configuration error; 3 the service stopped on an error.
Every command that reports takes ``--json``. No traceback reaches the user: errors
of the exception tree print their message; anything else prints its class name and
the log has the event.
"""

from __future__ import annotations

import click

from connector.cli.common import EXIT_FAILED, EXIT_OK, EXIT_SERVICE, EXIT_USAGE
from connector.cli.documents import build, preview, validate
from connector.cli.kit import kit
from connector.cli.ops import prune, quarantine, retry, show, status
from connector.cli.reference import directory, loinc, mappings
from connector.cli.service import demo, init, run
from connector.cli.store import store

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_SERVICE", "EXIT_USAGE", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lab-results-connector")
def main() -> None:
    """Lab results connector: HL7 ORU^R01 → CR-BIO CDA → MSSanté."""


# The commands live in modules grouped by what the user does; `connector --help` lists them sorted by name.
for _command in (demo, init, run,                                # service.py
                 status, show, retry, prune, quarantine,   # ops.py
                 mappings, loinc, directory,               # reference.py
                 build, validate, preview,                 # documents.py
                 store,                                    # store.py
                 kit):                                     # kit.py
    main.add_command(_command)
del _command
