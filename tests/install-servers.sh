#!/usr/bin/env bash
# Installs the real servers and tools the tests use (Debian packages; needs root):
# Postfix + Dovecot for the operator simulator, DejaVu fonts for the PDF, poppler for PDF checks,
# PostgreSQL for the shared store (the tests run their own cluster: tests/support/postgres.py),
# xmlsec1 for the independent check of the DMP request's signatures.
# Idempotent and quick when everything is already there.
set -euo pipefail
need=()
command -v postfix >/dev/null 2>&1 || need+=(postfix)
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd dovecot-lmtpd)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)  # verifies the DMP request's signatures independently
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-servers: not root; missing ${need[*]} (tests that need them will skip)" >&2
  exit 0
fi
apt-get update -qq
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
