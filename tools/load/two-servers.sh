#!/usr/bin/env bash
# Two `azyq-server serve` processes on one database, under load with contended vouchers.
#
#   tools/load/two-servers.sh BIN_DIR [WORK_DIR]
#
# BIN_DIR holds azyq-server and azyq-load (e.g. target/release). WORK_DIR (default: a new temp
# directory) gets the logs, the SMS outbox, the load's state file and, for SQLite, the database.
# The database is DATABASE_URL if it is set (sqlite://… or postgres://…; use an empty database of
# its own), else a fresh SQLite file in WORK_DIR.
#
# Steps: create the operator; start server A and, once it has migrated, server B on two loopback
# ports; set up shops and vouchers through A; run the till load on both servers with contended
# sales (one voucher authorised at two tills at once, and one basket's capture, cancel or refund
# sent from two tills at once); optionally a look-up-only run; `azyq-server check`; stop both
# servers. Prints the figures.
# Exit status: 0 when all is well; 1 on a double-spend, a refund moved twice, a balance mismatch, a
# different idempotent replay, a contended pair both authorised, a contended transition judged
# wrong, or a failed books check; 2 on a failure to start.
#
# Settings (environment): PORT_A (18281), PORT_B (18282), SHOPS (4), TILLS_PER_SHOP (4),
# VOUCHERS (2000), DURATION (20 s), CONTEND_PCT (20), CONTEND_TRANSITIONS_PCT (20),
# CONTEND_PAIRS (all six), LOOKUP_SECONDS (10; 0 skips the look-up run), SEED (from the clock).
set -uo pipefail

usage() { echo "usage: $0 BIN_DIR [WORK_DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
BIN=$(cd "$1" 2>/dev/null && pwd) || usage
for b in azyq-server azyq-load; do
  [ -x "$BIN/$b" ] || { echo "$BIN/$b: not found or not executable" >&2; exit 2; }
done
WORK=${2:-$(mktemp -d "${TMPDIR:-/tmp}/azyq-two-servers.XXXXXX")}
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd)

PORT_A=${PORT_A:-18281} PORT_B=${PORT_B:-18282}
SHOPS=${SHOPS:-4} TILLS_PER_SHOP=${TILLS_PER_SHOP:-4} VOUCHERS=${VOUCHERS:-2000}
DURATION=${DURATION:-20} CONTEND_PCT=${CONTEND_PCT:-20} LOOKUP_SECONDS=${LOOKUP_SECONDS:-10}
CONTEND_TRANSITIONS_PCT=${CONTEND_TRANSITIONS_PCT:-20} CONTEND_PAIRS=${CONTEND_PAIRS:-}
SEED=${SEED:-$(date +%s)}

DB=${DATABASE_URL:-sqlite://$WORK/azyq.db}
case "$DB" in
  sqlite://*) KIND=SQLite ;;
  postgres://* | postgresql://*) KIND=PostgreSQL ;;
  *) echo "DATABASE_URL must be sqlite://… or postgres://…, not $DB" >&2; exit 2 ;;
esac

# Secrets of this run only: the servers and the load generator share them.
SECRET=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export DATABASE_URL=$DB \
  AZYQ_WALLET_JWT_SECRET="wallet-$SECRET" AZYQ_SMS_GATEWAY_SECRET="gateway-$SECRET" \
  AZYQ_SMS_SENDER="file:$WORK/sms.jsonl" AZYQ_EXPORT_DIR="$WORK/exports"
export AZYQ_LOAD_PASSWORD="operator-$SECRET" AZYQ_LOAD_WALLET_SECRET=$AZYQ_WALLET_JWT_SECRET \
  AZYQ_LOAD_GATEWAY_SECRET=$AZYQ_SMS_GATEWAY_SECRET
A=http://127.0.0.1:$PORT_A B=http://127.0.0.1:$PORT_B

PIDS=()
stop_servers() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && echo "server $pid still running after 30 s" >&2
  done
  PIDS=()
}
trap stop_servers EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
healthy() { curl -sf "$1/health" >/dev/null 2>&1; }

# Starts a server on PORT with its log in WORK; waits up to 60 s for /health.
start_server() {
  local name=$1 port=$2
  port_free "$port" || { echo "port $port is taken: set PORT_A/PORT_B" >&2; exit 2; }
  (cd "$WORK" && AZYQ_LISTEN=127.0.0.1:$port exec "$BIN/azyq-server" serve >"$WORK/server-$name.log" 2>&1) &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 600); do
    healthy "http://127.0.0.1:$port" && { echo "server $name: pid $pid on 127.0.0.1:$port"; return; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $name did not come up; its log:" >&2
  tail -20 "$WORK/server-$name.log" >&2
  exit 2
}

echo "== $KIND database, work directory $WORK"
AZYQ_PASSWORD=$AZYQ_LOAD_PASSWORD "$BIN/azyq-server" create-operator --login load >"$WORK/create-operator.log" 2>&1 || {
  echo "create-operator failed:" >&2; cat "$WORK/create-operator.log" >&2; exit 2; }
# A first, alone: it migrates the database before B opens it.
start_server a "$PORT_A"
start_server b "$PORT_B"
PID_A=${PIDS[0]} PID_B=${PIDS[1]}

LOAD=("$BIN/azyq-load" --state "$WORK/state.json" --seed "$SEED")
echo "== setup through server A"
"${LOAD[@]}" --server "$A" --shops "$SHOPS" --tills-per-shop "$TILLS_PER_SHOP" --vouchers "$VOUCHERS" \
  --setup-only || exit 2

PAIRS=()
[ -n "$CONTEND_PAIRS" ] && PAIRS=(--contend-pairs "$CONTEND_PAIRS")
echo "== sales on both servers, $CONTEND_PCT% contended, $CONTEND_TRANSITIONS_PCT% with contended transitions, $DURATION s"
"${LOAD[@]}" --skip-setup --server "$A,$B" --server-pid "$PID_A,$PID_B" --contend-pct "$CONTEND_PCT" \
  --contend-transitions-pct "$CONTEND_TRANSITIONS_PCT" "${PAIRS[@]}" --duration "$DURATION" | tee "$WORK/sales.txt"
SALES=${PIPESTATUS[0]}

LOOKUP=0
if [ "$LOOKUP_SECONDS" -gt 0 ]; then
  echo "== look-ups only on both servers, $LOOKUP_SECONDS s"
  "${LOAD[@]}" --skip-setup --server "$A,$B" --server-pid "$PID_A,$PID_B" --only lookup \
    --duration "$LOOKUP_SECONDS" | tee "$WORK/lookup.txt"
  LOOKUP=${PIPESTATUS[0]}
fi

echo "== azyq-server check"
"$BIN/azyq-server" check >"$WORK/check.txt" 2>&1
CHECK=$?
tail -5 "$WORK/check.txt"
stop_servers

echo "== figures ($KIND, two servers)"
grep -hE '^(sales captured|contended|unexpected errors|books:|double-spends|refunds in the books|balance cross-check|cpu|FAIL|  wrong:)' \
  "$WORK/sales.txt"
[ -f "$WORK/lookup.txt" ] && grep -hE '^(lookups:|cpu|verify_strict|lookup per server core)' "$WORK/lookup.txt"
echo "azyq-load (sales) exit $SALES, azyq-load (look-ups) exit $LOOKUP, azyq-server check exit $CHECK"
grep -qE '^unexpected errors: [1-9]' "$WORK/sales.txt" "$WORK/lookup.txt" 2>/dev/null &&
  echo "note: the servers gave unexpected errors (see the errors tables above and the server logs)"
for errors in "$WORK"/server-*.log; do
  n=$(grep -ciE 'panic|error' "$errors")
  [ "$n" -gt 0 ] && echo "$(basename "$errors"): $n lines mention an error or a panic"
done
if [ "$SALES" -ne 0 ] || [ "$LOOKUP" -ne 0 ] || [ "$CHECK" -ne 0 ]; then
  echo "two-servers: FAILED"
  exit 1
fi
echo "two-servers: OK"
