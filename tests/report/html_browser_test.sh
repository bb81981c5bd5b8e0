#!/bin/bash
# The html report in a real browser (headless Chromium): no console errors, every figure has
# drawn marks of non-zero size, a header click sorts a table and the show-all button unfolds a
# long one. The checks run as a script the test appends to a copy of the page (the page's own
# script is what is tested); screenshots go to $TEST_UNDECLARED_OUTPUTS_DIR.
# Without Chromium the test skips, unless CI=true (then it fails): tools/setup.sh installs it.
set -u
MEMLENS="$1"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  if [ "${CI:-}" = "true" ]; then echo "FAIL: chromium is not installed (tools/setup.sh)"; exit 1; fi
  echo "SKIP: chromium is not installed (tools/setup.sh installs it)"; exit 0
fi
TMP=$(mktemp -d)
OUT="${TEST_UNDECLARED_OUTPUTS_DIR:-$TMP}"
trap 'rm -rf "$TMP"' EXIT
"$MEMLENS" report --max_prompts=4 --format=html --out="$TMP/report.html" 2>"$TMP/memlens.log" \
  || { echo "FAIL: memlens report: $(cat "$TMP/memlens.log")"; exit 1; }
cp "$TMP/report.html" "$OUT/report.html"

# Errors are collected from the first moment (the page's script runs after this one).
python3 - "$TMP/report.html" "$TMP/check.html" <<'PY'
import sys
html = open(sys.argv[1], encoding="utf-8").read()
catch = """<script>window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
</script>"""
check = r"""<script>
(function () {
  var out = {errors: window.__errors, figures: 0, empty_figures: [], sort: null, fold: null};
  document.querySelectorAll("svg.plot").forEach(function (svg) {
    out.figures++;
    var marks = svg.querySelectorAll("rect.bar, circle.point, polyline");
    var drawn = 0;
    marks.forEach(function (m) { var b = m.getBBox(); if (b.width > 0 || b.height > 0) drawn++; });
    var r = svg.getBoundingClientRect();
    if (drawn === 0 || r.width === 0 || r.height === 0) {
      out.empty_figures.push(svg.querySelector("title").textContent);
    }
  });
  // Sort: the first numeric column of the first long table, ascending then descending.
  var table = document.querySelector("table.data.folded");
  var col = Array.prototype.findIndex.call(table.tBodies[0].rows[0].cells,
                                           function (c) { return c.dataset.v !== undefined; });
  function column() {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return parseFloat(r.cells[col].dataset.v);
    });
  }
  function visible() {
    return Array.prototype.filter.call(table.tBodies[0].rows,
                                       function (r) { return r.offsetParent !== null; }).length;
  }
  var th = table.tHead.rows[0].cells[col];
  th.click();
  var up = column();
  th.click();
  var down = column();
  var sortedUp = up.every(function (v, i) { return i === 0 || up[i - 1] <= v; });
  var sortedDown = down.every(function (v, i) { return i === 0 || down[i - 1] >= v; });
  out.sort = {column: th.textContent, ascending: sortedUp, descending: sortedDown,
              visible_after_sort: visible()};
  var before = visible();
  table.nextElementSibling.click();
  var after = visible();
  out.fold = {rows: table.tBodies[0].rows.length, visible_folded: before, visible_unfolded: after};
  var pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""
html = html.replace("<head>", "<head>" + catch, 1).replace("</body>", check + "</body>", 1)
open(sys.argv[2], "w", encoding="utf-8").write(html)
PY
FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync)
timeout 120 "$CHROMIUM" "${FLAGS[@]}" --user-data-dir="$TMP/profile1" --enable-logging=stderr \
  --dump-dom "file://$TMP/check.html" > "$TMP/dom.html" 2> "$TMP/chromium.log"
timeout 120 "$CHROMIUM" "${FLAGS[@]}" --user-data-dir="$TMP/profile2" --window-size=1280,2400 \
  --screenshot="$OUT/report_top.png" "file://$TMP/report.html" > /dev/null 2>&1
python3 - "$TMP/dom.html" "$TMP/chromium.log" "$OUT/selftest.json" <<'PY'
import html, json, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
log = open(sys.argv[2], encoding="utf-8", errors="replace").read()
m = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
assert m, "the check script did not run; chromium said:\n" + log[-3000:]
r = json.loads(html.unescape(m.group(1)))
open(sys.argv[3], "w").write(json.dumps(r, indent=1))
console = [l for l in log.splitlines() if "CONSOLE" in l or "Uncaught" in l]
assert not r["errors"] and not console, (r["errors"], console)
assert r["figures"] >= 6 and not r["empty_figures"], r
assert r["sort"]["ascending"] and r["sort"]["descending"], r["sort"]
assert r["sort"]["visible_after_sort"] == 15, r["sort"]          # still folded after sorting
assert r["fold"]["visible_folded"] == 15 < r["fold"]["rows"], r["fold"]
assert r["fold"]["visible_unfolded"] == r["fold"]["rows"], r["fold"]
print("PASS:", r["figures"], "figures drawn; sort", r["sort"]["column"], "and fold",
      r["fold"]["rows"], "rows work; no console errors")
PY
status=$?
[ -s "$OUT/report_top.png" ] || { echo "FAIL: no screenshot"; exit 1; }
exit $status
