#!/usr/bin/env bash
# Allocation benchmark, two sizes:
#   month: 30 days of 1,000,000 cost rows, 2,000,000 Kubernetes pod windows, 100,000 Slurm jobs
#   year:  12 months of 12,000,000 cost rows, 24,000,000 pod windows, 1,200,000 Slurm jobs
# Pods run on nodes that are real instances of the generated bill (observed hourly); jobs run
# around the clock. For each size it prints the wall time and peak RSS of `costmill allocate`
# (median of ROUNDS runs, default 3 for the month and 1 for the year), and in the same run the
# floor: the very SQL the allocation reads (the cost groups, the multi-day charges, metrics,
# node days, pod days with max(request, usage) × seconds, Slurm jobs split per day, with FINAL
# on the usage tables), in the same 7-day chunks, run by ClickHouse in one client session with
# the results discarded. (In one pass over a year, the pod-day GROUP BY alone exceeds
# ClickHouse's default 10 GB per-query memory limit.) The difference is costmill's own work:
# rules, pools, Kubernetes and Slurm splits, writing, the conservation check on staging and the
# swap.
#
# Usage: bench/allocate/run.sh [month|year|all]   (default: all)
#        MONTH_ROUNDS=5 YEAR_ROUNDS=3 bench/allocate/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
WHICH="${1:-all}"
MONTH_ROUNDS="${MONTH_ROUNDS:-3}"
YEAR_ROUNDS="${YEAR_ROUNDS:-1}"
scripts/setup.sh >/dev/null
cargo build --release -q -p costmill
ROOT="$PWD"
BIN="$ROOT/target/release/costmill"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/costmill-bench-allocate.XXXXXX")"
export COSTMILL_DATA_DIR="$WORK/data"
cleanup() { "$BIN" db stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"

# The allocation: the demo's rules and pools, workloads by label, Slurm accounts to teams.
{
    sed -n '/^\[\[rules\]\]/,$p' "$ROOT/api/src/demo_allocation.toml" |
        sed -e 's/^\[\[rules\]\]/[[allocation.rules]]/' -e 's/^\[\[pools\]\]/[[allocation.pools]]/' > rules.toml
    cat <<'TOML'
[[allocation.rules]]
name = "pods"
when = { namespace = "*" }
service = { tag = ["app"] }
team = { tag = ["team"] }

[[allocation.rules]]
name = "slurm"
when = { tags = { slurm_account = "*" } }
service = { tag = ["slurm_partition"] }
team = { tag = ["slurm_account"] }

[allocation.slurm.partitions.batch]
cpus = "512"
memory_gb = "4096"
cpu_hourly = "0.04"
memory_gb_hourly = "0.005"

[allocation.slurm.partitions.gpu]
cpus = "256"
memory_gb = "2048"
gpus = "32"
cpu_hourly = "0.04"
memory_gb_hourly = "0.005"
gpu_hourly = "2.5"
TOML
    # Rules first (specific before the catch-all tag rule of the demo), then pools.
} > extra.toml
python3 - <<'PY'
rules = open("rules.toml").read()
extra = open("extra.toml").read()
head, sep, tail = extra.partition("[allocation.slurm")
open("costmill.toml", "w").write(head + rules + "\n" + sep + tail)
PY

"$BIN" db migrate >/dev/null
PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tcp_port'])" "$COSTMILL_DATA_DIR/clickhouse/server.json")

median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

# bench LABEL ROWS PODS JOBS START(YYYY-MM) MONTHS ROUNDS
bench() {
    local label=$1 rows=$2 pods=$3 jobs=$4 start=$5 months=$6 rounds=$7
    local db="bench_$label"
    export COSTMILL_CLICKHOUSE__DATABASE="$db"
    local CH=(clickhouse-client --host 127.0.0.1 --port "$PORT" --database "$db")
    local from to hours seconds
    from="$start-01"
    to=$(python3 -c "import datetime,sys; y,m=map(int,sys.argv[1].split('-')); m+=int(sys.argv[2]); y+=(m-1)//12; m=(m-1)%12+1; print(f'{y:04d}-{m:02d}-01')" "$start" "$months")
    seconds=$(python3 -c "import datetime,sys; d=lambda s: datetime.date.fromisoformat(s); print(int((d(sys.argv[2])-d(sys.argv[1])).total_seconds()))" "$from" "$to")
    hours=$((seconds / 3600))
    "$BIN" db migrate >/dev/null

    "$BIN" generate focus --rows "$rows" --seed 3 --start "$start" --months "$months" --flavor clickhouse -o costs.csv 2>/dev/null
    "$BIN" ingest focus costs.csv --source bench >/dev/null
    rm -f costs.csv

    # Nodes: the bill's compute instances, observed hourly over the window.
    "${CH[@]}" --query "SELECT DISTINCT ResourceId FROM focus_costs WHERE ServiceName IN ('Amazon Elastic Compute Cloud', 'Amazon Elastic Kubernetes Service') ORDER BY ResourceId" > instances.txt
    local nodes
    nodes=$(wc -l < instances.txt)
    python3 - "$from" "$hours" <<'PY' | "${CH[@]}" --query "INSERT INTO k8s_nodes FORMAT TSV"
import sys
from datetime import datetime, timedelta
start, hours = datetime.fromisoformat(sys.argv[1]), int(sys.argv[2])
ids = [line.strip().rsplit("/", 1)[-1] for line in open("instances.txt")]
out = sys.stdout
for h in range(hours):
    t = start + timedelta(hours=h)
    a, b = f"{t:%Y-%m-%d %H:%M:%S}", f"{t + timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
    for i, iid in enumerate(ids):
        out.write(f"bench\tnode-{i}\taws:///us-east-1a/{iid}\tm5.16xlarge\t64\t274877906944\t0\t{a}\t{b}\t2026-12-31 00:00:00\n")
PY
    local per_hour=$((pods / hours))
    "${CH[@]}" --max_insert_block_size 4194304 --query "INSERT INTO k8s_pod_usage SELECT 'bench', concat('node-', toString(number % $nodes)), concat('ns-', toString(number % 25)),
        concat('pod-', toString(number % $per_hour)), 'Deployment', concat('app-', toString(number % 400)),
        ['app', 'team'], [concat('app-', toString(number % 400)), concat('team-', toString(number % 12))],
        toDateTime('$from 00:00:00', 'UTC') + intDiv(number, $per_hour) * 3600, toDateTime('$from 00:00:00', 'UTC') + intDiv(number, $per_hour) * 3600 + 3600,
        toDecimal128(number % 20 + 1, 18) / 10, toDecimal128(number % 17 + 1, 18) / 10,
        toDecimal128((number % 8 + 1) * 536870912, 18), toDecimal128((number % 11 + 1) * 402653184, 18), toDecimal128(0, 18),
        toDateTime('2026-12-31 00:00:00', 'UTC')
        FROM system.numbers LIMIT $((per_hour * hours))"
    local spacing=$((seconds / jobs))
    "${CH[@]}" --query "INSERT INTO slurm_jobs SELECT 'hpc', toString(number), 'job', if(number % 5 = 0, 'gpu', 'batch'),
        concat('account-', toString(number % 30)), concat('user-', toString(number % 200)),
        toDecimal128(number % 16 + 1, 18), toDecimal128((number % 8 + 1) * 4096, 18), toDecimal128(if(number % 5 = 0, number % 4 + 1, 0), 18),
        toDateTime('$from 00:00:00', 'UTC') + number * $spacing, toDateTime('$from 00:00:00', 'UTC') + number * $spacing + (number % 240 + 10) * 60,
        'COMPLETED', toDateTime('2026-12-31 00:00:00', 'UTC') FROM system.numbers LIMIT $jobs"
    # Let background merges settle, as they would between a day's ingest and its allocation.
    for _ in $(seq 1 120); do
        [ "$("${CH[@]}" --query "SELECT count() FROM system.merges WHERE database = '$db'")" = 0 ] && break
        sleep 1
    done

    local secs=() rss=()
    for _ in $(seq 1 "$rounds"); do
        /usr/bin/time -f "%e %M" -o time.txt "$BIN" allocate --from "$from" --to "$to" > allocate.txt
        read -r s kb < time.txt
        secs+=("$s"); rss+=("$kb")
    done

    # The floor: the allocation's own input queries, as it runs them (chunks of 7 days), in one
    # client session, results discarded.
    local charge_span job_span
    span_sql() { sed -e "s/{from:DateTime}/toDateTime('$from 00:00:00', 'UTC')/g" -e "s/{to:DateTime}/toDateTime('$to 00:00:00', 'UTC')/g" "$ROOT/queries/sql/$1.sql"; }
    charge_span=$("${CH[@]}" --query "$(span_sql allocation_spread_span)")
    job_span=$("${CH[@]}" --query "$(span_sql slurm_job_span)")
    python3 - "$ROOT/queries/sql" "$from" "$to" "$charge_span" "$job_span" > floor.sql <<'PY'
import sys
from datetime import date, datetime, timedelta, timezone
sql_dir, start, end, charge_span, job_span = sys.argv[1], date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
text = lambda name: "\n".join(l for l in open(f"{sql_dir}/{name}.sql").read().splitlines() if not l.startswith("--")).strip()
dt = lambda t: f"toDateTime('{t:%Y-%m-%d %H:%M:%S}', 'UTC')"
midnight = lambda d: datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
for name in ["allocation_spread_span", "slurm_job_span"]:
    print(text(name).replace("{from:DateTime}", dt(midnight(start))).replace("{to:DateTime}", dt(midnight(end))) + "\nFORMAT Null;")
d = start
while d < end:
    e = min(d + timedelta(days=7), end)
    for name in ["allocation_inputs", "allocation_spread_inputs", "allocation_metrics", "k8s_node_days", "k8s_pod_days", "slurm_job_days"]:
        span = charge_span if name == "allocation_spread_inputs" else job_span
        earliest = max(midnight(d) - timedelta(seconds=span), datetime(1970, 1, 1, tzinfo=timezone.utc))
        q = (text(name).replace("{from:DateTime}", dt(midnight(d))).replace("{to:DateTime}", dt(midnight(e)))
             .replace("{earliest:DateTime}", dt(earliest))
             .replace("{from:Date}", f"toDate('{d - timedelta(days=31)}')").replace("{to:Date}", f"toDate('{e}')"))
        print(q + "\nFORMAT Null;")
    d = e
PY
    local floors=()
    for _ in $(seq 1 "$rounds"); do
        local t0 t1
        t0=$(date +%s.%N)
        "${CH[@]}" --multiquery < floor.sql
        t1=$(date +%s.%N)
        floors+=("$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$t1")")
    done
    local allocations
    allocations=$("${CH[@]}" --query "SELECT count() FROM allocations")
    python3 - "$label" "$rows" "$pods" "$jobs" "$nodes" "$allocations" "$(median "${secs[@]}")" "$(median "${rss[@]}")" "$(median "${floors[@]}")" "$rounds" "${secs[*]}" "${rss[*]}" "${floors[*]}" <<'PY'
import sys
label, rows, pods, jobs, nodes, allocations, s, kb, floor, rounds, all_s, all_kb, all_floor = sys.argv[1:]
print(f"bench/allocate {label}: {int(rows):,} cost rows, {int(pods):,} pod windows on {nodes} nodes, {int(jobs):,} Slurm jobs; median of {rounds}")
print(f"  costmill allocate             : {float(s):7.1f} s  peak RSS {float(kb) / 1024:6.0f} MiB  ({int(allocations):,} allocation rows)"
      f"  [runs: {all_s} s; {' '.join(f'{int(k) / 1024:.0f}' for k in all_kb.split())} MiB]")
print(f"  floor (same SQL in ClickHouse): {float(floor):7.1f} s  [runs: {' '.join(f'{float(x):.1f}' for x in all_floor.split())} s]")
PY
    sed -n '1,3p' allocate.txt
    "${CH[@]}" --query "DROP DATABASE $db" || true
}

case "$WHICH" in
    month) bench month 1000000 2000000 100000 2026-09 1 "$MONTH_ROUNDS" ;;
    year) bench year 12000000 24000000 1200000 2026-01 12 "$YEAR_ROUNDS" ;;
    all)
        bench month 1000000 2000000 100000 2026-09 1 "$MONTH_ROUNDS"
        bench year 12000000 24000000 1200000 2026-01 12 "$YEAR_ROUNDS"
        ;;
    *) echo "usage: $0 [month|year|all]" >&2; exit 2 ;;
esac
