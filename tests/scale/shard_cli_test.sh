#!/bin/bash
# memlens report --shard / memlens merge end to end on the shipped model: 2 and 3 shards
# merge into the one-process report (tests/scale/compare_reports.py), and every way the files
# can fail to belong together is refused with the file named and a non-zero exit.
set -u
MEMLENS="$1"
COMPARE="$2"
TMP="${TEST_TMPDIR:-/tmp}/shard_cli_test.$$"
mkdir -p "$TMP"
source tests/expect.sh  # pass, fail, expect, finish

MODEL="$(dirname "$MEMLENS")/../../models/default"
[ -d "$MODEL" ] || MODEL="models/default"
head -n 7 "$MODEL/prompts.txt" > "$TMP/p.txt"
F=(--dataset="$TMP/p.txt" --seq_len=20)
"$MEMLENS" report "${F[@]}" --format=json --out="$TMP/one.json" 2> /dev/null || fail "one-process report"
for n in 2 3; do
  files=()
  for ((i = 0; i < n; i++)); do
    "$MEMLENS" report "${F[@]}" --shard=$i/$n --state_out="$TMP/s$i-$n.state" 2> /dev/null \
      || fail "shard $i/$n"
    files+=("$TMP/s$i-$n.state")
  done
  # Given out of order: the merge orders by shard index.
  rev=()
  for ((i = n - 1; i >= 0; i--)); do rev+=("${files[$i]}"); done
  if "$MEMLENS" merge "${rev[@]}" --format=json --out="$TMP/m$n.json" 2> "$TMP/merge$n.log" &&
     python3 "$COMPARE" "$TMP/one.json" "$TMP/m$n.json"; then
    pass "$n shards merge into the one-process report"
  else
    fail "$n shards: $(cat "$TMP/merge$n.log")"
  fi
done

# --preset=paper through shards: the preset's plugin flags and weight processing, the study's
# four prompts with their own target and contrast tokens (without --dataset), the caveat that
# a multi-token target is attributed by its first token, and the published numbers beside the
# computed ones all come through the state files: 2 shards of the preset's prompts, and 3 of a
# dataset, merge into the one-process report.
# paper_checks REPORT: every section ok, and the summary carries the published numbers.
paper_checks() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [s["plugin"] for s in r["sections"] if s["status"] != "ok"]
assert not bad, f"sections failed: {bad}"
assert r["metadata"]["settings"].get("--preset") == "paper", r["metadata"]["settings"]
kinds = [f["kind"] for f in r["summary"]["findings"] if "published" in f]
assert "paper_erasers" in kinds and "paper_survival" in kinds, kinds
PY
}
for case in "2 prompts" "3 dataset"; do
  n=${case%% *}
  P=(--preset=paper)
  [ "${case#* }" = dataset ] && P+=(--dataset="$TMP/p.txt" --seq_len=20)
  "$MEMLENS" report "${P[@]}" --format=json --out="$TMP/paper-one.json" 2> "$TMP/paper.log" \
    || fail "paper preset, one process: $(cat "$TMP/paper.log")"
  files=()
  for ((i = 0; i < n; i++)); do
    "$MEMLENS" report "${P[@]}" --shard=$i/$n --state_out="$TMP/paper$i-$n.state" 2> "$TMP/paper.log" \
      || fail "paper preset, shard $i/$n: $(cat "$TMP/paper.log")"
    files+=("$TMP/paper$i-$n.state")
  done
  if "$MEMLENS" merge "${files[@]}" --format=json --out="$TMP/paper-m$n.json" 2> "$TMP/paper.log" &&
     paper_checks "$TMP/paper-one.json" &&
     python3 "$COMPARE" "$TMP/paper-one.json" "$TMP/paper-m$n.json"; then
    pass "--preset=paper ($case): $n shards merge into the one-process report"
  else
    fail "--preset=paper ($case), $n shards: $(cat "$TMP/paper.log")"
  fi
done

# The refusals, on cheap shards (one plugin).
F=(--dataset="$TMP/p.txt" --seq_len=20 --plugins=dla,resid_norms)
for i in 0 1; do
  "$MEMLENS" report "${F[@]}" --shard=$i/2 --state_out="$TMP/c$i-2.state" 2> /dev/null || fail "cheap shard $i"
done
"$MEMLENS" report "${F[@]}" --shard=1/3 --state_out="$TMP/c1-3.state" 2> /dev/null || fail "cheap shard 1/3"
S0="$TMP/c0-2.state" S1="$TMP/c1-2.state"
expect "a missing shard" nonzero "missing shard(s) 1 of 2" -- "$MEMLENS" merge "$S0"
expect "a duplicate shard names both files" nonzero "c0-2.state and" -- "$MEMLENS" merge "$S0" "$S0"
expect "shards of different splits" nonzero "the number of shards differs" -- \
  "$MEMLENS" merge "$S0" "$TMP/c1-3.state"
"$MEMLENS" report "${F[@]}" --seed=7 --shard=1/2 --state_out="$TMP/seed.state" 2> /dev/null
expect "another seed" nonzero "seed.state does not belong with" -- "$MEMLENS" merge "$S0" "$TMP/seed.state"
"$MEMLENS" report "${F[@]}" --dla_bos=false --shard=1/2 --state_out="$TMP/flag.state" 2> /dev/null
expect "another plugin flag" nonzero "--dla_bos=false" -- "$MEMLENS" merge "$S0" "$TMP/flag.state"
head -n 5 "$MODEL/prompts.txt" > "$TMP/q.txt"
"$MEMLENS" report --dataset="$TMP/q.txt" --seq_len=20 --plugins=dla,resid_norms --shard=1/2 \
  --state_out="$TMP/data.state" 2> /dev/null
expect "another dataset" nonzero "data.state does not belong with" -- "$MEMLENS" merge "$S0" "$TMP/data.state"
"$MEMLENS" report "${F[@]}" --process_weights=no --shard=1/2 --state_out="$TMP/model.state" 2> /dev/null
expect "another model (weights as analysed)" nonzero "weights hash" -- "$MEMLENS" merge "$S0" "$TMP/model.state"
"$MEMLENS" report "${F[@]}" --plugins=dla --shard=1/2 --state_out="$TMP/plugins.state" 2> /dev/null
# (--plugins is a flag like any other: the settings differ before the plugin lists are compared)
expect "other plugins" nonzero "the settings or flags differ" -- "$MEMLENS" merge "$S0" "$TMP/plugins.state"

# What only the dataset hash (every prompt's tokens, targets and contrasts) tells apart: the same
# file name, flags, prompt and token counts, but other tokens in prompts outside the shard's
# own (two lines swapped between the shards' runs), or the same dataset through another
# tokenizer at the same --model path (ids 1..4095 reversed: same pieces, other ids).
mkdir -p "$TMP/h" "$TMP/m"
cp "$TMP/p.txt" "$TMP/h/p.txt"
H=(--dataset="$TMP/h/p.txt" --seq_len=20 --plugins=dla,resid_norms)
"$MEMLENS" report "${H[@]}" --shard=0/2 --state_out="$TMP/h0.state" 2> /dev/null || fail "hash shard 0"
{ sed -n 2p "$TMP/p.txt"; sed -n 1p "$TMP/p.txt"; sed -n '3,$p' "$TMP/p.txt"; } > "$TMP/h/p.txt"
"$MEMLENS" report "${H[@]}" --shard=1/2 --state_out="$TMP/h1.state" 2> /dev/null || fail "hash shard 1"
expect "another dataset of the same name and counts" nonzero \
  "h1.state does not belong with $TMP/h0.state: the dataset (prompts, tokens, hash) differs" -- \
  "$MEMLENS" merge "$TMP/h0.state" "$TMP/h1.state"
cp "$MODEL/config.json" "$MODEL/model.safetensors" "$MODEL/tokenizer.json" "$TMP/m/"
M=(--model="$TMP/m" "${F[@]}")
"$MEMLENS" report "${M[@]}" --shard=0/2 --state_out="$TMP/t0.state" 2> /dev/null || fail "tokenizer shard 0"
python3 - "$TMP/m/tokenizer.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
v = d["model"]["vocab"]
for piece, i in v.items():
    if i > 0:
        v[piece] = 4096 - i
json.dump(d, open(sys.argv[1], "w"))
PY
"$MEMLENS" report "${M[@]}" --shard=1/2 --state_out="$TMP/t1.state" 2> /dev/null || fail "tokenizer shard 1"
expect "another tokenizer at the same path" nonzero \
  "t1.state does not belong with $TMP/t0.state: the dataset (prompts, tokens, hash) differs" -- \
  "$MEMLENS" merge "$TMP/t0.state" "$TMP/t1.state"
# Targets: another --target is refused (its flag differs before the hash is compared); the
# same one merges. The hash covers the targets: a dataset's (hashed in the pass that counts
# its prompts) equals that of the same prompt given with --prompt (hashed in memory) with the
# same --target (and --contrast), and differs without one (or without the contrast).
for t in 5 6; do
  "$MEMLENS" report "${F[@]}" --target=#$t --shard=0/2 --state_out="$TMP/target$t-0.state" \
    2> /dev/null || fail "target $t shard 0"
done
"$MEMLENS" report "${F[@]}" --target=#5 --shard=1/2 --state_out="$TMP/target5-1.state" 2> /dev/null \
  || fail "target 5 shard 1"
expect "another --target" nonzero "target6-0.state does not belong with" -- \
  "$MEMLENS" merge "$TMP/target5-1.state" "$TMP/target6-0.state"
expect "the same --target merges" 0 "wrote" -- \
  "$MEMLENS" merge "$TMP/target5-0.state" "$TMP/target5-1.state" --out="$TMP/target5.txt"
tokens_hash() {
  python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read()
print(json.loads(b[20:20 + struct.unpack("<Q", b[12:20])[0]])["dataset"]["tokens_hash"])' "$1"
}
head -n 1 "$TMP/p.txt" > "$TMP/one.txt"
O=(--plugins=dla,resid_norms --shard=0/1)
"$MEMLENS" report "${O[@]}" --dataset="$TMP/one.txt" --target=#5 --state_out="$TMP/d5.state" 2> /dev/null
"$MEMLENS" report "${O[@]}" --prompt="$(cat "$TMP/one.txt")" --target=#5 --state_out="$TMP/p5.state" 2> /dev/null
"$MEMLENS" report "${O[@]}" --dataset="$TMP/one.txt" --state_out="$TMP/d.state" 2> /dev/null
"$MEMLENS" report "${O[@]}" --dataset="$TMP/one.txt" --target=#5 --contrast=#6 \
  --state_out="$TMP/d56.state" 2> /dev/null
"$MEMLENS" report "${O[@]}" --prompt="$(cat "$TMP/one.txt")" --target=#5 --contrast=#6 \
  --state_out="$TMP/p56.state" 2> /dev/null
d5=$(tokens_hash "$TMP/d5.state") p5=$(tokens_hash "$TMP/p5.state") d=$(tokens_hash "$TMP/d.state")
d56=$(tokens_hash "$TMP/d56.state") p56=$(tokens_hash "$TMP/p56.state")
if [ -n "$d5" ] && [ "$d5" = "$p5" ] && [ "$d5" != "$d" ] && [ -n "$d56" ] && [ "$d56" = "$p56" ] &&
   [ "$d56" != "$d5" ]; then
  pass "the dataset hash covers --target and --contrast, streamed as in memory"
else
  fail "dataset hashes: --dataset/--prompt --target=#5 $d5/$p5, --target=#5 --contrast=#6 $d56/$p56, --dataset $d"
fi

# The dataset is read once before the run (counted, checked and hashed as it opens), so what
# the runner would read every prompt for comes from that pass: the token count, and the longest
# prompt of the shard's range (per 1024 prompts, reading only a block the range cuts), which
# --max_memory is checked against. Each is compared with the same prompt given by --prompt (the
# runner's own count). Short prompts everywhere but a medium one at 1023 (the last of the first
# block) and a long one at 1500; at a tiny --max_memory the refusal names the longest's tokens.
tokens_of() {  # the tokens of a --prompt, as the runner counts them (from the refusal)
  "$MEMLENS" report --plugins=resid_norms --max_memory=0.00001 --prompt="$1" 2>&1 |
    sed -n 's/.*caching the requested hooks for \([0-9]*\) tokens.*/\1/p'
}
SHORT="the cat sat" MEDIUM="the cat sat on the mat and then the dog" LONG="$(printf 'word %.0s' {1..40})"
s=$(tokens_of "$SHORT") m=$(tokens_of "$MEDIUM") l=$(tokens_of "$LONG")
python3 - "$TMP/blocks.txt" "$SHORT" "$MEDIUM" "$LONG" <<'PY'
import sys
path, short, medium, long_ = sys.argv[1:]
lines = [short] * 2100
lines[1023], lines[1500] = medium, long_
open(path, "w").write("\n".join(lines) + "\n")
PY
if [ -n "$s" ] && [ "$s" -lt "$m" ] && [ "$m" -lt "$l" ]; then
  for case in "-:$l" "0/2:$m" "1/2:$l" "0/3:$s" "1/3:$m" "2/3:$l"; do
    shard=${case%%:*} want=${case#*:}
    args=(--dataset="$TMP/blocks.txt" --plugins=resid_norms --max_memory=0.00001)
    [ "$shard" != - ] && args+=(--shard="$shard" --state_out="$TMP/blocks.state")
    expect "the longest prompt of shard $shard ($want tokens)" nonzero \
      "caching the requested hooks for $want tokens" -- "$MEMLENS" report "${args[@]}"
  done
else
  fail "token counts of the short, medium and long prompts: '$s' '$m' '$l'"
fi
printf '%s\n' "$SHORT" "$MEDIUM" "$LONG" > "$TMP/three.txt"
"$MEMLENS" report --dataset="$TMP/three.txt" --plugins=resid_norms --format=json \
  --out="$TMP/three.json" 2> /dev/null
got=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["metadata"]["dataset"]["num_tokens"])' "$TMP/three.json")
[ "$got" = $((s + m + l)) ] && pass "the dataset's token count ($got)" \
  || fail "the dataset's token count: $got, the prompts' $s + $m + $l"

size=$(stat -c %s "$S1")
head -c $((size - 10)) "$S1" > "$TMP/cut.state"
expect "a truncated file" nonzero "cut.state: checksum mismatch" -- "$MEMLENS" merge "$S0" "$TMP/cut.state"
cp "$S1" "$TMP/flip.state"
printf '\x55' | dd of="$TMP/flip.state" bs=1 seek=$((size / 2)) conv=notrunc 2> /dev/null
expect "a corrupted byte" nonzero "flip.state: checksum mismatch" -- "$MEMLENS" merge "$S0" "$TMP/flip.state"
cp "$S1" "$TMP/v9.state"
printf '\x09' | dd of="$TMP/v9.state" bs=1 seek=8 conv=notrunc 2> /dev/null
expect "an unknown format version" nonzero "v9.state: state file format version 9" -- \
  "$MEMLENS" merge "$S0" "$TMP/v9.state"
expect "not a state file" nonzero "p.txt: not a memlens state file" -- "$MEMLENS" merge "$S0" "$TMP/p.txt"
expect "a file that does not exist" nonzero "nope.state: cannot open" -- "$MEMLENS" merge "$TMP/nope.state"
expect "merge without files" nonzero "give the state files" -- "$MEMLENS" merge
expect "merge refuses analysis flags" nonzero "--seed: a merge takes the analysis settings" -- \
  "$MEMLENS" merge "$S0" "$S1" --seed=3
expect "--shard needs --state_out" nonzero "--shard needs --state_out" -- \
  "$MEMLENS" report "${F[@]}" --shard=0/2
expect "--shard must be I/N" nonzero "expected I/N" -- \
  "$MEMLENS" report "${F[@]}" --shard=2/2 --state_out="$TMP/x.state"
[ ! -e "$TMP/x.state" ] && pass "a refused shard writes no file" || fail "a refused shard wrote a file"

rm -rf "$TMP"
finish
