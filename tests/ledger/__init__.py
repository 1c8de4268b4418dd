"""The ledger's own pieces: its synthetic reports (oru.py), a SIL that resends over MLLP (sil.py), and what
the recipients' Maildirs received (maildir.py). The service harness, ports and proxy are in tests/support."""
