#!/usr/bin/env python3
"""The cost of splitting a report, end to end: one `memlens report` process against N shard
processes (`memlens report --shard=I/N --state_out=...`, each loading the model itself) plus
`memlens merge`, on the same prompts. Prints each process's wall and CPU time, the time per
prompt of both sides, their ratio, and checks that the merged report is the one-process one.

    bazel build -c opt //core/cli:memlens
    /usr/bin/python3 benchmarks/make_random_model.py        # /tmp/memlens-gelu4l-random
    python3 benchmarks/shard_cost.py --memlens bazel-bin/core/cli/memlens \\
        [--model /tmp/memlens-gelu4l-random] [--prompts 4] [--tokens 256] [--shards 4] [--reps 1]

The prompts are random words cut to --tokens tokens by `--seq_len` (the shipped tokenizer,
whose 4096 ids all exist in the gelu-4l-shaped model's vocabulary), every plugin with its
default flags but --erasure_sketch_k (below). Processes run one after
another, never side by side: this measures what splitting costs, not what parallel nodes gain.
With --reps > 1 the two sides alternate, and the fastest repetition of each counts. CPU time
(user + sys of each child) drifts less than wall time when other work shares the machine.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    """(wall s, cpu s) of one child process; exits with its stderr when it fails."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memlens", required=True)
    ap.add_argument("--model", default="/tmp/memlens-gelu4l-random")
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models/default/tokenizer.json"))
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="memlens-shard-cost.")
    rng = random.Random(7)
    words = ["time", "river", "stone", "the", "of", "quietly", "machine", "north", "seven",
             "garden", "electric", "and", "under", "window", "paper", "bright", "to", "memory"]
    dataset = os.path.join(tmp, "prompts.txt")
    with open(dataset, "w") as f:
        for _ in range(args.prompts):  # ~2 words per token at most: enough to cut to --tokens
            f.write(" ".join(rng.choice(words) for _ in range(2 * args.tokens)) + "\n")
    # Sketches larger than the samples per (writer, node) pair, so none compacts and the merge
    # must give the one-process numbers to 1e-6 (at the default k = 256 they compact beyond 256
    # samples, and merged quantiles differ within the sketch's error bound, which a check
    # cannot tell from a bug). Their size and cost are about the default's at these counts.
    sketch_k = max(256, 2 * ((args.prompts * args.tokens + 1) // 2))
    common = [args.memlens, "report", f"--model={args.model}", f"--tokenizer={args.tokenizer}",
              f"--dataset={dataset}", f"--seq_len={args.tokens}", f"--erasure_sketch_k={sketch_k}"]

    def one_process():
        out = os.path.join(tmp, "one.json")
        wall, cpu = run(common + ["--format=json", f"--out={out}"])
        return {"wall": wall, "cpu": cpu, "parts": [(wall, cpu)], "out": out}

    def sharded():
        parts, states = [], []
        for i in range(args.shards):
            states.append(os.path.join(tmp, f"shard-{i}-of-{args.shards}.state"))
            parts.append(run(common + [f"--shard={i}/{args.shards}", f"--state_out={states[-1]}"]))
        out = os.path.join(tmp, "merged.json")
        parts.append(run([args.memlens, "merge", *states, "--format=json", f"--out={out}"]))
        size = sum(os.path.getsize(s) for s in states)
        return {"wall": sum(p[0] for p in parts), "cpu": sum(p[1] for p in parts),
                "parts": parts, "out": out, "state_bytes": size}

    load_before = os.getloadavg()
    best = {}
    for _ in range(args.reps):
        for name, fn in (("one", one_process), ("sharded", sharded)):
            r = fn()
            if name not in best or r["wall"] < best[name]["wall"]:
                best[name] = r
    load_after = os.getloadavg()

    one, sh = best["one"], best["sharded"]
    report = json.load(open(one["out"]))
    tokens = report["metadata"]["dataset"]["num_tokens"]
    if report["metadata"]["dataset"]["num_prompts"] != args.prompts or tokens != args.prompts * args.tokens:
        sys.exit(f"the dataset is not {args.prompts} prompts of {args.tokens} tokens: "
                 f"{report['metadata']['dataset']}")
    same = subprocess.run([sys.executable, os.path.join(ROOT, "tests/scale/compare_reports.py"),
                           one["out"], sh["out"]], capture_output=True, text=True)
    P = args.prompts
    print(f"{P} prompts of {args.tokens} tokens, model {args.model}, {args.shards} shards, "
          f"--erasure_sketch_k={sketch_k}, best of {args.reps}; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"one process:       wall {one['wall']:7.1f} s ({one['wall'] / P:6.2f} s/prompt)   "
          f"cpu {one['cpu']:7.1f} s ({one['cpu'] / P:6.2f} s/prompt)")
    for i, (w, c) in enumerate(sh["parts"][:-1]):
        print(f"  shard {i}/{args.shards}:      wall {w:7.1f} s   cpu {c:7.1f} s")
    w, c = sh["parts"][-1]
    print(f"  merge:           wall {w:7.1f} s   cpu {c:7.1f} s   "
          f"({sh['state_bytes'] / 1e3:.0f} kB of state files)")
    print(f"{args.shards} shards + merge: wall {sh['wall']:7.1f} s ({sh['wall'] / P:6.2f} s/prompt)   "
          f"cpu {sh['cpu']:7.1f} s ({sh['cpu'] / P:6.2f} s/prompt)")
    print(f"ratio sharded / one process: wall {sh['wall'] / one['wall']:.2f}, "
          f"cpu {sh['cpu'] / one['cpu']:.2f}")
    print("merged report = one-process report" if same.returncode == 0
          else "MERGED REPORT DIFFERS:\n" + same.stdout + same.stderr)
    shutil.rmtree(tmp)
    return 0 if same.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
