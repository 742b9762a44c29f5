#!/usr/bin/env bash
# A throwaway PostgreSQL for load runs: a new cluster in DIR on a loopback port, durable as in
# production (fsync and synchronous_commit on), started as the `postgres` user when run as root
# (PostgreSQL refuses to run as root).
#
#   tools/load/throwaway-pg.sh start DIR PORT   # prints the URL of an empty database `azyq`
#   tools/load/throwaway-pg.sh stop DIR         # stops it and removes DIR
#   tools/load/throwaway-pg.sh pids DIR         # its processes now, comma-separated (for --database-pid)
#
# DIR's parent must be reachable by `postgres` (not a mode-700 directory of root's). PG_OPTS adds
# server settings to the start, e.g. PG_OPTS="-c shared_preload_libraries=pg_stat_statements".
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR | pids DIR" >&2; exit 2; }
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] && [ -x "$BIN/initdb" ] || { echo "no PostgreSQL under /usr/lib/postgresql" >&2; exit 2; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    [ $# -eq 3 ] || usage
    DIR=$2 PORT=$3
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$DIR"
    as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; exit 2; }
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w -t 60 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 ${PG_OPTS:-}" start >/dev/null \
      || { cat "$DIR/pg.log" >&2; exit 2; }
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres azyq
    echo "postgres://postgres@127.0.0.1:$PORT/azyq"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    DIR=$2
    [ -d "$DIR/data" ] && as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
    ;;
  pids)
    [ $# -eq 2 ] || usage
    pgrep -d, -P "$(head -1 "$2/data/postmaster.pid")"
    ;;
  *) usage ;;
esac
