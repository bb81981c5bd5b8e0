#!/bin/bash
# End-to-end tests of the memlens command: outputs, formats, and clear errors with non-zero
# exit codes for bad input. Each check prints PASS/FAIL; the test fails if any check fails.
set -u
MEMLENS="$1"
FIXTURES="tests/fixtures"
SHARED="${MEMLENS_SHARED:-}"
TMP="${TEST_TMPDIR:-/tmp}/cli_test.$$"
mkdir -p "$TMP"
source tests/expect.sh  # pass, fail, expect, finish

# --- the shipped default model (no --model) ---
expect "info on the default model" 0 "tl-safetensors" -- "$MEMLENS" info
expect "hooks lists TransformerLens names" 0 "blocks.3.attn.hook_pattern" -- "$MEMLENS" hooks
expect "run on the default model" 0 "next token after the last position" -- \
  "$MEMLENS" run --prompt="The manual page describes" --generate=5

# --- formats ---
# run's top-10 against the golden fixture's float64 logits for the same prompt (read here with
# Python's json and struct, not memlens): the same ids in order, logits to 1e-4, and
# probabilities equal to the softmax over the whole vocabulary.
FIXTURE_TOKENS=0,18,3,42,18,1,36  # tests/fixtures/tl_safetensors/expected_0.safetensors
"$MEMLENS" run --model="$FIXTURES/tl_safetensors" --tokens=$FIXTURE_TOKENS --format=json > "$TMP/run.json" 2>&1 \
  && python3 -c "
import json, math, struct
d = json.load(open('$TMP/run.json'))
assert d['input_ids'] == [$FIXTURE_TOKENS], d['input_ids']
assert 'generated_ids' in d and 'text' in d
raw = open('$FIXTURES/tl_safetensors/expected_0.safetensors', 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
head = json.loads(raw[8:8 + n])
T, V = head['logits']['shape']
a, b = head['logits']['data_offsets']
logits = struct.unpack('<%df' % (T * V), raw[8 + n + a:8 + n + b])[(T - 1) * V:]
order = sorted(range(V), key=lambda v: -logits[v])[:10]
z = sum(math.exp(x - max(logits)) for x in logits)
assert [t['id'] for t in d['top']] == order, ([t['id'] for t in d['top']], order)
for t in d['top']:
    assert abs(t['logit'] - logits[t['id']]) < 1e-4, (t, logits[t['id']])
    want = math.exp(logits[t['id']] - max(logits)) / z
    assert abs(t['prob'] - want) < 1e-5 * (1 + want), (t, want)
" && pass "run --format=json: top-10 ids, logits and probabilities match the golden fixture" || fail "run --format=json: $(cat "$TMP/run.json")"

"$MEMLENS" cache --model="$FIXTURES/tl_safetensors" --tokens=0,5,7 --hooks='blocks.*.hook_resid_post,blocks.0.attn.hook_pattern' \
  --out="$TMP/acts" > /dev/null 2>&1 && python3 -c "
import json
idx = json.load(open('$TMP/acts/index.json'))
names = sorted(t['name'] for t in idx['tensors'])
assert names == ['blocks.0.attn.hook_pattern', 'blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'logits'], names
shapes = {t['name']: t['shape'] for t in idx['tensors']}
assert shapes['blocks.0.attn.hook_pattern'] == [4, 3, 3], shapes
" && pass "cache writes exactly the filtered hooks with index.json" || fail "cache"

"$MEMLENS" report --model="$FIXTURES/tl_safetensors" --tokens=0,5,7,9,11,3 --plugins=dla --format=json \
  --out="$TMP/report.json" > /dev/null 2>&1 && python3 -c "
import json
r = json.load(open('$TMP/report.json'))
assert r['format'] == 'memlens-report' and r['metadata']['processing'], r['metadata']
assert [s['plugin'] for s in r['sections']] == ['dla'] and r['sections'][0]['status'] == 'ok'
" && pass "report --format=json --out parses with metadata and the dla section" || fail "report json"

# --- bad input: clear error, non-zero exit ---
# A TransformerLens GPT-NeoX (Pythia) checkpoint: info names its quirks; processed as TL does.
expect "info names a TL Pythia checkpoint's quirks" 0 \
  "tl: parallel residual (parallel_attn_mlp), rotary on 4 of 8 dims per head (rotate_half)" -- \
  "$MEMLENS" info --model="$FIXTURES/tl_pythia"
expect "info --process_weights=yes on a TL Pythia checkpoint" 0 \
  "fold_ln+center_writing+center_unembed+fold_value_biases" -- \
  "$MEMLENS" info --model="$FIXTURES/tl_pythia" --process_weights=yes
"$MEMLENS" report --model="$FIXTURES/tl_gptj" --tokens=0,5,7,9,11,3,8,2,14,30 \
  --plugins=dla,cleanup_dla,erasure,adversarial --format=json --out="$TMP/gptj.json" > /dev/null 2>&1 \
  && python3 -c "
import json
r = json.load(open('$TMP/gptj.json'))
got = [(s['plugin'], s['status']) for s in r['sections']]
assert got == [(p, 'ok') for p in ('dla', 'cleanup_dla', 'erasure', 'adversarial')], got
" && pass "every plugin runs on a TL GPT-J checkpoint (parallel blocks, adjacent partial rotary, GQA)" \
  || fail "report on tl_gptj: $(cat "$TMP/gptj.json" 2>&1 | head -c 2000)"
expect "missing model file" nonzero "/nonexistent/model.bin" -- "$MEMLENS" info --model=/nonexistent/model.bin

# info and hooks read no weight (names and shapes only): a NaN planted in the fixture's W_E
# goes unseen by info, which says so, while run refuses the model naming the tensor. A tensor
# of the wrong shape is still an error for info.
mkdir -p "$TMP/nan_model" "$TMP/bad_shape"
cp "$FIXTURES/tl_safetensors/config.json" "$TMP/nan_model/"
cp "$FIXTURES/tl_safetensors/config.json" "$TMP/bad_shape/"
python3 - "$FIXTURES/tl_safetensors/model.safetensors" "$TMP/nan_model/model.safetensors" \
    "$TMP/bad_shape/model.safetensors" <<'EOF'
import json, struct, sys
raw = bytearray(open(sys.argv[1], 'rb').read())
n = struct.unpack('<Q', raw[:8])[0]
head = json.loads(raw[8:8 + n])
start = 8 + n + head['embed.W_E']['data_offsets'][0]
nan = bytearray(raw)
nan[start + 8:start + 12] = struct.pack('<f', float('nan'))  # W_E flat index 2
open(sys.argv[2], 'wb').write(nan)
# The same bytes under another shape of the same size: [d_vocab, d_model] -> [d_model, d_vocab].
head['embed.W_E']['shape'] = head['embed.W_E']['shape'][::-1]
text = json.dumps(head).encode()
text += b' ' * (-len(text) % 8)
open(sys.argv[3], 'wb').write(struct.pack('<Q', len(text)) + text + raw[8 + n:])
EOF
expect "info reads no weight value (a planted NaN is not seen, and info says so)" 0 \
  "values not read" -- "$MEMLENS" info --model="$TMP/nan_model"
expect "run refuses the planted NaN, naming the tensor" nonzero "embed.W_E holds a non-finite value" -- \
  "$MEMLENS" run --model="$TMP/nan_model" --tokens=1,2
expect "info --process_weights=yes reads and checks the values" nonzero "embed.W_E holds a non-finite" -- \
  "$MEMLENS" info --model="$TMP/nan_model" --process_weights=yes
expect "info still checks every tensor's shape" nonzero "tensor embed.W_E has shape" -- \
  "$MEMLENS" info --model="$TMP/bad_shape"
expect "unknown flag" nonzero "bogus_flag" -- "$MEMLENS" run --bogus_flag=1
expect "unknown command" nonzero "unknown command" -- "$MEMLENS" frobnicate
expect "token id out of range" nonzero "outside the vocabulary" -- \
  "$MEMLENS" run --model="$FIXTURES/tl_safetensors" --tokens=0,50
expect "prompt longer than the context" nonzero "--truncate" -- \
  "$MEMLENS" run --model="$FIXTURES/tl_safetensors" --tokens=$(python3 -c "print(','.join(['1']*17))")
expect "--truncate keeps the last n_ctx tokens" 0 "truncated" -- \
  "$MEMLENS" run --model="$FIXTURES/tl_safetensors" --truncate --tokens=$(python3 -c "print(','.join(['1']*17))")
expect "empty prompt" nonzero "give a --prompt=TEXT or --tokens=IDS" -- "$MEMLENS" run --prompt=""
expect "invalid UTF-8 in a prompt is tokenized as bytes" 0 "next token" -- \
  "$MEMLENS" run --prompt="$(printf 'caf\xe9 \xff\xfe bytes')"
expect "unknown hook pattern" nonzero "blocks.*.hook_nonsense" -- \
  "$MEMLENS" cache --model="$FIXTURES/tl_safetensors" --tokens=0,1 --hooks='blocks.*.hook_nonsense' --out="$TMP/x"
expect "memory guard names the largest hooks" nonzero "largest: blocks.*.hook_v_input" -- \
  "$MEMLENS" cache --model="$FIXTURES/tl_safetensors" --tokens=0,1,2 --hooks='*' --max_memory=0.00001 --out="$TMP/y"
head -c 1000 "$FIXTURES/llama/model.bin" > "$TMP/truncated.bin"
expect "truncated llama2.c file" nonzero "truncated" -- "$MEMLENS" info --model="$TMP/truncated.bin"
expect "unknown plugin" nonzero "no_such_plugin" -- \
  "$MEMLENS" report --model="$FIXTURES/tl_safetensors" --tokens=0,1,2 --plugins=no_such_plugin
expect "bad report format" nonzero "xml" -- \
  "$MEMLENS" report --model="$FIXTURES/tl_safetensors" --tokens=0,1,2 --plugins=dla --format=xml
# The paper preset on any model: a target of several tokens is attributed by its first token,
# and the summary says so; the published gelu-4l numbers stand beside the computed ones.
"$MEMLENS" report --preset=paper --plugins=erasure,cleanup_dla --erasure_causal=false \
  --erasure_bos_split=false --cleanup_nodes=L0H2,M1 --format=json --out="$TMP/paper_any.json" > "$TMP/paper_any.log" 2>&1 \
  && python3 - "$TMP/paper_any.json" <<'PY' \
  && pass "--preset=paper runs on the shipped model, first tokens of multi-token targets" \
  || fail "--preset=paper on the shipped model: $(cat "$TMP/paper_any.log")"
import json, sys
r = json.load(open(sys.argv[1]))
caveats = r["summary"]["caveats"]
assert any('" bottom" is 4 tokens' in c and "its first is attributed" in c for c in caveats), caveats
kinds = {f["kind"]: f for f in r["summary"]["findings"]}
assert kinds["paper_erasers"]["published"]["L2H5"] == -0.26, kinds["paper_erasers"]
assert set(kinds["paper_erasers"]["values"]) == set(kinds["paper_erasers"]["published"])
assert kinds["writeback"]["published"]["slope"] == -0.72, kinds["writeback"]
assert kinds["writeback"]["values"]["writer"] == "L0H2"
PY
expect "bad preset" nonzero "--preset must be" -- "$MEMLENS" report --preset=nonsense
# The paper preset end to end, on the shipped model's weights with a tokenizer in which the
# paper's target and contrast tokens are single tokens (the numbers mean nothing: this is the
# pipeline a gelu-4l folder goes through).
python3 - models/default/tokenizer.json "$TMP/paper_tokenizer.json" <<'PY'
import json, sys
tok = json.load(open(sys.argv[1]))
byte_tokens = [t for t, i in sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
               if not t.startswith("<|")][:256]
vocab = {"<|endoftext|>": 0}
for t in byte_tokens:
    vocab[t] = len(vocab)
merges = []
for word in ["Ġbottom", "Ġtop", "ĠState", "ĠUniversity", "Ġ__", "Ġget", "ĠChurch", "Ġchurch"]:
    for k in range(2, len(word) + 1):       # left to right: Ġb, Ġbo, Ġbot, ...
        left, right = word[:k - 1], word[k - 1]
        if word[:k] not in vocab:
            vocab[word[:k]] = len(vocab)
            merges.append(f"{left} {right}")
tok["model"]["vocab"], tok["model"]["merges"] = vocab, merges
json.dump(tok, open(sys.argv[2], "w"))
PY
"$MEMLENS" report --preset=paper --tokenizer="$TMP/paper_tokenizer.json" --format=json \
  --out="$TMP/paper.json" > "$TMP/paper.log" 2>&1 && python3 - "$TMP/paper.json" <<'PY' \
  && pass "--preset=paper runs the reference study's analysis end to end" \
  || fail "--preset=paper end to end: $(cat "$TMP/paper.log")"
import json, sys
r = json.load(open(sys.argv[1]))
m = r["metadata"]
assert m["dataset"]["num_prompts"] == 4 and "paper preset" in m["settings"]["target"], m
sections = {s["plugin"]: s for s in r["sections"]}
for name in ("dla", "cleanup_dla", "erasure", "adversarial"):
    assert sections[name]["status"] == "ok", (name, sections[name]["status"])
assert sections["erasure"]["settings"]["--erasure_writer"] == "L0H2"
assert sections["adversarial"]["settings"]["--adversarial_nodes"] == "L0H2"
text = json.dumps(sections["erasure"])
assert "L0H2" in text
PY
timings=$("$MEMLENS" report --model="$FIXTURES/tl_safetensors" --tokens=0,5,7,9,11,3 \
  --plugins=dla,erasure --timings 2>&1 >/dev/null)
case "$timings" in
  *"wall-clock time over 1 prompts"*"forward (cached)"*"dla"*"erasure"*"total"*)
    pass "report --timings prints the forward pass and every plugin on stderr" ;;
  *) fail "report --timings: $timings" ;;
esac
expect "plugins lists the attribution plugins" 0 "cleanup_dla" -- "$MEMLENS" plugins

# --- Ctrl-C during a long report: a clear message, exit 130, and no output file ---
python3 -c "
for i in range(400): print('The manual page describes how the server writes its log files, line', i)
" > "$TMP/long.txt"
"$MEMLENS" report --dataset="$TMP/long.txt" --plugins=cleanup_dla --out="$TMP/long.json" --format=json \
  > "$TMP/int.out" 2>&1 &
pid=$!
# Signal only once memlens catches SIGINT (its SigCgt mask has bit 2): on a loaded machine two
# seconds may not reach that point, and the default action would kill it without a word.
for _ in $(seq 300); do
  mask=$(awk '/^SigCgt:/ {print $2}' /proc/$pid/status 2>/dev/null)
  [ -n "$mask" ] && [ $(( 0x$mask & 0x2 )) -ne 0 ] && break
  sleep 0.1
done
sleep 1  # into the run
kill -INT $pid
wait $pid
rc=$?
if [ $rc -eq 130 ] && grep -q "interrupted" "$TMP/int.out" && [ ! -e "$TMP/long.json" ] &&
   [ -z "$(ls "$TMP" | grep long.json)" ]; then
  pass "Ctrl-C stops a report with exit 130 and leaves no output file"
else
  fail "Ctrl-C: exit $rc, output: $(cat "$TMP/int.out"), files: $(ls "$TMP")"
fi

# --- determinism: the same command twice gives the same bytes ---
for i in 1 2; do
  "$MEMLENS" report --model="$FIXTURES/tl_safetensors" --tokens=0,5,7,9,11,3 --plugins=dla,cleanup_dla \
    --format=csv --threads=2 2>/dev/null | grep -v created > "$TMP/det$i.csv"
done
cmp -s "$TMP/det1.csv" "$TMP/det2.csv" && [ -s "$TMP/det1.csv" ] &&
  pass "the same report twice is byte-identical (but for its timestamp)" || fail "determinism"

# --- real models in ../shared (skipped when absent) ---
if [ -n "$SHARED" ] && [ -d "$SHARED/models/aidreams260K" ]; then
  expect "aidreams260K greedy text" 0 "I dream of 0.000000. Dimensions unfold, as I softly refine, as I" -- \
    "$MEMLENS" run --model="$SHARED/models/aidreams260K/aidreams260K.bin" --prompt="I dream of" --generate=32
elif [ "${CI:-}" = "true" ]; then
  fail "../shared is absent under CI=true (CI always has it): the real-model CLI check cannot run"
else
  echo "SKIP: ../shared is absent; the real-model CLI check is skipped"
fi

rm -rf "$TMP"
finish
