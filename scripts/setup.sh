#!/usr/bin/env bash
# Installs what costmill and its tests need on Debian/Ubuntu: ClickHouse server and client
# (the managed server and the tests use them), Prometheus (the /metrics test scrapes with it),
# Python test peers (chDB for the compatibility test, aiosmtpd for the email tests), Slurm with
# MariaDB and munge (the Slurm executor's test starts a real cluster with testing/slurm/cluster.sh),
# and the Rust toolchain's components. Safe to run again: it skips what is installed.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

have_clickhouse() {
    command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || [ -x /usr/bin/clickhouse ]
}

if ! have_clickhouse || ! command -v clickhouse-client >/dev/null 2>&1 || ! command -v /usr/bin/time >/dev/null 2>&1; then
    echo "setup: installing clickhouse-server, clickhouse-client, time (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        clickhouse-server clickhouse-client time >/dev/null
fi

if [ ! -x /usr/bin/prometheus ]; then
    echo "setup: installing prometheus (apt), the scraper of the /metrics test"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The test runs its own Prometheus on a free port; the package's service is not needed.
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmdbd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1 \
    || ! command -v mariadbd >/dev/null 2>&1 || ! command -v sbatch >/dev/null 2>&1 || ! command -v slurmrestd >/dev/null 2>&1; then
    echo "setup: installing slurm, munge, mariadb (apt), the local cluster of the Slurm tests"
    # testing/slurm/cluster.sh runs its own daemons under a temp dir on free ports: keep the
    # packages' services from starting during the install (policy-rc.d), and off at boot.
    added_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    $SUDO apt-get update -qq
    installed=0
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurmdbd slurm-client slurmrestd munge mariadb-server >/dev/null || installed=$?
    if [ -n "$added_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
    if [ "$installed" != 0 ]; then exit "$installed"; fi
    for service in slurmctld slurmd slurmdbd slurmrestd munge mariadb; do
        $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
    done
fi

if ! python3 -c "import chdb" >/dev/null 2>&1; then
    echo "setup: installing chdb-core (pip), a current ClickHouse engine for the compatibility test"
    python3 -m pip install -q chdb-core
fi

if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
    echo "setup: installing aiosmtpd (pip), the SMTP server of the email tests"
    python3 -m pip install -q aiosmtpd
fi

if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt >/dev/null 2>&1 || true
fi
echo "setup: ready"
