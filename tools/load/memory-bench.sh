#!/usr/bin/env bash
# The server's peak memory under till load with 1 000 000 activated vouchers (issue 19: ≤ 64 MB).
# Once: `azyq-server bench-seed --members 1000000 --activate 1000000` into $SEED_DB, then the
# load's setup on it (8 shops × 8 tills, 2 000 vouchers of its own; slow on such a month, and its
# own server's peak is printed: the month's consent requests are an operator's bulk step, not the
# tills'). The seeded and set-up database and the load's state are kept and reused. Then RUNS runs,
# each on a fresh copy: a fresh `azyq-server`, a closed-loop run of 64 tills for DURATION s (45),
# and the server's VmHWM (peak RSS over its whole life) and VmRSS from /proc. Extra arguments go to
# each run of `azyq-load` (e.g. `--premint --five-lines` for the yardstick's traffic).
#
#   tools/load/memory-bench.sh BIN_DIR [RUNS] [azyq-load args…]
#
# Settings: SEED_DB (/tmp/memory-bench-seed.db; its state is $SEED_DB.state.json), MEMBERS
# (1000000), WORK (/tmp/memory-bench), PORT (18195); the server's own settings (AZYQ_POOL_SIZE,
# AZYQ_SQLITE_CACHE_KIB, …) pass through.
#
# DB=postgres runs the same on a throwaway durable PostgreSQL (`throwaway-pg.sh`, port PG_PORT,
# 55475): the month is seeded into database `seed` at every invocation (the cluster does not
# outlive the script), and each run's server gets a fresh copy of it (`createdb -T seed`).
set -euo pipefail
BIN=$(cd "${1:?BIN_DIR}" && pwd); RUNS=${2:-3}; shift; [ $# -gt 0 ] && shift
SEED_DB=${SEED_DB:-/tmp/memory-bench-seed.db}; MEMBERS=${MEMBERS:-1000000}
WORK=${WORK:-/tmp/memory-bench}; PORT=${PORT:-18195}; DB=${DB:-sqlite}; PG_PORT=${PG_PORT:-55475}
HERE=$(cd "$(dirname "$0")" && pwd)
export AZYQ_LISTEN=127.0.0.1:$PORT AZYQ_WALLET_JWT_SECRET=load-secret AZYQ_SMS_GATEWAY_SECRET=load-gw AZYQ_LOG=warn
export AZYQ_LOAD_PASSWORD=load-operator-pw AZYQ_LOAD_WALLET_SECRET=load-secret AZYQ_LOAD_GATEWAY_SECRET=load-gw
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [ "$DB" = postgres ] && "$HERE/throwaway-pg.sh" stop "$PG_DIR"
  true
}
trap cleanup EXIT
serve() {
  "$BIN/azyq-server" serve >>"$1" 2>&1 & SERVER=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null && break; sleep 0.2; done
}
# A server on the seeded month may still be sending its outbox of consent SMS: 30 s to stop, then
# it is killed (the copy is thrown away).
stop() {
  kill "$SERVER"
  for _ in $(seq 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=
}
case "$DB" in
  sqlite) ;;
  postgres)
    # The seeded month lives as long as this script: its own cluster, seeded below; its state and
    # log beside the work directory.
    PG_DIR="$WORK-pg"; SEED_DB="$WORK-pg-seed"; rm -f "$SEED_DB.state.json"
    mkdir -p "$(dirname "$WORK")"; "$HERE/throwaway-pg.sh" stop "$PG_DIR"
    PG_URL=$("$HERE/throwaway-pg.sh" start "$PG_DIR" "$PG_PORT"); PG_BASE=${PG_URL%/azyq}
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    "$PG_BIN/psql" -q "$PG_BASE/postgres" -c 'ALTER DATABASE azyq RENAME TO seed' ;;
  *) echo "DB must be sqlite or postgres, not $DB" >&2; exit 2 ;;
esac
seed_url() { if [ "$DB" = postgres ]; then echo "$PG_BASE/seed"; else echo "sqlite://$SEED_DB"; fi; }
if [ ! -f "$SEED_DB.state.json" ]; then
  rm -f "$SEED_DB" "$SEED_DB-wal" "$SEED_DB-shm"
  echo "seeding $SEED_DB with $MEMBERS members, all activated, and setting up the load (once; minutes)"
  "$BIN/azyq-server" bench-seed --database-url "$(seed_url)" --members "$MEMBERS" --activate "$MEMBERS" \
    >"$SEED_DB.log" 2>&1
  export DATABASE_URL="$(seed_url)" AZYQ_SMS_SENDER=file:$SEED_DB.sms.jsonl
  AZYQ_PASSWORD=load-operator-pw "$BIN/azyq-server" create-operator --login load >/dev/null
  serve "$SEED_DB.log"
  "$BIN/azyq-load" --server "http://127.0.0.1:$PORT" --shops 8 --tills-per-shop 8 --vouchers 2000 --setup-only \
    --state "$SEED_DB.state.tmp" >>"$SEED_DB.log"
  echo "the setup's server: $(grep -E 'VmHWM' "/proc/$SERVER/status" | tr -s ' \t' ' ')"
  stop
  mv "$SEED_DB.state.tmp" "$SEED_DB.state.json"
fi
for i in $(seq "$RUNS"); do
  rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
  if [ "$DB" = postgres ]; then
    "$PG_BIN/psql" -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS run" -c "CREATE DATABASE run TEMPLATE seed"
    export DATABASE_URL="$PG_BASE/run"
  else
    cp "$SEED_DB" "$WORK/azyq.db"; [ -f "$SEED_DB-wal" ] && cp "$SEED_DB-wal" "$WORK/azyq.db-wal"
    export DATABASE_URL="sqlite://$WORK/azyq.db"
  fi
  export AZYQ_SMS_SENDER=file:$WORK/sms.jsonl
  serve "$WORK/server.log"
  echo "== run $i/$RUNS: a fresh server $(grep VmRSS "/proc/$SERVER/status" | tr -s ' \t' ' '), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BIN/azyq-load" --server "http://127.0.0.1:$PORT" --skip-setup --state "$SEED_DB.state.json" --concurrency 64 \
    --duration "${DURATION:-45}" --server-pid "$SERVER" "$@" \
    | grep -E '^(run: in|sales captured|cpu|unexpected|double|balance|FAIL)' || true
  echo "server: $(grep -E 'VmHWM|VmRSS' "/proc/$SERVER/status" | tr -s ' \t' ' ' | paste -sd';')"
  stop
done
