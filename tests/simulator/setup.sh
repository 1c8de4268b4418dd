#!/bin/bash
# MSSante operator simulator: Postfix + Dovecot on 127.0.0.1, everything under $BASE.
# Usage: setup.sh [BASE]   (needs root; run once per test run)
set -euo pipefail
BASE=$(realpath -m "${1:?usage: $0 SIM_DIR}")
DELIVERY=${DELIVERY:-lmtp}                  # lmtp (Dovecot LMTP, DSN Action: relayed) | virtual (Postfix virtual(8) Maildir, Action: delivered)
SUBMISSION_PORT=${SUBMISSION_PORT:-10587}   # client-cert STARTTLS submission (lab connector)
INBOUND_PORT=${INBOUND_PORT:-10025}         # plain loopback SMTP for test fixtures (inject MDNs, replies)
# Dovecot treats a connection whose remote IP == local IP (127.0.0.1 -> 127.0.0.1) as "secured" and then
# allows LOGIN without STARTTLS; listening on 127.0.0.2 (client source stays 127.0.0.1) keeps TLS mandatory.
IMAP_ADDR=${IMAP_ADDR:-127.0.0.2}
IMAP_PORT=${IMAP_PORT:-10143}               # IMAP + STARTTLS
IMAPS_PORT=${IMAPS_PORT:-10993}             # implicit TLS IMAP
PF=$BASE/postfix; DV=$BASE/dovecot; PKI=$BASE/pki; MAIL=$BASE/mail

# 0. system users (idempotent). Postfix needs 'postfix' + group 'postdrop' (from the package).
id vmail >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vmail
VUID=$(id -u vmail)

mkdir -p "$PF/etc" "$PF/spool" "$PF/data" "$DV/run" "$DV/state" "$MAIL"
chown postfix:postfix "$PF/data"
chown vmail:vmail "$MAIL"
[ -f "$PKI/ca.crt" ] || python3 "$(dirname "$0")/gen_pki.py" "$PKI"
CLIENT_FP=$(cat "$PKI/client.sha256")

# ---------- mailboxes ----------
# Dovecot passwd-file: user:password:uid:gid:gecos:home:shell:extra
cat > "$DV/users" <<USERS
labo@labo.test:{PLAIN}labo-secret::::::
dr.x@hopital.test:{PLAIN}drx-secret::::::
dr.y@cabinet.test:{PLAIN}dry-secret::::::
postmaster@mss.test:{PLAIN}pm-secret::::::
USERS
# identities (client-cert CN) allowed to log in with SASL EXTERNAL
cat > "$DV/cert-users" <<CU
labo@labo.test:::::::nopassword=y
CU
chmod 640 "$DV/users" "$DV/cert-users"; chgrp dovecot "$DV/users" "$DV/cert-users"

# Postfix: which addresses exist (used only where smtpd_reject_unlisted_recipient=yes)
# value = Maildir path relative to virtual_mailbox_base (only used by DELIVERY=virtual)
cat > "$PF/etc/vmailbox" <<MB
labo@labo.test       labo.test/labo/Maildir/
dr.x@hopital.test    hopital.test/dr.x/Maildir/
dr.y@cabinet.test    cabinet.test/dr.y/Maildir/
postmaster@mss.test  mss.test/postmaster/Maildir/
MB
cat > "$PF/etc/virtual_alias" <<VA
postmaster@labo.test     postmaster@mss.test
postmaster@hopital.test  postmaster@mss.test
postmaster@cabinet.test  postmaster@mss.test
VA
# recipients refused at RCPT on the submission port even with a registered cert (partial-refusal tests)
cat > "$PF/etc/recipient_access" <<RA
closed@hopital.test   550 5.1.1 Mailbox closed (simulator)
busy@hopital.test     450 4.2.1 Mailbox busy, try later (simulator)
RA
# client certificates allowed to submit (SHA-256 fingerprint -> anything)
echo "$CLIENT_FP labo-connector" > "$PF/etc/relay_clientcerts"

# ---------- Postfix main.cf ----------
cat > "$PF/etc/main.cf" <<MAIN
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
# no syslogd in the sandbox: log to a file through postlogd (needs 'postlog' in master.cf)
maillog_file = $PF/maillog
maillog_file_prefixes = /var, /dev/stdout, $(dirname "$BASE")
myhostname = mail.mss.test
mydomain = mss.test
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
# no /etc/aliases, no local(8) delivery, nothing leaves the box
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 local delivery disabled in simulator
default_transport = error:5.4.4 no route to external domains in simulator
relay_transport = \$default_transport
# hosted (virtual) domains delivered to Dovecot over LMTP
virtual_mailbox_domains = labo.test, hopital.test, cabinet.test, mss.test
virtual_mailbox_maps = texthash:$PF/etc/vmailbox
virtual_alias_maps = texthash:$PF/etc/virtual_alias
MAIN
if [ "$DELIVERY" = lmtp ]; then
  echo "virtual_transport = lmtp:unix:$DV/run/lmtp" >> "$PF/etc/main.cf"
else
  cat >> "$PF/etc/main.cf" <<MAIN
virtual_transport = virtual
virtual_mailbox_base = $MAIL
virtual_uid_maps = static:$VUID
virtual_gid_maps = static:$(id -g vmail)
virtual_minimum_uid = $VUID
MAIN
fi
cat >> "$PF/etc/main.cf" <<MAIN
# TLS (server side)
smtpd_tls_chain_files = $PKI/server.key, $PKI/server.crt
smtpd_tls_CAfile = $PKI/ca.crt
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_fingerprint_digest = sha256
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
relay_clientcerts = texthash:$PF/etc/relay_clientcerts
smtp_tls_security_level = none
# fast retries for tests
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
MAIN

# ---------- Postfix master.cf (no chroot anywhere) ----------
cat > "$PF/etc/master.cf" <<MASTER
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_ask_ccert=yes
  -o smtpd_tls_req_ccert=yes
  -o smtpd_relay_restrictions=permit_tls_clientcerts,reject
  -o smtpd_recipient_restrictions=check_recipient_access,texthash:$PF/etc/recipient_access,permit_tls_clientcerts,reject
  -o smtpd_reject_unlisted_recipient=no
127.0.0.1:$INBOUND_PORT inet n - n - - smtpd
  -o syslog_name=postfix/inbound
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER

# ---------- Dovecot ----------
cat > "$DV/dovecot.conf" <<DOVE
base_dir = $DV/run
state_dir = $DV/state
instance_name = mss-sim
log_path = $DV/dovecot.log
protocols = imap lmtp
listen = $IMAP_ADDR
hostname = mail.mss.test
postmaster_address = postmaster@mss.test
# running as root: unprivileged helpers use the package's users, mail runs as vmail
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $VUID
last_valid_uid = $VUID
mail_location = maildir:~/Maildir
# TLS: STARTTLS required before any auth, TLS >= 1.2, client cert optional but verified
ssl = required
ssl_cert = <$PKI/server.crt
ssl_key = <$PKI/server.key
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2
ssl_ca = <$PKI/ca.crt
ssl_verify_client_cert = yes
ssl_require_crl = no
auth_ssl_username_from_cert = yes
ssl_cert_username_field = commonName
auth_ssl_require_client_cert = no
disable_plaintext_auth = yes
auth_mechanisms = plain login external
auth_verbose = yes
# default 2s penalty after a failed auth slows negative tests down
auth_failure_delay = 0
# SASL EXTERNAL: username = CN of the CA-verified client cert, no password check;
# only identities listed in cert-users may use it (clean NO for others)
passdb {
  driver = passwd-file
  mechanisms = external
  args = username_format=%Lu $DV/cert-users
}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu $DV/users
}
userdb {
  driver = passwd-file
  args = username_format=%Lu $DV/users
  default_fields = uid=vmail gid=vmail home=$MAIL/%Ld/%Ln
}
service imap-login {
  inet_listener imap {
    address = $IMAP_ADDR
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = $IMAP_ADDR
    port = $IMAPS_PORT
    ssl = yes
  }
}
# anvil's auth penalty delays every later auth from the same IP (2,4,8..15 s) after failures:
# disable it, or negative tests slow down all following tests
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service lmtp {
  unix_listener lmtp {
    user = postfix
    group = postfix
    mode = 0600
  }
}
protocol lmtp {
  auth_username_format = %Lu
}
DOVE
echo "configured under $BASE"
