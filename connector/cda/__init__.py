"""cda stage."""
