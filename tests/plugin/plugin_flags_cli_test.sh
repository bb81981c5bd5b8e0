#!/bin/bash
# A plugin's flags show in --helpfull and parse like the host's, because the host loads the
# plugins (from --plugins, pre-scanned) before absl::ParseCommandLine.
set -u
host="$1"; counter="$2"; abi="$3"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$host" --plugins="$counter" --helpfull 2>&1)
grep -q -- "--counter_label" <<<"$out" || fail "--helpfull does not list the plugin flag: $out"
grep -q -- "--plugins" <<<"$out" || fail "--helpfull does not list --plugins"

out=$("$host" --plugins="$counter" --counter_label=xyz counter_label 2>&1) || fail "parse: $out"
grep -qx "loaded counter" <<<"$out" || fail "plugin not loaded: $out"
grep -qx "counter_label=xyz" <<<"$out" || fail "plugin flag not parsed: $out"

out=$("$host" --plugins "$counter" --counter_label xyz counter_label 2>&1) || fail "parse: $out"
grep -qx "counter_label=xyz" <<<"$out" || fail "separate-value form not parsed: $out"

# Without the plugin its flag is unknown: a clear error, not silently ignored. (A copy of the
# host away from bazel-bin, so that it finds no plugins/ directory next to it to load.)
alone="${TEST_TMPDIR:-$(mktemp -d)}/alone/bin/flags_host"
mkdir -p "$(dirname "$alone")" && cp "$host" "$alone"
if out=$(MEMLENS_PLUGIN_PATH= "$alone" --counter_label=xyz 2>&1); then
  fail "unknown flag accepted: $out"
fi
grep -q "counter_label" <<<"$out" || fail "unknown-flag error does not name the flag: $out"

# A broken plugin stops the host with the loader's message naming the file.
if out=$("$host" --plugins="$abi" 2>&1); then fail "ABI mismatch accepted: $out"; fi
grep -q "$abi: plugin ABI version" <<<"$out" || fail "ABI error unclear: $out"
echo PASS
