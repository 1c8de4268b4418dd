"""The code an acknowledgement shows operators: the enhanced status for a DSN, the error code otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.pipeline.acks import ack_code
from connector.track import parse_acks

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"


@pytest.mark.parametrize("name, code", [
    ("dsn_bounce_5.1.1.eml", "5.1.1"),  # not the 550 of the Diagnostic-Code: docs and alert rules say 5.1.1
    ("mdn_error_new_form.eml", "904"),
    ("ko_mail_standard.eml", "902"),
])
def test_operators_see_the_code_the_docs_name(name: str, code: str) -> None:
    acks = parse_acks((MAIL / name).read_bytes())
    assert acks and {ack_code(a) for a in acks if a.error_code or a.status.startswith("5")} == {code}
