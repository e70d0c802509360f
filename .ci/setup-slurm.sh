#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/test_slurm.py (the real slurmctld, not a mock).
#
# Installs Debian's slurm-wlm and munge, writes a minimal slurm.conf (one node "localhost" with this
# machine's cores and memory, no accounting, SlurmUser=root), starts munged, slurmctld and slurmd,
# and waits until sinfo shows the node idle. Idempotent: a second run finds the daemons up and the
# node idle and does nothing else. Needs root and apt (a CI container); exits non-zero on failure,
# so the caller decides whether that is fatal (.ci/run only warns: tests/test_slurm.py then skips).
#
# Overrides: XW_SLURM_CONF_DIR (default /etc/slurm), XW_SLURM_WAIT_S (default 60).
set -euo pipefail

CONF_DIR="${XW_SLURM_CONF_DIR:-/etc/slurm}"
WAIT_S="${XW_SLURM_WAIT_S:-60}"
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm

say() { echo "setup-slurm: $*" >&2; }

node_idle() {
    sinfo --noheader --nodes=localhost --format=%t 2>/dev/null | grep -Eq '^(idle|mix|alloc)'
}

if [ "$(id -u)" != 0 ]; then
    say "needs root (apt-get, daemons); skipping"
    exit 1
fi

if command -v sinfo >/dev/null && node_idle; then
    say "slurm already up: $(sinfo --noheader --format='%P %D %t' | head -1)"
    exit 0
fi

# ---- packages -----------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || say "apt-get update failed; trying the install with the current lists"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# ---- munge --------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
fi
MUNGE_USER=root
id munge >/dev/null 2>&1 && MUNGE_USER=munge
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown -R "$MUNGE_USER" /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 0700 /etc/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    pkill_pidfile() { [ -s "$1" ] && kill "$(cat "$1")" 2>/dev/null || true; }
    pkill_pidfile /run/munge/munged.pid
    if [ "$MUNGE_USER" = root ]; then
        munged --force
    else
        runuser -u munge -- munged
    fi
    for _ in $(seq 20); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
    munge -n </dev/null | unmunge >/dev/null || { say "munged does not answer"; exit 1; }
fi

# ---- slurm.conf ---------------------------------------------------------------------------------
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
CONF="$CONF_DIR/slurm.conf"
NEW_CONF="$(mktemp)"
cat >"$NEW_CONF" <<EOF
# Written by xw's .ci/setup-slurm.sh: one node on localhost for tests/test_slurm.py.
ClusterName=xw-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=3600
KillWait=5
InactiveLimit=0
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
CHANGED=0
if ! cmp -s "$NEW_CONF" "$CONF"; then
    say "writing $CONF (CPUs=$CPUS RealMemory=$MEM_MB)"
    install -m 0644 "$NEW_CONF" "$CONF"
    CHANGED=1
fi
rm -f "$NEW_CONF"

# ---- daemons ------------------------------------------------------------------------------------
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ "$CHANGED" = 1 ]; then  # a new configuration: restart whatever runs with the old one
    for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
        if alive "$pidfile"; then kill "$(cat "$pidfile")"; sleep 1; fi
    done
fi
if ! alive /run/slurmctld.pid; then
    say "starting slurmctld"
    slurmctld -f "$CONF"
fi
if ! alive /run/slurmd.pid; then
    say "starting slurmd"
    slurmd -f "$CONF" -N localhost
fi

for _ in $(seq "$WAIT_S"); do
    if node_idle; then
        say "slurm is up: $(sinfo --noheader --format='%P %D %t %c CPUs %m MB')"
        exit 0
    fi
    state="$(sinfo --noheader --nodes=localhost --format=%t 2>/dev/null || true)"
    case "$state" in
        down*|drain*|fail*) scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
say "the node did not become idle in ${WAIT_S} s; sinfo says:"
sinfo -N -l >&2 || true
say "last slurmctld log lines:"; tail -n 20 "$LOG_DIR/slurmctld.log" >&2 || true
say "last slurmd log lines:"; tail -n 20 "$LOG_DIR/slurmd.log" >&2 || true
exit 1
