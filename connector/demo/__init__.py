"""`connector demo`: the whole path on bundled samples, against an in-process TLS SMTP server."""
