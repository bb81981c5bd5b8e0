#!/bin/bash
# RenderJson's output parsed by Python's own json module (strict: NaN/Infinity rejected,
# duplicate keys caught), with the sample report's values checked there: an independent
# reader, where render_test.cc uses memlens's own parser.
set -u
RENDER="$1"
failures=0
for kind in sample empty duplicate_settings; do
  if ! "$RENDER" "$kind" > "${TEST_TMPDIR:-/tmp}/$kind.json"; then
    echo "FAIL: render_sample_json $kind"; failures=$((failures + 1))
  fi
done
/usr/bin/python3 - "${TEST_TMPDIR:-/tmp}" <<'PY' || failures=$((failures + 1))
import json, sys

def strict(path):
    def no_dupes(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), ("duplicate keys", path, keys)
        return dict(pairs)
    def no_constant(name):
        raise AssertionError(f"{path}: {name} is not JSON")
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=no_dupes, parse_constant=no_constant)

d = sys.argv[1]
r = strict(d + "/sample.json")
assert r["format"] == "memlens-report", r["format"]
meta = r["metadata"]
assert meta["processing"] == "fold_ln+center_writing+center_unembed+fold_value_biases", meta
assert meta["model"]["name"] == "gelu-4l" and meta["seed"] == 42, meta
assert meta["dataset"]["name"] == 'tiny, with "quotes"' and meta["dataset"]["num_tokens"] == 30
dla, broken = r["sections"]
assert dla["plugin"] == "dla" and dla["status"] == "ok" and dla["settings"]["--dla_threshold"] == "0.5"
table, series, matrix = dla["items"][0], dla["items"][1], dla["items"][3]
assert [c["type"] for c in table["columns"]][1:] == ["int", "float"], table["columns"]
assert table["rows"][1] == ["L2H5, <b>&", 7, -0.26], table["rows"][1]  # full precision
assert table["rows"][2][0] is None and table["rows"][2][2] is None, table["rows"][2]  # empty, NaN
assert table["row_flags"][1] == "sign differs", table["row_flags"]
assert series["x_categories"][1] == "post0" and series["lines"][1]["y"][2] == -0.125, series
assert matrix["values"][0][0] == -0.14 and matrix["values"][1][0] is None, matrix["values"]
assert dla["items"][4]["kind"] == "note"
assert broken["status"] == "error" and "boom" in broken["error"], broken
strict(d + "/empty.json")
assert strict(d + "/duplicate_settings.json")["metadata"]["settings"]["k (2)"] == "2"
print("PASS: RenderJson parses with Python's json, values as written")
PY
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
