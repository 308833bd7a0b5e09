#!/usr/bin/env bash
# bench/api's data, prepared once into a cache directory (run by bench/api/run.sh; not on its own):
#   costmill.toml: the demo allocation rules and pools, then budgets per team (the previous
#     month's spend + 5 %, as the demo sets them); the alert schedule set to 1 January so that no
#     check runs during a measurement
#   ROWS FOCUS rows generated (seed 1, 12 months from 2025-12, real-export flavor) and ingested;
#   daily service metrics for the proportional pools (the demo's metric names and services);
#   `costmill allocate` over everything; `costmill alerts check` as of the day after the data;
#   recommendations shaped like the optimizer's (queries/sql/bench_api_recommendations.sql), two
#   computations; a read token (all teams) in CACHE/token. The time of each step goes to
#   CACHE/prepare.txt.
#
# Usage: bench/api/prepare.sh BIN CACHE ROWS   (COSTMILL_DATA_DIR set by the caller)
set -euo pipefail
BIN="$1" CACHE="$2" ROWS="$3"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
START=2025-12 MONTHS=12 FIRST_DAY=2025-12-01 END_DAY=2026-12-01
cd "$CACHE"
: "${COSTMILL_DATA_DIR:?set by bench/api/run.sh}"

{
    echo "[alerts]"
    echo "schedule = \"0 0 0 1 1 *\""
    echo
    echo "[allocation]"
    sed -n '/^\[\[rules\]\]/,$p' "$ROOT/api/src/demo_allocation.toml" |
        sed -e 's/^\[\[rules\]\]/[[allocation.rules]]/' -e 's/^\[\[pools\]\]/[[allocation.pools]]/'
} > costmill.toml
"$BIN" config check >/dev/null

STEPS="$CACHE/prepare.txt"
: > "$STEPS"
step() { # step LABEL COMMAND...: run it, record its wall time
    local label=$1 t0 t1
    shift
    echo "bench/api: $label" >&2
    t0=$(date +%s.%N)
    "$@" > "$CACHE/step.log" 2>&1 || { echo "bench/api: $label failed:" >&2; tail -20 "$CACHE/step.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    printf '%-44s %8.1f s\n' "$label" "$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$t1")" >> "$STEPS"
}

"$BIN" db migrate >/dev/null
CSV="$CACHE/focus.csv"
step "generate $ROWS FOCUS rows (CSV)" "$BIN" generate focus --rows "$ROWS" --seed 1 --start "$START" --months "$MONTHS" -o "$CSV"
echo "  ($(( $(stat -c %s "$CSV") / 1048576 )) MB CSV)" >> "$STEPS"
step "costmill ingest focus" "$BIN" ingest focus "$CSV" --source bench
rm -f "$CSV"

# Daily metrics of the proportional pools (kafka, postgres-shared, redis-shared), as the demo's.
python3 - "$FIRST_DAY" "$END_DAY" > metrics.csv <<'PY'
import random, sys
from datetime import date, timedelta
start, end = date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2])
metrics = {
    "kafka_bytes": ["events-pipeline", "payments-api", "search-api", "indexer", "notifications", "cdc"],
    "table_bytes": ["ledger", "payments-api", "user-profile", "cart", "pricing", "warehouse"],
    "key_count": ["cart", "user-profile", "query-suggest", "feature-store", "experiments"],
}
rng = random.Random(1)
print("date,metric,service,value")
for m, (metric, services) in enumerate(metrics.items()):
    base = [rng.randrange(1000, 50000) for _ in services]
    for day in range((end - start).days):
        for s, service in enumerate(services):
            value = base[s] * (1000 + day * (s + m + 1)) // 1000 * rng.randrange(900, 1100) // 1000
            print(f"{start + timedelta(days=day)},{metric},{service},{value}")
PY
step "costmill ingest metrics" "$BIN" ingest metrics metrics.csv
rm -f metrics.csv
step "costmill allocate (everything)" "$BIN" allocate

# Budgets: each team's spend of the last full month before the data's last month, + 5 %.
"$BIN" costs --by team --from 2026-10 --to 2026-11 --format csv > budgets.csv
python3 - budgets.csv >> costmill.toml <<'PY'
import csv, sys
from decimal import Decimal
rows = list(csv.DictReader(open(sys.argv[1])))
cols = rows[0].keys() if rows else []
group = next(c for c in cols if c in ("group", "team"))
cost = next(c for c in cols if c in ("cost", "effective", "amount"))
for r in rows:
    amount = Decimal(r[cost])
    if r[group] in ("unallocated", "unassigned") or amount <= 0:
        continue
    print(f'\n[[budgets]]\nname = "{r[group]}"\nteam = "{r[group]}"\namount = "{(amount * Decimal("1.05")).quantize(Decimal(1))}"\n'
          f'currency = "{r.get("currency", "USD")}"\nthresholds = [80, 100]')
PY
rm -f budgets.csv
"$BIN" config check >/dev/null
step "costmill alerts check (as of $END_DAY)" "$BIN" alerts check --today "$END_DAY" --no-notify

# Recommendations: two computations (the API serves the latest of each kind).
PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tcp_port'])" "$COSTMILL_DATA_DIR/clickhouse/server.json")
CH=(clickhouse-client --host 127.0.0.1 --port "$PORT" --database costmill)
for at in "2026-11-22 06:00:00" "2026-11-23 06:00:00"; do
    sed -e "s/{computed_at:DateTime}/toDateTime('$at', 'UTC')/" \
        -e "s/{from:DateTime}/toDateTime('2026-10-01 00:00:00', 'UTC')/" \
        -e "s/{to:DateTime}/toDateTime('2026-11-01 00:00:00', 'UTC')/" \
        "$ROOT/queries/sql/bench_api_recommendations.sql" | "${CH[@]}" --multiquery
done

"$BIN" tokens create --name bench --scope read | head -1 > token
# Background merges would compete with the measurement: let them finish (at most 30 minutes).
for _ in $(seq 1 1800); do
    [ "$("${CH[@]}" --query "SELECT count() FROM system.merges WHERE database = 'costmill'")" = 0 ] && break
    sleep 1
done
{
    echo "prepared $(date -u +%Y-%m-%dT%H:%MZ): $("${CH[@]}" --query 'SELECT count() FROM alerts') alerts," \
        "$("${CH[@]}" --query 'SELECT count() FROM recommendations') recommendation rows," \
        "$(grep -c '^\[\[budgets\]\]' costmill.toml) budgets"
} >> "$STEPS"
rm -f step.log
