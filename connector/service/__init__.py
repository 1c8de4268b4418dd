"""The long-running service (`connector run`): the pipeline wired to its intake, loops and endpoints.

    runtime.py   Config → the live parts (store, mappings, directory, validators, pipeline)
    loops.py     :func:`serve`: intake, the work loop, acks, outbox, reload; SIGTERM handling
    reload.py    the configuration file re-read when it changes
    tracking.py  one pass over the lab mailbox (acks) and over the SIL outbox (ZAM)
    metrics.py   Prometheus metrics, /healthz and /readyz
"""

from .loops import Service, serve
from .runtime import MappingsHolder, Runtime, open_runtime

__all__ = ["MappingsHolder", "Runtime", "Service", "open_runtime", "serve"]
