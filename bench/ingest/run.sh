#!/usr/bin/env bash
# Ingest benchmark: a 1,000,000-row generated FOCUS CSV (the `clickhouse` flavor, so that
# ClickHouse's own CSV reader accepts it too) through `costmill ingest focus`, and in the same run
# the same file through `clickhouse-client --query "INSERT INTO … FORMAT CSVWithNames"` into the
# same column layout. Prints rows/s and peak RSS. Usage: bench/ingest/run.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${1:-1000000}"
scripts/setup.sh >/dev/null
cargo build --release -q -p costmill
BIN=target/release/costmill
WORK="$(mktemp -d "${TMPDIR:-/tmp}/costmill-bench-ingest.XXXXXX")"
export COSTMILL_DATA_DIR="$WORK/data"
cleanup() { "$BIN" db stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

CSV="$WORK/focus.csv"
"$BIN" generate focus --rows "$ROWS" --seed 1 --flavor clickhouse -o "$CSV" 2>/dev/null
SIZE_MB=$(( $(stat -c %s "$CSV") / 1048576 ))
"$BIN" db migrate >/dev/null
PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tcp_port'])" "$COSTMILL_DATA_DIR/clickhouse/server.json")
CLIENT=(clickhouse-client --host 127.0.0.1 --port "$PORT" --database costmill)

measure() { # prints "seconds peak_rss_kb" of a command
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null
    cat "$WORK/time"
}

read -r COSTMILL_S COSTMILL_KB < <(measure "$BIN" ingest focus "$CSV" --source bench)
"${CLIENT[@]}" --multiquery < queries/sql/bench_focus_native.sql
COLUMNS=$(head -1 "$CSV")
read -r NATIVE_S NATIVE_KB < <(measure sh -c "${CLIENT[*]} --query 'INSERT INTO bench_focus_native ($COLUMNS) FORMAT CSVWithNames' < '$CSV'")
COUNT_COSTMILL=$("${CLIENT[@]}" --query "SELECT count() FROM focus_costs WHERE x_Source = 'bench'")
COUNT_NATIVE=$("${CLIENT[@]}" --query "SELECT count() FROM bench_focus_native")

python3 - "$ROWS" "$SIZE_MB" "$COSTMILL_S" "$COSTMILL_KB" "$COUNT_COSTMILL" "$NATIVE_S" "$NATIVE_KB" "$COUNT_NATIVE" <<'PY'
import sys
rows, size, cs, ckb, ccount, ns, nkb, ncount = sys.argv[1:]
rows, cs, ns = int(rows), float(cs), float(ns)
print(f"bench/ingest: {rows:,} FOCUS rows, {size} MB CSV")
print(f"  costmill ingest focus         : {cs:6.1f} s  {rows / cs:10,.0f} rows/s  peak RSS {int(ckb) / 1024:6.0f} MiB  ({int(ccount):,} rows landed)")
print(f"  clickhouse-client CSVWithNames: {ns:6.1f} s  {rows / ns:10,.0f} rows/s  client peak RSS {int(nkb) / 1024:6.0f} MiB  ({int(ncount):,} rows landed)")
print(f"  costmill / native speed       : {ns / cs:.2f}x")
PY
