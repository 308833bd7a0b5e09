#!/usr/bin/env bash
# Allocation benchmark: 30 days of 1,000,000 generated cost rows, 2,000,000 Kubernetes pod
# usage windows on nodes that are real instances of that bill, and 100,000 Slurm jobs. Prints
# wall time and peak RSS of `costmill allocate`, and in the same run the time of one plain
# ClickHouse GROUP BY pass over the same inputs (the floor). Usage: bench/allocate/run.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${1:-1000000}"
PODS=2000000
JOBS=100000
scripts/setup.sh >/dev/null
cargo build --release -q -p costmill
BIN="$PWD/target/release/costmill"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/costmill-bench-allocate.XXXXXX")"
export COSTMILL_DATA_DIR="$WORK/data"
cleanup() { "$BIN" db stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"

# The allocation: the demo's rules and pools, workloads by label, Slurm accounts to teams.
{
    sed -e 's/^\[\[rules\]\]/[[allocation.rules]]/' -e 's/^\[\[pools\]\]/[[allocation.pools]]/' \
        "$OLDPWD/api/src/demo_allocation.toml" | sed -n '/^\[\[allocation.rules\]\]/,$p' > rules.toml
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

"$BIN" generate focus --rows "$ROWS" --seed 3 --start 2026-09 --months 1 --flavor clickhouse -o costs.csv 2>/dev/null
"$BIN" ingest focus costs.csv --source bench >/dev/null
PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tcp_port'])" "$COSTMILL_DATA_DIR/clickhouse/server.json")
CH=(clickhouse-client --host 127.0.0.1 --port "$PORT" --database costmill)

# Nodes: the bill's compute instances, observed hourly for the month.
"${CH[@]}" --query "SELECT DISTINCT ResourceId FROM focus_costs WHERE ServiceName IN ('Amazon Elastic Compute Cloud', 'Amazon Elastic Kubernetes Service') ORDER BY ResourceId" > instances.txt
NODES=$(wc -l < instances.txt)
python3 - "$NODES" <<'PY' | "${CH[@]}" --query "INSERT INTO k8s_nodes FORMAT TSV"
import sys
from datetime import datetime, timedelta
ids = [line.strip().rsplit("/", 1)[-1] for line in open("instances.txt")]
start = datetime(2026, 9, 1)
for i, iid in enumerate(ids):
    for h in range(30 * 24):
        t = start + timedelta(hours=h)
        print(f"bench\tnode-{i}\taws:///us-east-1a/{iid}\tm5.16xlarge\t64\t274877906944\t0\t{t:%Y-%m-%d %H:%M:%S}\t{t + timedelta(hours=1):%Y-%m-%d %H:%M:%S}")
PY
PER_HOUR=$(( PODS / 720 ))
"${CH[@]}" --query "INSERT INTO k8s_pod_usage SELECT 'bench', concat('node-', toString(number % $NODES)), concat('ns-', toString(number % 25)),
    concat('pod-', toString(number % $PER_HOUR)), 'Deployment', concat('app-', toString(number % 400)),
    ['app', 'team'], [concat('app-', toString(number % 400)), concat('team-', toString(number % 12))],
    toDateTime('2026-09-01 00:00:00') + intDiv(number, $PER_HOUR) * 3600, toDateTime('2026-09-01 00:00:00') + intDiv(number, $PER_HOUR) * 3600 + 3600,
    toDecimal128(number % 20 + 1, 18) / 10, toDecimal128(number % 17 + 1, 18) / 10,
    toDecimal128((number % 8 + 1) * 536870912, 18), toDecimal128((number % 11 + 1) * 402653184, 18), toDecimal128(0, 18)
    FROM system.numbers LIMIT $PODS"
"${CH[@]}" --query "INSERT INTO slurm_jobs SELECT 'hpc', toString(number), 'job', if(number % 5 = 0, 'gpu', 'batch'),
    concat('account-', toString(number % 30)), concat('user-', toString(number % 200)),
    toDecimal128(number % 16 + 1, 18), toDecimal128((number % 8 + 1) * 4096, 18), toDecimal128(if(number % 5 = 0, number % 4 + 1, 0), 18),
    toDateTime('2026-09-01 00:00:00') + number * 25, toDateTime('2026-09-01 00:00:00') + number * 25 + (number % 240 + 10) * 60,
    'COMPLETED', now() FROM system.numbers LIMIT $JOBS"

/usr/bin/time -f "%e %M" -o time.txt "$BIN" allocate --from 2026-09-01 --to 2026-10-01 > allocate.txt
read -r ALLOC_S ALLOC_KB < time.txt
FLOOR_START=$(date +%s.%N)
"${CH[@]}" --query "SELECT toDate(ChargePeriodStart) AS d, Provider, ServiceName, ServiceCategory, SubAccountId, SubAccountName, ResourceId, ChargeCategory, x_TagKeys, x_TagValues, sum(BilledCost), sum(EffectiveCost), count() FROM focus_costs GROUP BY d, Provider, ServiceName, ServiceCategory, SubAccountId, SubAccountName, ResourceId, ChargeCategory, x_TagKeys, x_TagValues FORMAT Null"
"${CH[@]}" --query "SELECT toDate(window_start) AS d, cluster, node, namespace, workload, label_keys, label_values, sum(cpu_usage_cores * toUInt32(window_end - window_start)), sum(memory_usage_bytes * toUInt32(window_end - window_start)), sum(gpu_request) FROM k8s_pod_usage GROUP BY d, cluster, node, namespace, workload, label_keys, label_values FORMAT Null"
"${CH[@]}" --query "SELECT toDate(start) AS d, partition, account, user, job_id, sum(alloc_cpus), sum(alloc_memory_mb), sum(alloc_gpus) FROM slurm_jobs GROUP BY d, partition, account, user, job_id FORMAT Null"
FLOOR_S=$(python3 -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$FLOOR_START")
ALLOCATIONS=$("${CH[@]}" --query "SELECT count() FROM allocations")
python3 - "$ROWS" "$PODS" "$JOBS" "$ALLOC_S" "$ALLOC_KB" "$FLOOR_S" "$ALLOCATIONS" "$NODES" <<'PY'
import sys
rows, pods, jobs, s, kb, floor, allocations, nodes = sys.argv[1:]
print(f"bench/allocate: 30 days, {int(rows):,} cost rows, {int(pods):,} pod windows on {nodes} nodes, {int(jobs):,} Slurm jobs")
print(f"  costmill allocate              : {float(s):6.1f} s  peak RSS {int(kb) / 1024:6.0f} MiB  ({int(allocations):,} allocation rows)")
print(f"  plain ClickHouse GROUP BY pass : {float(floor):6.1f} s  (the floor)")
PY
sed -n '1,12p' allocate.txt
