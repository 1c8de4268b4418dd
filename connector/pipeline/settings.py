"""What the pipeline is told by the configuration: one frozen value, swapped whole on a reload."""

from __future__ import annotations

from dataclasses import dataclass

from connector.mapping import MappingSettings
from connector.model import LabIdentity
from connector.package import MessageSettings
from connector.parse import ParseSettings
from connector.send import RoutingSettings

from .retry import RetryPolicy

__all__ = ["PipelineSettings", "SilIdentity"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SilIdentity:
    """How our ACKs and ZAMs name us to the SIL (MSH-3, MSH-4)."""

    application: str
    facility: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSettings:
    """Built by :func:`connector.config.settings.pipeline_settings`, the one place that reads the configuration."""

    lab: LabIdentity
    parse: ParseSettings
    mapping: MappingSettings
    routing: RoutingSettings
    message: MessageSettings
    retry: RetryPolicy
    sil: SilIdentity
    build_budget_seconds: float  # past it a build is abandoned and its report quarantined (pipeline/budget.py)
    dmp_discrete_feed: bool  # reports of discrete results (shape A) go to the DMP too when the INS is qualified
