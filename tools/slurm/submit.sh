#!/bin/bash
# Submits a sharded memlens report to Slurm: a job array of N shards and a merge job that
# runs when all of them succeeded. Prints the two job ids.
#
#   tools/slurm/submit.sh --model=DIR --dataset=FILE --shards=N --out=REPORT [--memlens=BIN]
#       [--state_dir=DIR] [--format=html] [--partition=P] [-- FLAG...]
#
# Everything after "--" goes to every shard (e.g. --seq_len=256 --erasure_writer=L0H2).
# State files go to --state_dir (default: REPORT's directory + /memlens-shards), which must be
# on a file system every node sees. See docs/scale.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
model="" dataset="" shards="" out="" memlens="" state_dir="" format="" partition=""
extra=()
while (($#)); do
  case "$1" in
    --model=*) model="${1#*=}" ;;
    --dataset=*) dataset="${1#*=}" ;;
    --shards=*) shards="${1#*=}" ;;
    --out=*) out="${1#*=}" ;;
    --memlens=*) memlens="${1#*=}" ;;
    --state_dir=*) state_dir="${1#*=}" ;;
    --format=*) format="${1#*=}" ;;
    --partition=*) partition="${1#*=}" ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "submit.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ -n "$model" && -n "$dataset" && -n "$out" ]] || { echo "submit.sh: --model, --dataset and --out are required" >&2; exit 2; }
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: --shards must be a positive number" >&2; exit 2; }
if [[ -z "$memlens" ]]; then memlens="$(command -v memlens || true)"; fi
[[ -x "$memlens" ]] || { echo "submit.sh: no memlens binary (give --memlens=PATH)" >&2; exit 2; }
abs() { (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"); }
memlens="$(abs "$memlens")" model="$(abs "$model")" dataset="$(abs "$dataset")" out="$(abs "$out")"
[[ -n "$state_dir" ]] || state_dir="$(dirname "$out")/memlens-shards"
mkdir -p "$state_dir"
state_dir="$(abs "$state_dir")"
for ((i = 0; i < shards; i++)); do rm -f "$state_dir/shard-$i-of-$shards.state"; done
flags="--model=$model --dataset=$dataset ${extra[*]:-}"
sb=(sbatch --parsable --chdir="$state_dir")
[[ -n "$partition" ]] && sb+=(--partition="$partition")
# Passed through the environment (--export=ALL): values may hold commas, which --export=VAR=...
# would split.
export MEMLENS="$memlens" OUT_DIR="$state_dir" MEMLENS_FLAGS="$flags" SHARDS="$shards" REPORT="$out"
array=$("${sb[@]}" --array="0-$((shards - 1))" --export=ALL "$HERE/shard.sbatch")
array="${array%%;*}"
merge_flags=""
[[ -n "$format" ]] && merge_flags="--format=$format"
export MERGE_FLAGS="$merge_flags"
merge=$("${sb[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=yes --export=ALL \
  "$HERE/merge.sbatch")
merge="${merge%%;*}"
echo "shards: job $array (array 0-$((shards - 1))), merge: job $merge -> $out"
