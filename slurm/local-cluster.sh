#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (munged + slurmctld + slurmd, no systemd):
#   bash slurm/local-cluster.sh start|stop|status
# `start` installs the Debian packages when missing (root), writes /etc/slurm/slurm.conf for this
# host, starts the daemons directly and waits until `sinfo` shows the node idle. `stop` kills only
# the daemons this script started, by the PIDs it recorded. Everything is bounded in time.
set -euo pipefail

STATE=${BILSTM_SLURM_STATE:-/var/spool/bilstm-slurm}  # state, logs and recorded PIDs
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)
PARTITION=debug

say() { echo "local-cluster: $*"; }
die() { echo "local-cluster: error: $*" >&2; exit 1; }

alive() {  # alive NAME: the daemon whose PID we recorded is running
  local pidfile="$STATE/$1.pid"
  [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

install_packages() {
  local missing=()
  for cmd in munged slurmctld slurmd sbatch; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) && return
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}; run as root to install them"
  say "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq
  timeout 600 apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munged already running"
    return
  fi
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  install -d -o munge -g munge -m 0755 /run/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$STATE/munged.pid"
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.2
  done
  die "munged did not answer within 10 s"
}

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  mkdir -p /etc/slurm
  cat >"$CONF" <<EOF
# Written by slurm/local-cluster.sh: a one-node cluster on $HOST for tests and local sweeps.
ClusterName=local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job may start again only after the credential lifetime: keep it short.
AuthInfo=cred_expire=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
JobRequeue=1
ReturnToService=2
KillWait=10
MinJobAge=300
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

wait_idle() {
  local state
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)
    case $state in
      idle|mixed|allocated) say "node $HOST is $state (partition $PARTITION)"; return ;;
      down*|drain*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 1
  done
  sinfo >&2 || true
  tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
  die "node $HOST not idle within 60 s (state: ${state:-none})"
}

start() {
  install_packages
  mkdir -p "$STATE/ctld" "$STATE/d"
  start_munge
  if alive slurmctld && alive slurmd; then
    say "already running"
    wait_idle
    return
  fi
  write_conf
  alive slurmctld || /usr/sbin/slurmctld -i
  alive slurmd || /usr/sbin/slurmd -N "$HOST"
  for _ in $(seq 50); do
    alive slurmctld && alive slurmd && break
    sleep 0.2
  done
  alive slurmctld || die "slurmctld did not start; see $STATE/slurmctld.log"
  alive slurmd || die "slurmd did not start; see $STATE/slurmd.log"
  wait_idle
}

stop_one() {  # stop_one NAME: TERM the recorded PID, KILL it after 15 s
  local pidfile="$STATE/$1.pid" pid
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    say "stopped $1 (pid $pid)"
  fi
  rm -f "$pidfile"
}

stop() {
  # Jobs still running would outlive slurmd (linuxproc tracks them by parentage only).
  if alive slurmctld; then
    timeout 10 scancel --full --signal=KILL --user=root 2>/dev/null || true
    timeout 10 scancel --user=root 2>/dev/null || true
  fi
  stop_one slurmd
  stop_one slurmctld
  stop_one munged  # only when this script started it
}

status() {
  for name in munged slurmctld slurmd; do
    if alive "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"
    else echo "$name: not started by this script"; fi
  done
  alive slurmctld || return 1
  timeout 10 sinfo
  timeout 10 squeue
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
