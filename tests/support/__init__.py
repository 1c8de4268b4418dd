"""What the tests share, written once.

- ``paths``: the checkout, its test data and the shared reference folder (``$CONNECTOR_SHARED_REF``);
  ``refkit``: fixtures and ``ref_file`` that skip naming the missing artefact (registered by tests/conftest.py).
- ``ports``: ``free_port`` and ``Greeter`` (a server that answers one line and hangs up).
- ``smtp``: the fault-injecting SMTP server (``SmtpServer``, ``smtp_server`` fixture); ``proxy``: a TCP
  proxy, plain or with a fault policy.
- ``service``: a lab site and the service as a subprocess (SIGTERM, SIGKILL), CLI helpers, ``wait_for``;
  ``runtime``: the service's wiring in-process; ``logs``: JSON log lines read back.
- ``settings``: stage settings from the configuration's defaults; ``samples``: synthetic reports.
- ``asserts``: which tests can fail (tests/unit/test_tests_assert.py).
"""
