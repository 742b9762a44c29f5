#!/usr/bin/env bash
# Issue 19's yardstick, end to end: a fresh database (SQLite, or a throwaway durable PostgreSQL),
# one `azyq-server`, the load's setup, then RUNS closed-loop runs of 64 tills selling the five-line
# basket (no cancels, refunds or retries), each printing sales/s, latency, CPU and statements per
# sale; on PostgreSQL each run first measures pgbench TPC-B-like (32 clients, 10 s) on the same
# server and prints sales/s ÷ pgbench tps. Extra arguments go to every run of `azyq-load` (e.g.
# `--rate 2000` for the open loop).
#
#   [FLOW=yardstick|full|both] tools/load/sales-bench.sh BIN_DIR sqlite|postgres [RUNS] [azyq-load args…]
#
# FLOW=yardstick (default) is the issue's: tokens minted before the clock (`--premint`), the tills
# only authorise and capture. FLOW=full has the wallet mint a token and the till look it up in the
# loop too (4 requests a sale); FLOW=both runs the two back to back in each run. The server is
# started with AZYQ_QR_MINUTES=30 (default here; the server's own default is 5) so that the tokens
# minted before a run outlive it.
#
# SERVERS=2 starts a second `azyq-server` on the same database (port $PORT+1) once the first has
# migrated it; the tills are then spread round-robin over both (replicas: compare with SERVERS=1).
#
# PG_STATEMENTS=N (PostgreSQL only) loads pg_stat_statements and, after each run, prints the N
# statements that took most of PostgreSQL's time in it (planning + execution): calls, mean and total
# milliseconds, rows, shared blocks hit, and the statement's head.
#
# BIN_DIR holds release builds of azyq-server and azyq-load. Work files go to $WORK (default
# /tmp/sales-bench); PostgreSQL listens on $PG_PORT (default 55470), the server on $PORT (18191).
set -euo pipefail
BIN=$(cd "${1:?BIN_DIR}" && pwd); DB=${2:?sqlite or postgres}; RUNS=${3:-3}; shift 2; [ $# -gt 0 ] && shift
WORK=${WORK:-/tmp/sales-bench}; PORT=${PORT:-18191}; PG_PORT=${PG_PORT:-55470}; FLOW=${FLOW:-yardstick}
case "$FLOW" in yardstick) FLOWS=(yardstick) ;; full) FLOWS=(full) ;; both) FLOWS=(yardstick full) ;;
  *) echo "FLOW must be yardstick, full or both, not $FLOW" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
PGBENCH=()
rm -rf "$WORK"; mkdir -p "$WORK"; chmod 755 "$WORK"; cd "$WORK"
case "$DB" in
  sqlite) export DATABASE_URL="sqlite://$WORK/azyq.db" ;;
  postgres) [ -n "${PG_STATEMENTS:-}" ] && export PG_OPTS="${PG_OPTS:-} -c shared_preload_libraries=pg_stat_statements \
              -c pg_stat_statements.track_planning=on -c pg_stat_statements.max=1000"
            export DATABASE_URL=$("$HERE/throwaway-pg.sh" start "$WORK/pg" "$PG_PORT")
            export AZYQ_POOL_SIZE=${AZYQ_POOL_SIZE:-16}
            /usr/lib/postgresql/*/bin/createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres pgbench
            PGBENCH=(--pgbench "postgres://postgres@127.0.0.1:$PG_PORT/pgbench") ;;
  *) echo "sqlite or postgres, not $DB" >&2; exit 2 ;;
esac
export AZYQ_LISTEN=127.0.0.1:$PORT AZYQ_WALLET_JWT_SECRET=load-secret AZYQ_SMS_GATEWAY_SECRET=load-gw \
  AZYQ_SMS_SENDER=file:$WORK/sms.jsonl AZYQ_LOG=warn AZYQ_QR_MINUTES=${AZYQ_QR_MINUTES:-30}
export AZYQ_LOAD_PASSWORD=load-operator-pw AZYQ_LOAD_WALLET_SECRET=load-secret AZYQ_LOAD_GATEWAY_SECRET=load-gw
SERVER=; SERVER2=; SERVERS=${SERVERS:-1}
psql_azyq() { /usr/lib/postgresql/*/bin/psql -h 127.0.0.1 -p "$PG_PORT" -U postgres azyq "$@"; }
cleanup() {
  [ -n "$SERVER2" ] && kill "$SERVER2" 2>/dev/null && wait "$SERVER2" 2>/dev/null
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [ "$DB" = postgres ] && "$HERE/throwaway-pg.sh" stop "$WORK/pg"
  true
}
trap cleanup EXIT
AZYQ_PASSWORD=load-operator-pw "$BIN/azyq-server" create-operator --login load >/dev/null
"$BIN/azyq-server" serve >"$WORK/server.log" 2>&1 & SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null && break; sleep 0.2; done
URLS=http://127.0.0.1:$PORT; PIDS=$SERVER
if [ "$SERVERS" = 2 ]; then
  AZYQ_LISTEN=127.0.0.1:$((PORT + 1)) "$BIN/azyq-server" serve >"$WORK/server2.log" 2>&1 & SERVER2=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((PORT + 1))/metrics" >/dev/null && break; sleep 0.2; done
  URLS=$URLS,http://127.0.0.1:$((PORT + 1)); PIDS=$PIDS,$SERVER2
elif [ "$SERVERS" != 1 ]; then echo "SERVERS must be 1 or 2, not $SERVERS" >&2; exit 2; fi
"$BIN/azyq-load" --server "http://127.0.0.1:$PORT" --shops 8 --tills-per-shop 8 --vouchers 2000 --setup-only >"$WORK/setup.log"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs; $SERVERS server(s)"
for i in $(seq "$RUNS"); do
  for flow in "${FLOWS[@]}"; do
    [ -n "${PG_STATEMENTS:-}" ] && psql_azyq -qc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()' >/dev/null
    FLOW_ARGS=(); [ "$flow" = yardstick ] && FLOW_ARGS=(--premint --setup-threads 8)
    echo "== run $i/$RUNS ($DB, $flow), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    DB_PIDS=(); [ "$DB" = postgres ] && DB_PIDS=(--database-pid "$("$HERE/throwaway-pg.sh" pids "$WORK/pg")")
    "$BIN/azyq-load" --server "$URLS" --skip-setup --concurrency 64 --duration "${DURATION:-20}" \
      --five-lines --cancel-pct 0 --refund-pct 0 --retry-pct 0 --server-pid "$PIDS" "${DB_PIDS[@]}" "${FLOW_ARGS[@]}" \
      "${PGBENCH[@]}" "$@" \
      | grep -E '^(run: in|premint|sales|kind|mint|lookup|authorize|capture|sale|open|cpu|database|unexpected|double|balance|pgbench|FAIL)' || true
    [ -n "${PG_STATEMENTS:-}" ] && psql_azyq -P pager=off -c "SELECT calls, round((total_plan_time + total_exec_time)::numeric / greatest(calls, 1), 3) AS mean_ms,
        round((total_plan_time + total_exec_time)::numeric) AS total_ms, round(total_plan_time::numeric) AS plan_ms, rows,
        shared_blks_hit AS blks_hit, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS statement
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'azyq'
      ORDER BY total_plan_time + total_exec_time DESC LIMIT $PG_STATEMENTS"
  done
done
grep -m1 VmHWM "/proc/$SERVER/status" || true
[ -n "$SERVER2" ] && grep -m1 VmHWM "/proc/$SERVER2/status" || true
