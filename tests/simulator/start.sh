#!/bin/bash
# Start Dovecot (foreground process, backgrounded by us) then Postfix; record PIDs.
# Usage: start.sh SIM_DIR   (same SUBMISSION_PORT/INBOUND_PORT/IMAP_ADDR/IMAP_PORT env as setup.sh)
set -euo pipefail
BASE=$(realpath -m "${1:?usage: $0 SIM_DIR}")
for f in dovecot postfix; do   # refuse to start twice (would overwrite the recorded PIDs)
  if [ -f "$BASE/$f.pid" ] && kill -0 "$(cat "$BASE/$f.pid")" 2>/dev/null; then echo "$f already running" >&2; exit 1; fi
done
dovecot -c "$BASE/dovecot/dovecot.conf" -F > "$BASE/dovecot/stdout.log" 2>&1 &
echo $! > "$BASE/dovecot.pid"
# 'postfix start' runs checks, then 'master -w' which detaches and returns once master is initialised.
# (errors are only printed when stderr is a tty; otherwise see $BASE/postfix/maillog)
postfix -c "$BASE/postfix/etc" start >> "$BASE/postfix/stdout.log" 2>&1
tr -d ' \n' < "$BASE/postfix/spool/pid/master.pid" > "$BASE/postfix.pid"
for hp in 127.0.0.1/${SUBMISSION_PORT:-10587} 127.0.0.1/${INBOUND_PORT:-10025} \
          ${IMAP_ADDR:-127.0.0.2}/${IMAP_PORT:-10143} ${IMAP_ADDR:-127.0.0.2}/${IMAPS_PORT:-10993}; do
  for i in $(seq 200); do (exec 3<>/dev/tcp/$hp) 2>/dev/null && break; sleep 0.05; done
done
for i in $(seq 100); do [ -S "$BASE/dovecot/run/lmtp" ] && break; sleep 0.05; done
[ -S "$BASE/dovecot/run/lmtp" ] || { echo "dovecot lmtp socket missing" >&2; exit 1; }
