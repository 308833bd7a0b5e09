#!/usr/bin/env bash
# A real single-node Slurm cluster with accounting, on loopback, all under one directory: munge
# (own key and socket), MariaDB (own datadir, free port, 127.0.0.1), slurmdbd, slurmctld, slurmd.
# Node `localhost`: CPUs=2 RealMemory=8192 Gres=gpu:2 (fake GPU device files); partitions `debug`
# (default) and `spot`; accounts (default team-a, team-b) with root in each. Runs as root, without
# systemd. Packages: scripts/setup.sh. Verified with Slurm 22.05 (Debian bookworm).
#
#   cluster.sh start DIR [CLUSTER_NAME]   bring it up (default name: costmill); writes DIR/env
#   cluster.sh stop DIR                   stop the daemons by their recorded PIDs (SIGTERM)
#
# Options (environment): SLURM_TEST_ACCOUNTS="team-a team-b" (root's default: the first),
# SLURM_TEST_RESTD=1 also starts slurmrestd on DIR/slurmrestd.socket (local auth),
# SLURM_TEST_TIMEOUT=60 seconds to wait for each daemon.
# Clients need `source DIR/env` (SLURM_CONF). A start wipes the cluster an earlier start left in
# DIR; a failed start stops what it started. Stop cancels the jobs, then stops the daemons.
set -euo pipefail

usage() { echo "usage: $0 start DIR [CLUSTER_NAME] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
NAME=${3:-costmill}
ACCOUNTS=${SLURM_TEST_ACCOUNTS:-team-a team-b}
TIMEOUT=${SLURM_TEST_TIMEOUT:-60}
PIDS=$DIR/pids
# The order of start; stop goes backwards.
DAEMONS="munged mariadbd slurmdbd slurmctld slurmd slurmrestd"

log() { echo "cluster.sh: $*" >&2; }

# A TCP port nothing listens on, not handed out before in this run.
taken=" "
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        case $taken in *" $port "*) continue ;; esac
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { taken="$taken$port "; echo "$port"; return; }
    done
}

# run NAME CMD...: start a daemon in its own session, logs in DIR/log, PID in DIR/pids.
run() {
    local name=$1; shift
    setsid "$@" >"$DIR/log/$name.out" 2>&1 </dev/null &
    echo $! >"$PIDS/$name.pid"
}

# wait_for DAEMON CMD...: retry CMD until it succeeds; fail when DAEMON exits or after TIMEOUT s.
wait_for() {
    local name=$1 deadline=$((SECONDS + TIMEOUT)); shift
    until "$@" >/dev/null 2>&1; do
        if ! alive "$(cat "$PIDS/$name.pid")"; then log "$name exited"; return 1; fi
        if [ $SECONDS -ge $deadline ]; then log "timed out waiting for $name"; return 1; fi
        sleep 0.2
    done
}

# alive PID: a process that has not exited (a zombie has).
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

stop_one() {
    local name=$1 file=$PIDS/$1.pid pid deadline=$((SECONDS + 20))
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    # Only a process of this cluster (its command line or SLURM_CONF names DIR): never a reused PID.
    if alive "$pid" && cat "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null | tr '\0' '\n' | grep -qF "$DIR"; then
        kill -TERM "$pid" 2>/dev/null || true
        while alive "$pid"; do
            if [ $SECONDS -ge $deadline ]; then log "$name ignores SIGTERM: SIGKILL"; kill -KILL "$pid"; deadline=$((SECONDS + 60)); fi
            sleep 0.1
        done
    fi
    rm -f "$file"
}

# The processes of jobs of this cluster (slurmstepd and job steps carry SLURM_CONF=DIR/slurm.conf).
job_pids() {
    local p
    for p in /proc/[0-9]*; do
        grep -qzxF "SLURM_CONF=$DIR/slurm.conf" "$p/environ" 2>/dev/null || continue
        { grep -qz '^SLURM_JOB_ID=' "$p/environ" || grep -qz '^slurmstepd' "$p/cmdline"; } 2>/dev/null && echo "${p#/proc/}"
    done
}

stop() {
    local name jobs deadline
    if [ -f "$PIDS/slurmctld.pid" ] && alive "$(cat "$PIDS/slurmctld.pid")"; then # cancel the jobs first
        jobs=$(SLURM_CONF=$DIR/slurm.conf squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ') || true
        if [ -n "${jobs// /}" ]; then SLURM_CONF=$DIR/slurm.conf scancel $jobs 2>/dev/null || true; fi
        deadline=$((SECONDS + 10))
        while [ -n "$(job_pids)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    fi
    for name in $(echo $DAEMONS | tr ' ' '\n' | tac); do stop_one "$name"; done
    for name in $(job_pids); do kill -KILL "$name" 2>/dev/null || true; done
}

failed() {
    log "start failed; last log lines:"
    tail -n 5 "$DIR"/log/* >&2 2>/dev/null || true
    stop
    exit 1
}

start() {
    local d
    for d in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sinfo; do
        command -v "$d" >/dev/null || { log "$d not found: run scripts/setup.sh"; exit 1; }
    done
    [ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
    [ ${#DIR} -lt 80 ] || { log "$DIR: too long for the unix sockets in it (80 characters at most)"; exit 1; }
    stop # leftovers of an earlier start in DIR; it starts afresh
    rm -rf "$PIDS" "$DIR/log" "$DIR/spool" "$DIR/dev" "$DIR/mysql" "$DIR/munge.key"
    trap failed ERR
    mkdir -p "$PIDS" "$DIR/log" "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/dev" "$DIR/mysql"
    local sock=$DIR/munge.socket mysql_port dbd_port ctld_port d_port
    mysql_port=$(free_port); dbd_port=$(free_port); ctld_port=$(free_port); d_port=$(free_port)

    # munge: own key and socket.
    head -c 1024 /dev/urandom >"$DIR/munge.key"
    chmod 400 "$DIR/munge.key"
    run munged munged -F --force --key-file="$DIR/munge.key" --socket="$sock" \
        --pid-file="$DIR/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munged.seed"
    wait_for munged bash -c "munge -n -S '$sock' | unmunge -S '$sock'"

    # MariaDB: own datadir, free port, loopback only.
    mariadb-install-db --no-defaults --datadir="$DIR/mysql" --user=root \
        --skip-test-db --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1
    run mariadbd mariadbd --no-defaults --user=root --datadir="$DIR/mysql" --socket="$DIR/mysql.sock" \
        --port="$mysql_port" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$DIR/mysql.pid" \
        --log-error="$DIR/log/mariadb.log"
    wait_for mariadbd mariadb-admin --no-defaults -S "$DIR/mysql.sock" -u root ping
    mariadb --no-defaults -S "$DIR/mysql.sock" -u root -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

    # Fake GPUs: device files listed in gres.conf (without them the node goes INVAL).
    for i in 0 1; do mknod "$DIR/dev/nvidia$i" c 195 $i 2>/dev/null || touch "$DIR/dev/nvidia$i"; done
    echo "NodeName=localhost Name=gpu File=$DIR/dev/nvidia[0-1]" >"$DIR/gres.conf"

    (umask 077; cat >"$DIR/slurmdbd.conf" <<EOF
AuthInfo=socket=$sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$mysql_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    )
    cat >"$DIR/slurm.conf" <<EOF
ClusterName=$NAME
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
AuthInfo=socket=$sock
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
ReturnToService=2
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=128
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
AccountingStoragePass=$sock
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=8192 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=spot Nodes=localhost MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$DIR/slurm.conf

    run slurmdbd slurmdbd -D # reads slurmdbd.conf next to $SLURM_CONF
    wait_for slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster "$NAME" >/dev/null
    local first=${ACCOUNTS%% *}
    sacctmgr -i add account $(echo $ACCOUNTS | tr ' ' ',') Cluster="$NAME" >/dev/null
    sacctmgr -i add user root Account=$(echo $ACCOUNTS | tr ' ' ',') DefaultAccount="$first" Cluster="$NAME" >/dev/null

    run slurmctld slurmctld -D -i -f "$SLURM_CONF"
    wait_for slurmctld scontrol ping
    run slurmd slurmd -D -N localhost -f "$SLURM_CONF"
    wait_for slurmd bash -c '[ "$(sinfo -h -n localhost -p debug -o %t)" = idle ]'
    if [ "${SLURM_TEST_RESTD:-}" = 1 ]; then
        run slurmrestd env -u SLURM_JWT SLURMRESTD_SECURITY=disable_user_check slurmrestd -f "$SLURM_CONF" \
            -a rest_auth/local -s openapi/v0.0.38,openapi/dbv0.0.38 "unix:$DIR/slurmrestd.socket"
        wait_for slurmrestd test -S "$DIR/slurmrestd.socket"
    fi
    trap - ERR
    printf 'export SLURM_CONF=%s\nexport SLURM_TEST_CLUSTER=%s\n' "$SLURM_CONF" "$NAME" >"$DIR/env"
    cat "$DIR/env"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
