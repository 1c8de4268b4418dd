"""Helpers for the ledger test and the fault-injection tests (synthetic inputs, a SIL, a killable service)."""
