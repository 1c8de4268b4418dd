"""The pipeline: each report moved through its steps by the store's committed states.

    receive.py   the intake's sink: commit the input, split it into reports
    build.py     PARSED → BUILT: ids minted once, artifacts composed (compose.py) and stored
    send.py      BUILT → SENT: the stored e-mail over SMTP, outcome per recipient
    acks.py      DSN/MDN → recipient states → ZAM to the SIL
    dmp.py       the DMP feed, a channel of its own: one due feed row → TD2.1 / TD3.3c → SENT, FAILED, ZAM^Z01
    retry.py     backoff and giving up; context.py the wait/quarantine transitions steps share
    driver.py    :class:`Pipeline`: the steps in order, one call per loop turn
"""

from .compose import cda_time, compose_artifacts, corrects, series_key
from .dmp import DmpStep, DmpStepOutcome, dmp_state
from .driver import Pipeline, StepOutcome
from .observe import NO_OBSERVER, Observer
from .retry import RetryPolicy
from .settings import PipelineSettings, SilIdentity

__all__ = [
    "NO_OBSERVER",
    "DmpStep",
    "DmpStepOutcome",
    "Observer",
    "Pipeline",
    "PipelineSettings",
    "RetryPolicy",
    "SilIdentity",
    "StepOutcome",
    "cda_time",
    "compose_artifacts",
    "corrects",
    "dmp_state",
    "series_key",
]
