#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying the profile (docs/cluster.md). Needs root and Debian's
# slurmctld slurmd munge slurm-client. Usage: local_cluster.sh start DIR | stop DIR. `start` prints the line to
# export (SLURM_CONF=DIR/slurm.conf); no accounting daemon: the profile polls squeue (profiles/slurm/config.yaml).
set -euo pipefail
action=${1:?start or stop}
dir=$(mkdir -p "${2:?state folder}" && cd "$2" && pwd)
conf="$dir/slurm.conf"
if [[ $action == stop ]]; then
    for daemon in slurmd slurmctld; do
        [[ -f $dir/$daemon.pid ]] && kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true
    done
    [[ $(readlink /etc/slurm/slurm.conf) == "$conf" ]] && rm /etc/slurm/slurm.conf
    exit 0
fi
node=$(hostname -s)
cpus=$(nproc)
memory=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
mkdir -p "$dir/state" "$dir/spool"
cat >"$conf" <<CONF
ClusterName=local
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=$node CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# job steps (srun inside sbatch) look for the default path, whatever SLURM_CONF says: link it there unless the
# machine has a configuration of its own (a link is one of ours, maybe left by an earlier cluster)
if [[ -L /etc/slurm/slurm.conf || ! -e /etc/slurm/slurm.conf ]]; then
    mkdir -p /etc/slurm && ln -sfn "$conf" /etc/slurm/slurm.conf
fi
if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
fi
/usr/sbin/slurmctld -f "$conf"
/usr/sbin/slurmd -f "$conf"
for _ in $(seq 60); do
    if SLURM_CONF=$conf sinfo -h -o %T 2>/dev/null | grep -qx idle; then
        echo "export SLURM_CONF=$conf"
        exit 0
    fi
    sleep 1
done
echo "SLURM did not come up: see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
