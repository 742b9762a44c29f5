#!/usr/bin/env bash
# A flame graph of a running server: `perf record` with DWARF call stacks for SECONDS, folded and
# drawn by inferno (`cargo install inferno`) into OUT.svg, plus OUT.txt, the top functions by
# their own share of the samples (what the README quotes).
#
#   tools/load/flame.sh PID OUT [SECONDS]
#
# Run it while the server is saturated, e.g. beside `tools/load/sales-bench.sh` (it prints the
# server's pid in its log line "server pid"). Needs `perf` (Debian: linux-perf) and root or
# kernel.perf_event_paranoid ≤ 1.
set -euo pipefail
PID=${1:?server pid}; OUT=${2:?output path without extension}; SECS=${3:-8}
command -v perf >/dev/null || { echo "perf is not installed (Debian: apt-get install linux-perf)" >&2; exit 2; }
command -v inferno-collapse-perf >/dev/null || { echo "inferno is not installed: cargo install inferno" >&2; exit 2; }
DATA=$(mktemp); trap 'rm -f "$DATA"' EXIT
perf record -q -F 199 --call-graph dwarf,16384 -p "$PID" -o "$DATA" -- sleep "$SECS" 2>/dev/null
perf script -i "$DATA" 2>/dev/null | inferno-collapse-perf >"$OUT.folded"
inferno-flamegraph --minwidth 0.3 --title "azyq-server, $(basename "$OUT")" <"$OUT.folded" >"$OUT.svg"
perf report -i "$DATA" --no-children -g none --sort symbol 2>/dev/null | grep -E '^ +[0-9.]+%' \
  | sed -E 's/ +/ /g' | cut -c1-120 | head -30 >"$OUT.txt" || true
echo "$OUT.svg ($(wc -l <"$OUT.folded") stacks); top functions in $OUT.txt"
