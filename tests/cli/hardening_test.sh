#!/bin/bash
# The hostile-user reproducers of issue 13, each against the memlens binary: a path of the wrong
# kind (devices, FIFOs, directories, symlink loops, sparse files), outputs, signals, flags and
# plugins. Every check asserts the clear error, the exit code, a time bound (each command runs
# under `timeout`: a hang fails the check instead of the test) and that nothing is left behind.
set -u
MEMLENS="$(realpath "$1")"
PLUGINS_DIR="$(dirname "$(realpath "$2")")"  # where the hostile test plugins were built
FIXTURES="$(realpath tests/fixtures)"
TMP="$(mktemp -d "${TEST_TMPDIR:-/tmp}/hardening.XXXXXX")"
source tests/expect.sh  # pass, fail, expect, finish
LIMIT=10  # seconds: every command here finishes in well under 1 s when it does not hang

# check NAME WANT_RC NEEDLE -- command...: exit code exactly WANT_RC, output contains NEEDLE.
check() {
  local name="$1" want="$2" needle="$3"
  shift 4
  local out rc
  out=$(timeout -s KILL "$LIMIT" "$@" 2>&1 < /dev/null)
  rc=$?
  if [ $rc -eq 137 ] && [ "$want" != 137 ]; then fail "$name: killed after ${LIMIT}s (hang)"; return; fi
  if [ $rc -ne "$want" ]; then fail "$name: exit $rc (wanted $want): $out"; return; fi
  case "$out" in
    *"$needle"*) pass "$name" ;;
    *) fail "$name: output lacks '$needle': $out" ;;
  esac
}

# A copy of the fixture model (config.json + weights) to plant files beside.
model_dir() {
  local d="$TMP/$1"
  mkdir -p "$d"
  cp "$FIXTURES/tl_safetensors/config.json" "$FIXTURES/tl_safetensors/model.safetensors" "$d/"
  echo "$d"
}
M="$FIXTURES/tl_safetensors"
mkfifo "$TMP/fifo"
# A character device of our own when allowed (root outside a sandbox), else the system's.
if mknod "$TMP/zero" c 1 5 2> /dev/null; then
  DEV="$TMP/zero"
else
  DEV=/dev/zero
  echo "note: mknod refused (no CAP_MKNOD); using /dev/zero"
fi

# --- tokenizers ---
check "--tokenizer=/dev/zero is refused, not read until memory runs out" 2 "character device" -- \
  "$MEMLENS" run --model="$M" --tokens=1,2 --tokenizer="$DEV"
check "--tokenizer=/dev/urandom is refused" 2 "/dev/urandom: is a character device" -- \
  "$MEMLENS" run --model="$M" --tokens=1,2 --tokenizer=/dev/urandom
check "a FIFO as --tokenizer is refused without blocking" 2 "FIFO" -- \
  "$MEMLENS" run --model="$M" --tokens=1,2 --tokenizer="$TMP/fifo"
d=$(model_dir fifo_tok); mkfifo "$d/tokenizer.json"
check "a FIFO named tokenizer.json beside the model is refused without blocking" 2 \
  "$d/tokenizer.json: is a FIFO" -- "$MEMLENS" info --model="$d"
d=$(model_dir fifo_tc); mkfifo "$d/tokenizer_config.json"
check "a FIFO named tokenizer_config.json is refused without blocking" 2 \
  "$d/tokenizer_config.json: is a FIFO" -- "$MEMLENS" info --model="$d"
d=$(model_dir dir_tc); mkdir "$d/tokenizer_config.json"
check "tokenizer_config.json that is a directory is an error, not an abort" 2 \
  "$d/tokenizer_config.json: is a directory" -- "$MEMLENS" info --model="$d"
d=$(model_dir zero_tok); ln -s "$DEV" "$d/tok512.bin"
check "a tok512.bin symlink to a device beside a model is refused" 2 "character device" -- \
  "$MEMLENS" info --model="$d"

# --- datasets ---
check "--dataset=/dev/urandom is refused" 2 "/dev/urandom: is a character device" -- \
  "$MEMLENS" report --model="$M" --dataset=/dev/urandom --plugins=dla
check "--dataset=/dev/zero is refused (not 'has no prompts' after 1 GB)" 2 "character device" -- \
  "$MEMLENS" report --model="$M" --dataset=/dev/zero --plugins=dla
check "a FIFO as --dataset is refused without blocking" 2 "FIFO" -- \
  "$MEMLENS" report --model="$M" --dataset="$TMP/fifo" --plugins=dla
truncate -s 30G "$TMP/zeros.txt"
check "a sparse 30 GB dataset without newlines is refused at the line limit" 2 \
  "$TMP/zeros.txt:1: a line longer than" -- \
  "$MEMLENS" report --model="$M" --dataset="$TMP/zeros.txt" --plugins=dla
rm -f "$TMP/zeros.txt"
# (the shipped default model, n_ctx 256, has a tokenizer: no --model)
python3 -c "print('short prompt here'); print(' '.join(['word'] * 600))" > "$TMP/long_prompt.txt"
check "a dataset prompt longer than the context is an error, as for --prompt" 2 \
  "$TMP/long_prompt.txt:2 (prompt 2): 6" -- \
  "$MEMLENS" report --dataset="$TMP/long_prompt.txt" --plugins=dla
check "... naming the context and --truncate" 2 "the model's context is 256 (n_ctx); shorten it, pass --truncate" -- \
  "$MEMLENS" report --dataset="$TMP/long_prompt.txt" --plugins=dla
check "... and with --truncate it runs" 0 "memlens-report" -- \
  "$MEMLENS" report --dataset="$TMP/long_prompt.txt" --plugins=dla --truncate --format=json

# --- model files ---
for kind in device loop directory; do
  d="$TMP/pth_$kind"
  mkdir -p "$d"
  cp "$M/config.json" "$d/"
  case $kind in
    device) ln -s "$DEV" "$d/model_final.pth"; want="character device" ;;
    loop) ln -s "$d/model_final.pth" "$d/model_final.pth"; want="symlink loop" ;;
    directory) mkdir "$d/model_final.pth"; want="is a directory" ;;
  esac
  check "model_final.pth that is a $kind is named as such" 2 "$d/model_final.pth" -- \
    "$MEMLENS" info --model="$d"
  check "model_final.pth that is a $kind: says '$want'" 2 "$want" -- "$MEMLENS" info --model="$d"
done
# A sparse llama2.c file with a valid header whose float32 weights are twice this machine's
# memory: refused from the header, quickly (the dims and size are computed here, independently).
python3 - "$TMP/huge.bin" <<'EOF'
import math, os, struct, sys
mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGESIZE")
dim, hidden, heads, kv, vocab, seq = 4096, 11008, 32, 32, 32000, 2048
hs = dim // heads
per_layer = 2 * dim + 4 * dim * dim + 3 * hidden * dim  # rms_att, rms_ffn, wq wk wv wo, w1 w2 w3
layers = min(1024, math.ceil(2 * mem / (4 * per_layer)) + 1)
floats = vocab * dim + layers * per_layer + dim + 2 * seq * (hs // 2)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq))
    f.truncate(28 + 4 * floats)
EOF
check "a sparse llama2.c file too large for memory is refused before loading" 1 \
  "more than this machine's" -- "$MEMLENS" run --model="$TMP/huge.bin" --tokens=1,2
check "info describes a model too large for memory without reading its weights" 0 \
  "more than this machine's" -- "$MEMLENS" info --model="$TMP/huge.bin"
rm -f "$TMP/huge.bin"

# --- flags ---
check "--threads=100000 is an error, not an abort" 2 "--threads=100000 is outside [0, 1024]" -- \
  "$MEMLENS" run --model="$M" --tokens=1,2 --threads=100000
check "--max_memory=-5 is an error, not the default" 2 "--max_memory=-5" -- \
  "$MEMLENS" run --model="$M" --tokens=1,2 --max_memory=-5
check "--max_memory=nan is an error, not the default" 2 "--max_memory=nan" -- \
  "$MEMLENS" run --model="$M" --tokens=1,2 --max_memory=nan
check "--max_prompts=-1 is an error" 2 "--max_prompts=-1" -- \
  "$MEMLENS" report --model="$M" --tokens=1,2,3 --plugins=dla --max_prompts=-1

# --- outputs ---
report=("$MEMLENS" report --model="$M" --tokens=1,2,3,4 --plugins=dla --format=json)
ln -s "$TMP/target.json" "$TMP/link.json"
echo keep > "$TMP/target.json"
check "--out that is a symlink is refused" 2 "is a symbolic link" -- "${report[@]}" --out="$TMP/link.json"
[ "$(cat "$TMP/target.json")" = keep ] && [ -L "$TMP/link.json" ] &&
  pass "the symlink and its target are untouched" || fail "--out replaced the symlink or its target"
check "--out that is a FIFO is refused (and does not block)" 2 "FIFO" -- "${report[@]}" --out="$TMP/fifo"
[ -p "$TMP/fifo" ] && pass "the FIFO is still a FIFO" || fail "--out replaced the FIFO"
check "--out that is a device is refused" 2 "character device" -- "${report[@]}" --out="$DEV"
[ -c "$DEV" ] && pass "the device node is untouched" || fail "--out replaced the device node"
check "--out=/dev/stdout is refused with a pointer to -" 2 "give - for standard output" -- \
  "${report[@]}" --out=/dev/stdout
check "--out=- writes the report to standard output" 0 '"format": "memlens-report"' -- "${report[@]}" --out=-
check "--out in a missing directory is refused before the run" 1 "$TMP/missing/r.json" -- \
  "${report[@]}" --out="$TMP/missing/r.json"
# cache: an existing memlens directory is replaced whole; other directories are not touched.
cache=("$MEMLENS" cache --model="$M" --tokens=1,2,3)
"${cache[@]}" --hooks='blocks.0.hook_resid_post' --out="$TMP/acts" > /dev/null 2>&1
"${cache[@]}" --hooks='blocks.1.hook_resid_post' --out="$TMP/acts" > /dev/null 2>&1
if [ -e "$TMP/acts/blocks.1.hook_resid_post.npy" ] && [ ! -e "$TMP/acts/blocks.0.hook_resid_post.npy" ]; then
  pass "cache into an existing activation directory replaces it whole (no mix of two runs)"
else
  fail "cache replace: $(ls "$TMP/acts")"
fi
mkdir -p "$TMP/mine"
echo precious > "$TMP/mine/notes.txt"
check "cache refuses to replace a directory that is not its own" 1 "not replaced" -- \
  "${cache[@]}" --out="$TMP/mine"
[ "$(cat "$TMP/mine/notes.txt")" = precious ] && pass "the user's directory is untouched" ||
  fail "cache touched the user's directory"
mkdir -p "$TMP/acts.memlens-tmp.999999999"  # what a SIGKILLed cache (a dead pid) leaves
"${cache[@]}" --out="$TMP/acts" > /dev/null 2>&1
[ ! -e "$TMP/acts.memlens-tmp.999999999" ] && pass "a dead process's temporary directory is removed" ||
  fail "stale temporary directory survived"

# --- signals: SIGTERM and SIGHUP as SIGINT: exit 128+n, nothing written, nothing left ---
python3 -c "
for i in range(300): print('one two three four five six seven', i)
" > "$TMP/words.txt"
for sig in TERM HUP INT; do
  out="$TMP/sig_$sig.json"
  "$MEMLENS" report --dataset="$TMP/words.txt" --plugins=cleanup_dla --out="$out" \
    > "$TMP/sig.log" 2>&1 &
  pid=$!
  # Signal once the run has started (the dataset is open), then give it LIMIT seconds to stop.
  for _ in $(seq 200); do
    ls -l /proc/$pid/fd 2> /dev/null | grep -q words.txt && break
    sleep 0.05
  done
  sleep 0.3
  kill -$sig $pid
  (sleep $LIMIT; kill -9 $pid 2> /dev/null) &
  watchdog=$!
  wait $pid
  rc=$?
  kill $watchdog 2> /dev/null
  want=$((128 + $(kill -l $sig)))
  left=$(ls "$TMP" | grep "sig_$sig" || true)
  if [ $rc -eq $want ] && grep -q interrupted "$TMP/sig.log" && [ -z "$left" ]; then
    pass "SIG$sig stops a report with exit $want and leaves nothing"
  else
    fail "SIG$sig: exit $rc (wanted $want), files: $left, log: $(cat "$TMP/sig.log")"
  fi
done

# --- plugins ---
PD="$TMP/plugins"
mkdir -p "$PD"
cp "$PLUGINS_DIR/libcrasher.so" "$PLUGINS_DIR/libexiter.so" "$PD/"
printf 'first prompt here\nsecond prompt here\n' > "$TMP/two.txt"
check "a plugin that segfaults is named (plugin, phase, prompt) before the process dies" 139 \
  "plugin 'crasher' ($PD/libcrasher.so) crashed with SIGSEGV (invalid memory access) in AnalyzePrompt (prompt 1)" -- \
  "$MEMLENS" report --dataset="$TMP/two.txt" --plugin_dir="$PD" --plugins=crasher,dla
check "a plugin calling exit(0) fails the run with a message" 70 \
  "plugin 'exiter' ($PD/libexiter.so) called exit() in AnalyzePrompt (prompt 0); the run failed" -- \
  "$MEMLENS" report --model="$M" --tokens=1,2,3 --plugin_dir="$PD" --plugins=exiter

CD="$TMP/collide"
mkdir -p "$CD"
cp "$PLUGINS_DIR/libflag_clash.so" "$CD/"
printf 'not an ELF file\n' > "$CD/libjunk.so"
check "info works with a colliding and a non-ELF .so on the plugin path" 0 "parameters" -- \
  env MEMLENS_PLUGIN_PATH="$CD" "$MEMLENS" info --model="$M"
check "plugins reports the colliding plugin by file and lists the rest" 0 \
  "$CD/libflag_clash.so: its flag --threads collides" -- \
  env MEMLENS_PLUGIN_PATH="$CD" "$MEMLENS" plugins
check "... and the rest still works" 0 "cleanup_dla" -- \
  env MEMLENS_PLUGIN_PATH="$CD" "$MEMLENS" plugins
check "report works beside them" 0 "memlens-report" -- \
  env MEMLENS_PLUGIN_PATH="$CD" "$MEMLENS" report --model="$M" --tokens=1,2,3 --plugins=dla --format=json

# A library whose constructor plants a marker: never run, whatever the path.
XD="$TMP/x"
mkdir -p "$XD/bin" "$XD/plugins"
cp "$PLUGINS_DIR/libctor_only.so" "$XD/plugins/libctor.so"
cp "$MEMLENS" "$XD/bin/memlens"
export MEMLENS_TEST_MARKER="$TMP/marker"
timeout $LIMIT "$XD/bin/memlens" plugins > /dev/null 2>&1
[ ! -e "$MEMLENS_TEST_MARKER" ] && pass "a copied binary does not load a planted ../plugins" ||
  fail "a planted library ran from a parent directory"
check "--plugin_dir with a library without the entry point runs none of its code" 0 "" -- \
  "$MEMLENS" plugins --plugin_dir="$XD/plugins"
[ ! -e "$MEMLENS_TEST_MARKER" ] && pass "... its constructor did not run" || fail "constructor ran"
check "--plugin_dir=/ runs nothing and finishes" 0 "dla" -- "$MEMLENS" plugins --plugin_dir=/
PC="$TMP/ctor_plugin"
mkdir -p "$PC"
cp "$PLUGINS_DIR/libctor_plugin.so" "$PC/"
for cmd in "info --model=$M" help "run --model=$M --tokens=1,2"; do
  rm -f "$MEMLENS_TEST_MARKER"
  MEMLENS_PLUGIN_PATH="$PC" timeout $LIMIT "$MEMLENS" $cmd > /dev/null 2>&1
  [ ! -e "$MEMLENS_TEST_MARKER" ] && pass "'memlens ${cmd%% *}' loads no plugin" ||
    fail "'memlens $cmd' loaded a plugin"
done
rm -f "$MEMLENS_TEST_MARKER"
MEMLENS_PLUGIN_PATH="$PC" timeout $LIMIT "$MEMLENS" plugins > /dev/null 2>&1
[ -e "$MEMLENS_TEST_MARKER" ] && pass "'memlens plugins' does load them (the marker check works)" ||
  fail "'memlens plugins' did not load the plugin on MEMLENS_PLUGIN_PATH"
unset MEMLENS_TEST_MARKER

# --- nothing left behind anywhere in the scratch directory ---
left=$(find "$TMP" -name '*memlens-tmp*' -o -name '*.tmp.*')
[ -z "$left" ] && pass "no temporary file or directory left behind" || fail "left behind: $left"

rm -rf "$TMP"
finish
