#!/usr/bin/env bash
# slurm-local.sh - throwaway single-node Slurm 22.05 cluster on localhost, built from
# Debian 12 packages, with no systemd. Idempotent; run as root.
#
#   slurm-local.sh install  apt packages (no recommends: 8 packages, ~6 s)
#   slurm-local.sh config   write /etc/slurm/slurm.conf (node = localhost, from `slurmd -C`)
#   slurm-local.sh start    munged (unless one already answers), slurmctld, slurmd; wait for node idle
#   slurm-local.sh smoke    4-task job array, wait, check every task's output
#   slurm-local.sh stop     cancel all jobs, stop the daemons this script started (by PID)
#   slurm-local.sh all      install config start smoke, and stop on exit
#
# SLURM_LOCAL_AUTH=none skips munge (auth/none + cred/none); `start` also falls back
# to it by itself when munged cannot be started.
set -euo pipefail

RUN=/run/slurm-local          # pid files of the daemons we started (+ munged marker)
SPOOL=/var/spool/slurm-local  # ctld/ = StateSaveLocation, d/ = SlurmdSpoolDir
LOG=/var/log/slurm-local      # slurmctld.log, slurmd.log, jobcomp.log
CONF=/etc/slurm/slurm.conf

log() { printf '[slurm-local %s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# alive PID NAME: PID is a live, non-zombie process whose comm is NAME.
# (PID 1 here reaps orphans only every few seconds, so a killed daemon lingers as a
# zombie and `kill -0` alone would still say it is there.)
alive() {
  local pid=${1:-} name=$2 st
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/stat" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$st" ] && [ "$st" != Z ]
}
pid_of() { if [ -s "$1" ]; then cat "$1"; fi; }

# retry SECONDS CMD...: run CMD every 0.2 s until it succeeds or SECONDS pass
retry() {
  local t=$1 end; shift
  end=$(awk -v n="$(now)" -v t="$t" 'BEGIN { printf "%.3f", n + t }')
  until "$@" >/dev/null 2>&1; do
    awk -v n="$(now)" -v e="$end" 'BEGIN { exit !(n >= e) }' && return 1
    sleep 0.2
  done
}

do_install() {
  if command -v slurmctld && command -v slurmd && command -v sbatch && command -v munged; then
    log "packages already installed"; return 0
  fi >/dev/null
  local t0; t0=$(now)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  log "installed slurmctld slurmd slurm-client munge in $(since "$t0") s"
}

do_config() {
  local auth=${1:-${SLURM_LOCAL_AUTH:-munge}} hw cpus mem tmp
  # `slurmd -C`: NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
  hw=$(slurmd -C | head -n1)
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
  mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  hw=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//' <<<"$hw")
  [ -n "$cpus" ] && [ -n "$mem" ] || { log "cannot parse 'slurmd -C'"; return 1; }
  mkdir -p "$(dirname "$CONF")"
  tmp=$(mktemp "$CONF.XXXXXX")
  cat >"$tmp" <<EOF
# Written by slurm-local.sh: one node (localhost), no cgroups, no accounting daemon.
ClusterName=local
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/$auth
CredType=cred/$auth
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd, so no sacct: final states are kept by slurmctld for MinJobAge
# seconds (squeue -t all / scontrol show job) and forever in the jobcomp log.
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.log
MinJobAge=3600
SchedulerType=sched/backfill
# default 3 s; with 0 the next wave of array tasks starts ~1 s after the last one ends
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
# cores only: memory is not a consumable, so jobs without --mem don't take the whole node
SelectTypeParameters=CR_Core
# a DOWN node comes back as soon as its slurmd registers again
ReturnToService=2
# a dead slurmd is noticed after ~25 s instead of ~5 min
SlurmdTimeout=10
KillWait=5
MailProg=/bin/true
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 $hw RealMemory=$(( mem * 95 / 100 )) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 0644 "$tmp"
  if cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"; log "$CONF unchanged (auth/$auth, CPUs=$cpus)"
  else
    mv -f "$tmp" "$CONF"; log "wrote $CONF (auth/$auth, CPUs=$cpus)"
    if alive "$(pid_of "$RUN/slurmctld.pid")" slurmctld; then
      log "slurmctld is running: restart it (stop; start) to apply the new config"
    fi
  fi
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then log "munged already answering; leaving it alone"; return 0; fi
  command -v munged >/dev/null || return 1
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 0700 /etc/munge; chmod 0600 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge /var/log/munge /var/lib/munge
  # forks, and returns once the daemon is ready; --force clears a stale socket
  runuser -u munge -- /usr/sbin/munged --force || return 1
  retry 5 munge_ok || return 1
  cp /run/munge/munged.pid "$RUN/munged.pid"     # marks "munged was started by us"
  log "munged started (pid $(cat "$RUN/munged.pid"))"
}

ctld_up() { scontrol ping | grep -q 'is UP'; }
node_idle() { [ "$(sinfo -h -n localhost -o %T)" = idle ]; }

do_start() {
  local t0 auth; t0=$(now)
  mkdir -p "$RUN" "$SPOOL" "$LOG"
  chown slurm:slurm "$LOG"
  [ -f "$CONF" ] && grep -q '^NodeName=localhost' "$CONF" || do_config
  auth=$(sed -n 's#^AuthType=auth/##p' "$CONF")
  if [ "$auth" = munge ] && ! start_munge; then
    log "munged cannot run here: switching to auth/none"
    do_config none
  fi
  if alive "$(pid_of "$RUN/slurmctld.pid")" slurmctld; then
    log "slurmctld already running (pid $(cat "$RUN/slurmctld.pid"))"
  else
    rm -rf "$SPOOL/ctld"; install -d -o slurm -g slurm -m 0755 "$SPOOL/ctld"  # fresh state
    rm -f "$RUN/slurmctld.pid"
    /usr/sbin/slurmctld                    # daemonizes; drops to SlurmUser=slurm
    retry 30 ctld_up || { log "slurmctld did not come up; see $LOG/slurmctld.log"; return 1; }
    log "slurmctld started (pid $(pid_of "$RUN/slurmctld.pid"))"
  fi
  if alive "$(pid_of "$RUN/slurmd.pid")" slurmd; then
    log "slurmd already running (pid $(cat "$RUN/slurmd.pid"))"
  else
    rm -rf "$SPOOL/d"; install -d -m 0755 "$SPOOL/d"
    rm -f "$RUN/slurmd.pid"
    # -N: this slurmd is node "localhost" whatever `hostname` says
    /usr/sbin/slurmd -N localhost
    retry 10 test -s "$RUN/slurmd.pid" || true
    log "slurmd started (pid $(pid_of "$RUN/slurmd.pid"))"
  fi
  retry 30 node_idle || { log "node not idle: $(sinfo -h -N -o '%T %E')"; return 1; }
  log "cluster up in $(since "$t0") s"
}

# slurm_wait JOBID [TIMEOUT]: wait until no task of JOBID is in a non-final state
slurm_wait() {
  local jid=$1 to=${2:-600} t0=$SECONDS s
  while :; do
    if s=$(squeue -h -t all -j "$jid" -o %T 2>/dev/null); then
      [ -n "$s" ] || { log "job $jid unknown to slurmctld"; return 2; }
      grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)$' <<<"$s" || return 0
    fi
    (( SECONDS - t0 < to )) || { log "timeout waiting for job $jid"; return 124; }
    sleep 0.2
  done
}

do_smoke() {
  local dir jid t0 i bad=0
  dir=$(mktemp -d /tmp/slurm-smoke.XXXXXX)
  t0=$(now)
  # single quotes: $SLURM_ARRAY_TASK_ID is expanded inside the job
  jid=$(sbatch --parsable --array=0-3 --chdir="$dir" -o "$dir/slurm-%A_%a.out" \
          --wrap 'echo $SLURM_ARRAY_TASK_ID > out_$SLURM_ARRAY_TASK_ID')
  slurm_wait "$jid" 120
  log "job array $jid (4 tasks) finished in $(since "$t0") s"
  squeue -h -t all -j "$jid" -o '%i %T %r' | sort >&2
  for i in 0 1 2 3; do
    [ "$(cat "$dir/out_$i" 2>/dev/null)" = "$i" ] || { log "task $i: missing/wrong output"; bad=1; }
  done
  if [ -n "$(squeue -h -t all -j "$jid" -o %T | grep -vx COMPLETED)" ]; then bad=1; fi
  [ $bad = 0 ] && log "smoke test OK ($dir)" || { log "smoke test FAILED ($dir)"; return 1; }
}

# stop_daemon NAME PIDFILE: SIGTERM the PID in PIDFILE (only if it is NAME), wait, SIGKILL
stop_daemon() {
  local name=$1 pf=$2 pid i
  pid=$(pid_of "$pf")
  if alive "$pid" "$name"; then
    kill -TERM "$pid"
    for i in $(seq 100); do alive "$pid" "$name" || break; sleep 0.1; done
    if alive "$pid" "$name"; then log "$name ($pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid"; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pf"
}

do_stop() {
  local ctld
  ctld=$(pid_of "$RUN/slurmctld.pid")
  if alive "$ctld" slurmctld && ctld_up; then
    # cancel every job first, so slurmd can kill its slurmstepd's (KillWait=5)
    if [ -n "$(squeue -h -o %A)" ]; then
      scancel --user=root --quiet || true
      retry 20 bash -c '[ -z "$(squeue -h -t R,CG,S,ST -o %A)" ]' \
        || log "jobs still running: $(squeue -h -o '%i %T')"
    fi
  fi
  stop_daemon slurmd "$RUN/slurmd.pid"
  stop_daemon slurmctld "$RUN/slurmctld.pid"   # its child slurmscriptd exits with it
  stop_daemon munged "$RUN/munged.pid"         # only if we started it
}

case "${1:-}" in
  install) do_install ;;
  config)  do_config "${2:-}" ;;
  start)   do_start ;;
  smoke)   do_smoke ;;
  stop)    do_stop ;;
  wait)    slurm_wait "$2" "${3:-600}" ;;
  all)     trap do_stop EXIT; do_install; do_config; do_start; do_smoke ;;
  *) echo "usage: $0 install|config [munge|none]|start|smoke|stop|wait JOBID [TIMEOUT]|all" >&2; exit 2 ;;
esac
