#!/usr/bin/env bash
# Placement benchmark (issue #9). 10,000 seeded workloads (small web pods, memory-heavy services,
# GPU jobs, large CPU batch jobs; a third limited to providers, some to regions; spot, on demand
# or either) are placed against the whole embedded price catalog (2,420 rows of SkyPilot's AWS,
# GCP, Azure, Lambda and RunPod catalogs) by optimizer/examples/placement_bench.rs, built with
# --release, on one core (taskset -c 0), ROUNDS times. Each round is a fresh process: it parses
# the catalog, builds the index, places every workload (its 10 cheapest choices), then packs every
# workload's replicas (each shape's total, the 10 best).
#
# Per round: the process's wall time and peak RSS (/usr/bin/time -v) and its own phase timings;
# then the medians, next to the issue's comparison (SkyPilot's optimizer: about 0.45 s per task)
# and target (10,000 workloads in under 1 s on one core).
#
# Usage: bench/optimize/run.sh [WORKLOADS] [ROUNDS]      (defaults: 10000 workloads, 5 rounds)
#   BENCH_BIN=path   use this placement_bench binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKLOADS="${1:-10000}"
ROUNDS="${2:-5}"
case "$WORKLOADS$ROUNDS" in *[!0-9]*) echo "usage: bench/optimize/run.sh [WORKLOADS] [ROUNDS]" >&2; exit 2 ;; esac
[ "$WORKLOADS" -gt 0 ] && [ "$ROUNDS" -gt 0 ] || { echo "usage: bench/optimize/run.sh [WORKLOADS] [ROUNDS]" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench/optimize: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "bench/optimize: needs taskset (util-linux)" >&2; exit 1; }

if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$(realpath "$BENCH_BIN")"
else
    # Builds share the machine: one cargo at a time.
    flock /tmp/cargo.lock cargo build --release -q -p costmill-optimizer --example placement_bench
    BIN="$PWD/target/release/examples/placement_bench"
fi
[ -x "$BIN" ] || { echo "bench/optimize: $BIN is not an executable" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/costmill-bench-optimize.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %9s %9s %9s %9s %9s %9s %9s %10s\n' round wall_ms rss_mib total catalog index place pack answered
for round in $(seq 1 "$ROUNDS"); do
    taskset -c 0 /usr/bin/time -v -o "$WORK/time.$round" \
        "$BIN" --workloads "$WORKLOADS" --seed 1 --limit 10 > "$WORK/out.$round"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.0f", s * 1000 }' "$WORK/time.$round")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/time.$round")
    line=$(cat "$WORK/out.$round")
    field() { tr ' ' '\n' <<<"$line" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
    printf '%-6s %9s %9s %9s %9s %9s %9s %9s %10s\n' "$round" "$wall" "$rss" "$(field total_ms)" \
        "$(field catalog_ms)" "$(field index_ms)" "$(field place_ms)" "$(field pack_ms)" \
        "$(field answered)/$(field workloads)"
    echo "$wall $rss $(field catalog_ms) $(field index_ms) $(field place_ms) $(field pack_ms) $(field total_ms)" >> "$WORK/figures"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "checksums (identical every round: same seed, same answers): $(tr ' ' '\n' < "$WORK/out.1" | grep -E '^(answered|choices|packed|best_sum_usd|pack_sum_usd)=' | tr '\n' ' ')"
if [ "$(sort -u "$WORK"/out.* | sed 's/_ms=[0-9.]*//g' | sort -u | wc -l)" -ne 1 ]; then
    echo "bench/optimize: the rounds gave different answers" >&2; exit 1
fi

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" '{ print $c }' "$WORK/figures" | median; }
WALL=$(col 1); RSS=$(col 2); CATALOG=$(col 3); INDEX=$(col 4); PLACE=$(col 5); PACK=$(col 6); TOTAL=$(col 7)
SKY_S=$(awk -v n="$WORKLOADS" 'BEGIN { printf "%.0f", n * 0.45 }')
echo
echo "medians of $ROUNDS rounds, $WORKLOADS workloads, one core:"
printf '  %-44s %s\n' "whole process (/usr/bin/time, 10 ms steps)" "${WALL} ms wall, peak RSS ${RSS} MiB"
printf '  %-44s %s\n' "parse + index + place + pack (own clock)" "${TOTAL} ms"
printf '  %-44s %s\n' "  catalog parse + offers" "${CATALOG} ms"
printf '  %-44s %s\n' "  index build" "${INDEX} ms"
printf '  %-44s %s\n' "  place $WORKLOADS workloads (10 best each)" "${PLACE} ms ($(awk -v p="$PLACE" -v n="$WORKLOADS" 'BEGIN { printf "%.2f", p * 1000 / n }') us per workload)"
printf '  %-44s %s\n' "  pack $WORKLOADS workloads' replicas" "${PACK} ms"
printf '  %-44s %s\n' "SkyPilot optimizer (issue #9: ~0.45 s/task)" "~${SKY_S} s for $WORKLOADS tasks, extrapolated, not measured here"
printf '  %-44s %s\n' "target" "$WORKLOADS workloads under 1000 ms on one core: $(awk -v w="$WALL" 'BEGIN { print (w < 1000) ? "met" : "MISSED" }') (whole process, placing and packing)"
