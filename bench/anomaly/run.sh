#!/usr/bin/env bash
# Spike detection quality: the seeded generator (alerts/tests/support/synthetic.rs) writes 180 days
# of daily spend for SERIES series (default 100) with weekly seasonality, trend, permanent steps
# and injected anomalies of 0.4×, 0.7×, 1.5×, 2.5× and 5× the detection thresholds, one to three
# days long. The detector of `costmill alerts` (the same code, alerts::detect) runs over each
# round (one seed per round, default 5); it prints per round and the medians: recall of the
# anomalies above the thresholds (target: all), precision, and false alerts per 90 days per 100
# series (target: at most one).
#
# Usage: bench/anomaly/run.sh [ROUNDS] [SERIES]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --release -q -p costmill-alerts --example anomaly_bench -- "${1:-5}" "${2:-100}"
