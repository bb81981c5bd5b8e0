#!/bin/bash
# A plugin is built against core headers only: core functions must be undefined in it (bound
# to the host at load time), never compiled in. Inline and template code is fine.
set -u
so="$1"
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$so" ] || fail "no plugin at $so"
undefined=$(nm -D --undefined-only "$so" | c++filt)
grep -q "memlens::ActivationStore::Get" <<<"$undefined" || fail "ActivationStore::Get is not undefined"
grep -q "memlens::ReportBuilder::AddTable" <<<"$undefined" || fail "ReportBuilder::AddTable is not undefined"
defined=$(nm -D --defined-only "$so" | c++filt)
for sym in "memlens::ActivationStore::Get" "memlens::ReportBuilder::AddTable" \
           "memlens::Transformer::Run" "memlens::ShapeString"; do
  if grep -q "$sym" <<<"$defined"; then fail "$sym is compiled into the plugin"; fi
done
grep -q " T memlens_plugin_descriptor" <<<"$defined" || fail "no exported entry point"
echo PASS
