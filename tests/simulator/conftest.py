"""The operator simulator: its fixture is registered once, by the root conftest (tests/conftest.py)."""
