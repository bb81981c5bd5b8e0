#!/bin/bash
# A sharded report on a real Slurm: brings up a single-node cluster on this machine (munged,
# slurmctld and slurmd from Debian's packages, started directly as root with their files in a
# temporary directory: no systemd, no system configuration touched), submits a 4-task array
# with tools/slurm/submit.sh on the shipped model and a small dataset, waits for the merge
# job, and compares the merged report with the one-process report. Every daemon is stopped at
# the end, on failure too (trap).
# Needs root and the packages slurmctld slurmd slurm-client munge (tools/setup.sh). Without
# them it skips with a message, except under CI=true, where a skip is a failure.
set -u
MEMLENS="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
SUBMIT="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
COMPARE="$3"
SHARDS=4

skip() {
  if [ "${CI:-}" = "true" ]; then echo "FAIL (CI=true, no skipping): $1"; exit 1; fi
  echo "SKIP: $1"; exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root to start munged, slurmctld and slurmd"
for b in munged slurmctld slurmd sbatch squeue sacct scontrol; do
  command -v "$b" > /dev/null || skip "$b not installed (tools/setup.sh installs munge, slurmctld, slurmd, slurm-client)"
done

T="$(mktemp -d /tmp/memlens-slurm.XXXXXX)"
chmod 755 "$T"
pids=()
mounted_cgroup=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$p" 2> /dev/null
  done
  # Job steps slurmd started (the shards) belong to it; none should outlive the test.
  [ "$mounted_cgroup" = 1 ] && umount -R /sys/fs/cgroup 2> /dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $1"
  for f in "$T"/*.log; do echo "--- $f"; tail -n 30 "$f"; done
  exit 1
}

# munge: our own key and socket.
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 2> /dev/null
chmod 400 "$T/munge.key"
munged --force --key-file="$T/munge.key" --socket="$T/munge.sock" --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munged.seed" --foreground > "$T/munged.out.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$T/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge.sock" ] || fail "munged did not start"

HOST="$(hostname -s)"
CPUS="$(nproc)"
PORT=$((20000 + RANDOM % 20000))
mkdir -p "$T/state" "$T/spool" "$T/work"
cat > "$T/slurm.conf" << CONF
ClusterName=memlenstest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" > "$T/slurmctld.out.log" 2>&1 &
pids+=($!)
# slurmd 22.05 initializes its cgroup plugin even with task/none and fails without a cgroup
# file system ("No filesystem mounted on /sys/fs/cgroup"), as in a bare chroot such as the
# fresh-machine check's. Mount there, for the test, the hierarchies this process belongs to
# (/proc/self/cgroup: v1 controllers under a tmpfs, v2 as unified, or v2 alone), as the host
# has them (slurmd refuses a v2-only mount on a v1 host: "Hybrid mode is not supported").
mount_cgroups() {
  local id ctrls path
  if ! grep -q '^[1-9]' /proc/self/cgroup; then
    mount -t cgroup2 none /sys/fs/cgroup && mounted_cgroup=1
    return
  fi
  mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup && mounted_cgroup=1 || return
  while IFS=: read -r id ctrls path; do
    if [ "$id" = 0 ]; then
      mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified
    else
      local dir=${ctrls#name=} opt=$ctrls
      case "$ctrls" in name=*) opt="none,$ctrls" ;; esac
      mkdir -p "/sys/fs/cgroup/$dir" && mount -t cgroup -o "$opt" cgroup "/sys/fs/cgroup/$dir"
    fi
  done < /proc/self/cgroup
}
if ! mountpoint -q /sys/fs/cgroup 2> /dev/null; then
  mkdir -p /sys/fs/cgroup 2> /dev/null
  mount_cgroups 2> /dev/null
fi
slurmd -D -f "$SLURM_CONF" -N "$HOST" > "$T/slurmd.out.log" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 100); do
  kill -0 "${pids[2]}" 2> /dev/null || fail "slurmd exited at start"
  if sinfo -h -o %T 2> /dev/null | grep -qE '^idle'; then up=1; break; fi
  sleep 0.3
done
[ "$up" = 1 ] || fail "the node did not become idle: $(sinfo 2>&1)"
echo "slurm is up on $HOST (port $PORT)"

# The shipped model, a small dataset.
MODEL="$(dirname "$MEMLENS")/../../models/default"
[ -d "$MODEL" ] || MODEL="$(dirname "$MEMLENS")/models/default"
[ -d "$MODEL" ] || MODEL="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-memlens}/models/default"
head -n 8 "$MODEL/prompts.txt" > "$T/work/prompts.txt"
FLAGS=(--seq_len=24 --plugins=dla,cleanup_dla,erasure,adversarial,resid_norms)
out=$("$SUBMIT" --memlens="$MEMLENS" --model="$MODEL" --dataset="$T/work/prompts.txt" \
  --shards=$SHARDS --out="$T/work/merged.json" --format=json -- "${FLAGS[@]}" 2>&1) \
  || fail "submit.sh: $out"
echo "$out"
merge_job=$(echo "$out" | sed -n 's/.*merge: job \([0-9]*\).*/\1/p')
[ -n "$merge_job" ] || fail "no merge job id in: $out"

# The one-process reference while the cluster works.
"$MEMLENS" report --model="$MODEL" --dataset="$T/work/prompts.txt" "${FLAGS[@]}" --format=json \
  --out="$T/work/one.json" 2> "$T/one.log" || fail "one-process report"

for _ in $(seq 600); do
  [ -s "$T/work/merged.json" ] && ! squeue -h -j "$merge_job" 2> /dev/null | grep -q . && break
  sleep 0.5
done
for f in "$T"/work/memlens-shards/*.log; do cp "$f" "$T/$(basename "$f")" 2> /dev/null; done
[ -s "$T/work/merged.json" ] || fail "no merged report after 300 s: $(squeue 2>&1)"
n=$(ls "$T"/work/memlens-shards/shard-*-of-$SHARDS.state 2> /dev/null | wc -l)
[ "$n" = "$SHARDS" ] || fail "$n state files, expected $SHARDS"
python3 "$COMPARE" "$T/work/one.json" "$T/work/merged.json" || fail "merged report differs"
echo "PASS: a $SHARDS-task Slurm array and its merge give the one-process report"
