#!/bin/bash
# Stop by recorded PID only: SIGTERM to the Postfix master and the Dovecot master (each terminates its
# own children), in parallel, then wait for both to exit.  Usage: stop.sh SIM_DIR
BASE=$(realpath -m "${1:?usage: $0 SIM_DIR}")
pids=()
for f in postfix dovecot; do
  [ -f "$BASE/$f.pid" ] || continue
  pid=$(cat "$BASE/$f.pid"); kill -TERM "$pid" 2>/dev/null && pids+=("$f:$pid") || rm -f "$BASE/$f.pid"
done
for fp in "${pids[@]}"; do
  f=${fp%%:*}; pid=${fp#*:}
  for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then echo "$f ($pid) still alive after 10s" >&2; else rm -f "$BASE/$f.pid"; fi
done
exit 0
