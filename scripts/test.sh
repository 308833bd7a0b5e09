#!/usr/bin/env bash
# Runs the whole test suite. Integration tests start a private ClickHouse server under
# $COSTMILL_TEST_DATA_DIR (default: the system temp dir), shared by all test processes and
# stopped at the end; set COSTMILL_TEST_CLICKHOUSE_URL to use an existing server instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export COSTMILL_TEST_DATA_DIR="${COSTMILL_TEST_DATA_DIR:-${TMPDIR:-/tmp}/costmill-test-clickhouse}"
stop_server() {
    COSTMILL_DATA_DIR="$COSTMILL_TEST_DATA_DIR" target/debug/costmill db stop >/dev/null 2>&1 || true
}
trap stop_server EXIT
# --all-targets: every unit, integration and property test; there are no doc tests, and empty
# doc-test runs would end the log on "0 passed".
# The Cargo.toml rust-version must be true: no built dependency needs more, and the code builds on it.
python3 scripts/check-msrv.py
log="$(mktemp)"
cargo test --workspace --all-targets "$@" 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
rm -f "$log"
