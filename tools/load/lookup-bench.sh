#!/usr/bin/env bash
# Look-ups per server core against `verify_strict` (issue 19: ≥ 0.7): a fresh SQLite database, one
# `azyq-server`, the load's setup, then RUNS look-up-only runs (tokens minted before the clock,
# closed loop, CONCURRENCY tills, DURATION s), each printing look-ups/s, the server's CPU and
# "lookup per server core: …/s = …% of verify_strict". Extra arguments go to every run.
#
#   tools/load/lookup-bench.sh BIN_DIR [RUNS] [azyq-load args…]
#
# BIN_DIR holds release builds of azyq-server and azyq-load (the server of another BIN_DIR can be
# compared by SERVER_BIN=DIR). Work files go to $WORK (default /tmp/lookup-bench); the server
# listens on $PORT (18193). Settings: CONCURRENCY (8), DURATION (10), PERF=1 records
# `perf record -g` of the server over the last run into $WORK/perf.data. DB=postgres runs it on a
# throwaway durable PostgreSQL (`throwaway-pg.sh`, port PG_PORT, 55471) instead of SQLite; the
# "database" line then counts PostgreSQL's CPU too, and the ratio is still the server's.
set -euo pipefail
BIN=$(cd "${1:?BIN_DIR}" && pwd); RUNS=${2:-3}; shift; [ $# -gt 0 ] && shift
SERVER_BIN=$(cd "${SERVER_BIN:-$BIN}" && pwd)
WORK=${WORK:-/tmp/lookup-bench}; PORT=${PORT:-18193}; DB=${DB:-sqlite}; PG_PORT=${PG_PORT:-55471}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; chmod 755 "$WORK"; cd "$WORK"
case "$DB" in
  sqlite) export DATABASE_URL="sqlite://$WORK/azyq.db" ;;
  postgres) export DATABASE_URL=$("$HERE/throwaway-pg.sh" start "$WORK/pg" "$PG_PORT") ;;
  *) echo "DB must be sqlite or postgres, not $DB" >&2; exit 2 ;;
esac
export AZYQ_LISTEN=127.0.0.1:$PORT AZYQ_WALLET_JWT_SECRET=load-secret \
  AZYQ_SMS_GATEWAY_SECRET=load-gw AZYQ_SMS_SENDER=file:$WORK/sms.jsonl AZYQ_LOG=warn
export AZYQ_LOAD_PASSWORD=load-operator-pw AZYQ_LOAD_WALLET_SECRET=load-secret AZYQ_LOAD_GATEWAY_SECRET=load-gw
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [ "$DB" = postgres ] && "$HERE/throwaway-pg.sh" stop "$WORK/pg"
  true
}
trap cleanup EXIT
AZYQ_PASSWORD=load-operator-pw "$SERVER_BIN/azyq-server" create-operator --login load >/dev/null
"$SERVER_BIN/azyq-server" serve >"$WORK/server.log" 2>&1 & SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null && break; sleep 0.2; done
"$BIN/azyq-load" --server "http://127.0.0.1:$PORT" --shops 4 --tills-per-shop 2 --vouchers 2000 --setup-only >"$WORK/setup.log"
for i in $(seq "$RUNS"); do
  echo "== run $i/$RUNS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  PERF_PID=
  if [ "${PERF:-0}" = 1 ] && [ "$i" = "$RUNS" ]; then
    perf record -g -p "$SERVER" -o "$WORK/perf.data" -- sleep "$(( ${DURATION:-10} + 3 ))" >/dev/null 2>&1 & PERF_PID=$!
  fi
  DB_PIDS=(); [ "$DB" = postgres ] && DB_PIDS=(--database-pid "$("$HERE/throwaway-pg.sh" pids "$WORK/pg")")
  "$BIN/azyq-load" --server "http://127.0.0.1:$PORT" --skip-setup --only lookup "${DB_PIDS[@]}" --concurrency "${CONCURRENCY:-8}" \
    --duration "${DURATION:-10}" --server-pid "$SERVER" "$@" \
    | grep -E '^(lookups:|lookup |cpu|verify_strict|database|unexpected)' || true
  [ -n "$PERF_PID" ] && wait "$PERF_PID"
done
M=$(curl -sf "http://127.0.0.1:$PORT/metrics" || true)
echo "server: $(grep -E '^azyq_db_statements_total ' <<<"$M" || echo 'no statement count')"
