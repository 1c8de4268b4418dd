"""Stage settings for tests, from the configuration's own defaults (``connector.config.settings``).

Stages take no defaults of their own: a test states what it changes and inherits the rest
from the same place the service does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from connector.config import Config
from connector.config import settings as from_config
from connector.intake import FolderSettings, MllpSettings
from connector.mapping import MappingSettings
from connector.package import MessageSettings
from connector.parse import ParseSettings
from connector.send import RoutingSettings, SmtpSettings, TlsSettings
from connector.track import ImapSettings

# Test mode: the test and demo INS OIDs our fixtures use are accepted.
TEST_CONFIG = Config(mode="test")
PARSE: ParseSettings = dataclasses.replace(from_config.parse_settings(TEST_CONFIG), allow_test_ins=True)
MAPPING: MappingSettings = from_config.pipeline_settings(TEST_CONFIG).mapping


def imap_settings(**changes: Any) -> ImapSettings:
    return dataclasses.replace(from_config.imap_settings(TEST_CONFIG), **changes)


def smtp_settings(**changes: Any) -> SmtpSettings:
    return dataclasses.replace(from_config.smtp_settings(TEST_CONFIG), **changes)


def folder_settings(**changes: Any) -> FolderSettings:
    return dataclasses.replace(from_config.folder_settings(TEST_CONFIG), **changes)


def mllp_settings(**changes: Any) -> MllpSettings:
    return dataclasses.replace(from_config.mllp_settings(TEST_CONFIG), **changes)


def tls_settings(**changes: Any) -> TlsSettings:
    return dataclasses.replace(from_config.tls_settings(TEST_CONFIG, TEST_CONFIG.smtp.tls), **changes)


def message_settings(**changes: Any) -> MessageSettings:
    return dataclasses.replace(from_config.pipeline_settings(TEST_CONFIG).message, **changes)


def routing_settings(**changes: Any) -> RoutingSettings:
    return dataclasses.replace(from_config.pipeline_settings(TEST_CONFIG).routing, **changes)


def mapping_settings(**changes: Any) -> MappingSettings:
    return dataclasses.replace(from_config.pipeline_settings(TEST_CONFIG).mapping, **changes)


def parse_settings(**changes: Any) -> ParseSettings:
    return dataclasses.replace(PARSE, **changes)
