#!/bin/bash
# Every shipped plugin's json report against docs/report-format.md: the checker reads the
# schema from the document itself (its tables and item lists), not from memlens's code, and
# parses the report with Python's strict json.
set -u
MEMLENS="$1"
DOC="$2"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$MEMLENS" report --max_prompts=3 --format=json --out="$TMP/report.json" 2>"$TMP/log" \
  || { echo "FAIL: memlens report: $(cat "$TMP/log")"; exit 1; }
python3 - "$DOC" "$TMP/report.json" <<'PY'
import json, re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
def reject(c):
    raise ValueError("not JSON: " + c)
report = json.load(open(sys.argv[2], encoding="utf-8"), parse_constant=reject)

def table(heading):
    """Rows of the markdown table under `## heading`: (keys, type text, what)."""
    part = doc.split("## " + heading, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in part.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            rows.append((re.findall(r"`([a-z_]+)`", cells[0]), cells[1], cells[2] if len(cells) > 2 else ""))
    return rows

TYPES = {"string": str, "int": int, "object": dict, "array": list, "object of strings": dict}
def check_object(obj, rows, where):
    documented = set()
    for keys, type_text, _ in rows:
        documented.update(keys)
        optional = "optional" in type_text or "only with" in type_text
        base = TYPES.get(type_text.split(",")[0].strip())
        for k in keys:
            if k not in obj:
                assert optional, f"{where}: documented key '{k}' missing"
                continue
            if base is not None:
                assert isinstance(obj[k], base), f"{where}.{k}: {type(obj[k]).__name__}, documented {type_text}"
    extra = set(obj) - documented
    assert not extra, f"{where}: keys not in docs/report-format.md: {sorted(extra)}"

top = table("Top level")
check_object(report, top, "report")
version = [r for r in top if r[0] == ["format_version"]][0][2]
assert str(report["format_version"]) == version.strip(), (report["format_version"], version)
assert report["format"] == "memlens-report"
for i, f in enumerate(report["summary"]["findings"]):
    check_object(f, table("Findings (`summary.findings[]`)"), f"summary.findings[{i}]")
    for v in list(f["values"].values()) + list(f.get("published", {}).values()):
        assert v is None or isinstance(v, (str, int, float)), f
kinds_doc = re.findall(r"`([a-z_]+)`", [r for r in table("Findings (`summary.findings[]`)") if r[0] == ["kind"]][0][2])
# Items: "- `kind`: ..." bullets list their fields in backticks (quoted values excluded).
items_doc = {}
for m in re.finditer(r"^- `([a-z]+)`:(.*?)(?=^- `|^Non-finite|\Z)", doc, re.M | re.S):
    items_doc[m.group(1)] = set(re.findall(r"`([a-z_]+)`", m.group(2))) | {"kind"}
assert set(items_doc) == {"table", "series", "matrix", "note"}, items_doc
plugins = set()
for s in report["sections"]:
    check_object(s, table("Sections (`sections[]`)"), "section " + s.get("plugin", "?"))
    assert s["status"] in ("ok", "error"), s["status"]
    plugins.add(s["plugin"])
    for it in s["items"]:
        fields = items_doc[it["kind"]]
        where = f"{s['plugin']}.{it.get('name', 'note')}"
        assert set(it) <= fields, f"{where}: undocumented {sorted(set(it) - fields)}"
        for nested in it.get("lines", []) + it.get("columns", []):
            assert set(nested) <= fields, f"{where}: undocumented {sorted(set(nested) - fields)}"
        for line in it.get("lines", []):
            assert line["style"] in ("solid", "dashed", "dotted", "points", "bars"), line["style"]
            for k in ("lo", "hi"):
                assert k not in line or len(line[k]) == len(line["y"]), where
        for row in it.get("rows", []):
            assert len(row) == len(it["columns"]), where
for f in report["summary"]["findings"]:
    assert f["kind"] in kinds_doc, f"finding kind '{f['kind']}' not listed in the document"
shipped = {"dla", "cleanup_dla", "erasure", "adversarial", "resid_norms"}
assert shipped <= plugins, plugins
print("PASS: the json of", sorted(plugins), "matches docs/report-format.md")
PY
