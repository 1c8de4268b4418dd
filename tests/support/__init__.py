"""What the tests share, written once: ports, the reference kit, stage settings, sample reports,
the service harness and the fault-injecting SMTP server."""
