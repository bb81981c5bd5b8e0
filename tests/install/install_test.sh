#!/bin/bash
# The install a user makes (`bazel run -c opt //:install -- --prefix=DIR`), used as a user
# would: from outside the source tree with only PREFIX/bin on the PATH; then a plugin built
# out of tree with pkg-config against the installed headers, loaded by the installed memlens;
# then the uninstall, which must leave nothing behind.
set -u
INSTALL="$1"
TMP="${TEST_TMPDIR:-/tmp}/install_test.$$"
PREFIX="$TMP/prefix with space"
SCRATCH="$TMP/elsewhere"
mkdir -p "$SCRATCH"
source tests/expect.sh  # pass, fail, expect, finish
check() {  # check NAME COMMAND...: passes when the command succeeds
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
# A user's shell: the installed bin first, the system after; no Bazel variables, no runfiles.
as_user() { (cd "$SCRATCH" && env -i HOME="$TMP" PATH="$PREFIX/bin:/usr/bin:/bin" "$@"); }

out=$("$INSTALL" --prefix="$PREFIX" 2>&1)
rc=$?
if [ $rc -ne 0 ]; then fail "install exits 0: $out"; echo "$failures failed"; exit 1; fi
pass "install"
for f in bin/memlens lib/memlens/plugins/libdla.so lib/memlens/plugins/liberasure.so \
         lib/memlens/plugins/libcleanup_dla.so lib/memlens/plugins/libadversarial.so \
         share/memlens/models/default/config.json share/memlens/models/default/model.safetensors \
         share/memlens/models/default/prompts.txt include/memlens/core/plugin/plugin_api.h \
         lib/pkgconfig/memlens-plugin.pc share/memlens/uninstall.sh; do
  check "installed $f" test -f "$PREFIX/$f"
done

version=$(as_user memlens --version 2>&1)
case "$version" in
  "memlens "[0-9]*.[0-9]*.[0-9]*" (plugin ABI "*) pass "--version: $version" ;;
  *) fail "--version prints memlens's version, not: $version" ;;
esac

plugins=$(as_user memlens plugins 2>&1)
for p in dla cleanup_dla erasure adversarial resid_norms; do
  case "$plugins" in
    *"$PREFIX/lib/memlens/plugins/lib$p.so"*) pass "plugin $p found in the install" ;;
    *) fail "plugin $p not found under $PREFIX/lib/memlens/plugins: $plugins" ;;
  esac
done

# A bare `memlens report` on the shipped model (one short prompt keeps the test quick).
as_user memlens report --prompt="The manual page describes the" --format=json \
  --out="$SCRATCH/report.json" > "$SCRATCH/report.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  fail "memlens report from the install exits 0: $(tail -5 "$SCRATCH/report.log")"
else
  check "report from the install: shipped model named models/default, every plugin's section" \
    python3 - "$SCRATCH/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
model = r["metadata"]["model"]["path"]
assert model == "models/default", f"the shipped model is shown as {model!r}, not models/default"
names = {s.get("plugin", s.get("name")) for s in r["sections"]}
missing = {"dla", "cleanup_dla", "erasure", "adversarial"} - names
assert not missing, f"sections missing: {missing} (have {names})"
PY
fi

# The text report is read in a terminal: every line within 100 columns (characters).
as_user memlens report --prompt="The manual page describes the" > "$SCRATCH/report.txt" 2>&1
check "text report of the shipped model fits 100 columns" python3 -c "
import sys
lines = open('$SCRATCH/report.txt', encoding='utf-8').read().splitlines()
wide = [l for l in lines if len(l) > 100]
assert len(lines) > 50 and not wide, (len(lines), wide[:3])
"

# Out of tree, as docs/writing-plugins.md tells a plugin author: the example's source renamed
# (its name and flag would collide with the installed example), compiled against the
# installed headers only, from a folder that is not the source tree.
mkdir -p "$SCRATCH/myplugin"
sed 's/resid_norms/oot_norms/g' "$PREFIX/share/memlens/examples/resid_norms.cc" \
  > "$SCRATCH/myplugin/oot_norms.cc"
cflags=$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --cflags memlens-plugin 2>&1)
check "pkg-config --cflags memlens-plugin points into the prefix" \
  test "${cflags#*-I$PREFIX/include/memlens}" != "$cflags"
if (cd "$SCRATCH/myplugin" && g++ -std=c++17 -O1 -shared -fPIC \
      -I"$PREFIX/include/memlens" oot_norms.cc -o liboot_norms.so) > "$SCRATCH/gcc.log" 2>&1; then
  pass "out-of-tree plugin compiles against the installed headers"
  listed=$(as_user env MEMLENS_PLUGIN_PATH="$SCRATCH/myplugin" memlens plugins 2>&1)
  case "$listed" in
    *oot_norms*) pass "installed memlens lists the out-of-tree plugin" ;;
    *) fail "out-of-tree plugin not listed: $listed" ;;
  esac
  as_user env MEMLENS_PLUGIN_PATH="$SCRATCH/myplugin" memlens report --plugins=oot_norms \
    --prompt="The manual page describes the" --format=json --out="$SCRATCH/oot.json" \
    > "$SCRATCH/oot.log" 2>&1
  check "report with the out-of-tree plugin has its section" \
    python3 -c "
import json, sys
r = json.load(open('$SCRATCH/oot.json'))
s = [s for s in r['sections'] if s.get('plugin', s.get('name')) == 'oot_norms']
assert s and s[0].get('status', 'ok') == 'ok', r['sections']
"
else
  fail "out-of-tree plugin compiles: $(tail -20 "$SCRATCH/gcc.log")"
fi

out=$("$PREFIX/share/memlens/uninstall.sh" 2>&1)
check "uninstall exits 0 ($out)" test $? -eq 0
# The prefix's standard folders (bin, lib, share, include) may stay, empty: nothing else.
left=$(cd "$PREFIX" && find . -mindepth 1 ! -type d; find . -path '*memlens*')
check "uninstall leaves nothing of memlens under the prefix${left:+: $left}" test -z "$left"

finish
