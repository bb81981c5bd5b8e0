#!/usr/bin/env python3
"""Compares two memlens JSON reports (a merged sharded report and the one-process one).

Usage: compare_reports.py A.json B.json
Sections and the summary must match exactly in structure, strings, integers, flags and selections; floats
within 1e-6 relative. Metadata: the dataset's counts must match; "created" and the output
flags (--out, --format) may differ. Exit 1 with every difference listed.
"""
import json
import math
import sys

REL = 1e-6


def compare(a, b, path, out):
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None:
        if a != b:
            out.append(f"{path}: {a!r} vs {b!r}")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            if a != b:
                out.append(f"{path}: {a} vs {b}")
        elif not (math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)):
            out.append(f"{path}: {a!r} vs {b!r}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} items")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]", out)
    elif isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            out.append(f"{path}: keys {sorted(set(a) ^ set(b))} differ")
            return
        for k in a:
            compare(a[k], b[k], f"{path}.{k}", out)
    else:
        out.append(f"{path}: {type(a).__name__} vs {type(b).__name__}")


def main():
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
    out = []
    compare(a["sections"], b["sections"], "sections", out)
    # The summary (caveats and every section's findings) leads every format: the same too.
    compare(a.get("summary"), b.get("summary"), "summary", out)
    for key in ("num_prompts", "num_tokens", "model_name", "processing", "seed"):
        compare(a["metadata"].get(key), b["metadata"].get(key), f"metadata.{key}", out)
    if out:
        print(f"{len(out)} differences:\n" + "\n".join(out[:50]))
        sys.exit(1)
    print(f"same report ({len(a['sections'])} sections)")


if __name__ == "__main__":
    main()
