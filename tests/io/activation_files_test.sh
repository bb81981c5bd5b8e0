#!/bin/bash
# `memlens cache` output read back without memlens: Python's json and struct parse the
# safetensors file, numpy loads the .npy files, and every tensor is compared with the golden
# fixture's float64 values for the same prompt (cache processes the weights as TransformerLens
# does, so processed_hooks_0; tests/fixtures/README.md's tolerance). So the
# writers are checked against the formats' own readers and the values against the reference.
set -u
MEMLENS="$1"
FIXTURE="tests/fixtures/tl_safetensors"
TOKENS=0,18,3,42,18,1,36  # the prompt of $FIXTURE/expected_0.safetensors
HOOKS='blocks.*.hook_resid_post,blocks.0.attn.hook_pattern,blocks.1.attn.hook_z,ln_final.hook_scale'
TMP="${TEST_TMPDIR:-/tmp}/activation_files_test.$$"
mkdir -p "$TMP"
failures=0

for out in acts.safetensors acts_npy; do
  if ! "$MEMLENS" cache --model="$FIXTURE" --tokens="$TOKENS" --hooks="$HOOKS" \
      --out="$TMP/$out" > "$TMP/$out.log" 2>&1; then
    echo "FAIL: memlens cache --out=$out: $(cat "$TMP/$out.log")"
    failures=$((failures + 1))
  fi
done

/usr/bin/python3 - "$FIXTURE/processed_hooks_0.safetensors" "$TMP/acts.safetensors" "$TMP/acts_npy" <<'PY' ||
import json, struct, sys
import numpy as np

def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out, end = {}, 0
    for name, t in header.items():
        assert t["dtype"] == "F32", (path, name, t["dtype"])
        a, b = t["data_offsets"]
        count = int(np.prod(t["shape"], dtype=np.int64))
        assert b - a == 4 * count, (path, name, t)
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"])
        end = max(end, b)
    assert end == len(data), (path, "data section has", len(data), "bytes, tensors use", end)
    return out, meta

def close(name, got, want):
    assert got.shape == want.shape, (name, got.shape, want.shape)
    finite = np.isfinite(want)
    assert np.array_equal(np.isinf(got), np.isinf(want)) and not np.isnan(got).any(), name
    scale = np.abs(want[finite]).max()
    err = np.abs(got[finite].astype(np.float64) - want[finite])
    assert (err <= 1e-5 * scale + 1e-5 * np.abs(want[finite])).all(), (name, err.max(), scale)

expected, _ = read_safetensors(sys.argv[1])
wanted = {"blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern",
          "blocks.1.attn.hook_z", "ln_final.hook_scale", "logits"}

acts, meta = read_safetensors(sys.argv[2])
assert meta.get("format") == "memlens-activations", meta
assert set(acts) == wanted, sorted(acts)
for name, got in acts.items():
    close("safetensors " + name, got, expected[name])

index = json.load(open(sys.argv[3] + "/index.json"))
assert index["format"] == "memlens-activations", index
assert {t["name"] for t in index["tensors"]} == wanted, index["tensors"]
for t in index["tensors"]:
    got = np.load(sys.argv[3] + "/" + t["file"])
    assert got.dtype == np.float32 and list(got.shape) == t["shape"], (t, got.dtype, got.shape)
    close("npy " + t["name"], got, expected[t["name"]])
print("PASS: cache's safetensors and npy outputs match the golden fixture, read without memlens")
PY
  failures=$((failures + 1))

rm -rf "$TMP"
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
