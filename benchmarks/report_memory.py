#!/usr/bin/env python3
"""Peak memory of a whole `memlens report` against the number of prompts in its --dataset.

    bazel build -c opt //core/cli:memlens
    python3 benchmarks/report_memory.py [--memlens bazel-bin/core/cli/memlens] [N ...]

The host streams the dataset (core/io/dataset_reader.h) and the plugins aggregate in bounded
state, so the peak RSS of a report must not grow with the number of prompts. Each N (default
1000, 100000, 1000000) is one `memlens report --plugins=dla` process over a dataset of N short
prompts (four words each, seeded), on a tiny random TransformerLens model (1 layer, d_model 16)
that uses the shipped model's tokenizer (so the cost per prompt is the host's, not the model's).
The child's peak RSS comes from wait4's rusage; the table gives it beside the wall time and the
cost per prompt. Needs no third-party Python module.
"""

import argparse
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SHAPE = dict(n_layers=1, d_model=16, d_head=4, n_heads=4, d_mlp=32, d_vocab=4096, n_ctx=32)
WORDS = ("the cat sat on a mat and then it ran to the big red house while we were away "
         "under old trees near water").split()


def write_tiny_model(folder, seed=0):
    """config.json + model.safetensors (TransformerLens names and shapes, F32, N(0, 0.1))."""
    rng = random.Random(seed)
    L, D, dh, H, F, V, T = (SHAPE[k] for k in
                            ("n_layers", "d_model", "d_head", "n_heads", "d_mlp", "d_vocab", "n_ctx"))
    shapes = {"embed.W_E": [V, D], "pos_embed.W_pos": [T, D]}
    for l in range(L):
        p = f"blocks.{l}."
        shapes.update({p + "ln1.w": [D], p + "ln1.b": [D], p + "ln2.w": [D], p + "ln2.b": [D],
                       p + "attn.W_Q": [H, D, dh], p + "attn.W_K": [H, D, dh],
                       p + "attn.W_V": [H, D, dh], p + "attn.W_O": [H, dh, D],
                       p + "attn.b_Q": [H, dh], p + "attn.b_K": [H, dh], p + "attn.b_V": [H, dh],
                       p + "attn.b_O": [D], p + "mlp.W_in": [D, F], p + "mlp.b_in": [F],
                       p + "mlp.W_out": [F, D], p + "mlp.b_out": [D]})
    shapes.update({"ln_final.w": [D], "ln_final.b": [D], "unembed.W_U": [D, V],
                   "unembed.b_U": [V]})
    header, blobs, offset = {}, [], 0
    for name in sorted(shapes):
        n = 1
        for d in shapes[name]:
            n *= d
        mean = 1.0 if name.endswith("ln1.w") or name.endswith("ln2.w") or name == "ln_final.w" else 0.0
        blob = struct.pack(f"<{n}f", *(rng.gauss(mean, 0.1) for _ in range(n)))
        header[name] = {"dtype": "F32", "shape": shapes[name], "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    config = dict(SHAPE, model_name="report-memory-tiny", d_vocab_out=SHAPE["d_vocab"],
                  act_fn="gelu", normalization_type="LN", eps=1e-5,
                  positional_embedding_type="standard", original_architecture="neel")
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    shutil.copy(os.path.join(ROOT, "models", "default", "tokenizer.json"), folder)


def write_dataset(path, n, seed=1):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            f.write(" ".join(rng.choice(WORDS) for _ in range(4)) + "\n")


def run(cmd, log):
    """(wall seconds, peak RSS in MiB, exit status) of one child process; its stderr to `log`."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        os.execv(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    return time.monotonic() - t0, usage.ru_maxrss / 1024.0, status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("counts", nargs="*", type=int, default=[1000, 100000, 1000000])
    ap.add_argument("--memlens", default=os.path.join(ROOT, "bazel-bin/core/cli/memlens"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    memlens = os.path.abspath(args.memlens)
    tmp = tempfile.mkdtemp(prefix="memlens-report-memory.")
    try:
        model = os.path.join(tmp, "model")
        os.makedirs(model)
        write_tiny_model(model)
        print(f"| prompts | dataset MB | wall s | us / prompt | peak RSS MiB |")
        print(f"|---:|---:|---:|---:|---:|")
        for n in args.counts:
            dataset = os.path.join(tmp, f"prompts_{n}.txt")
            write_dataset(dataset, n)
            out = os.path.join(tmp, f"report_{n}.json")
            log = os.path.join(tmp, f"report_{n}.log")
            wall, peak, status = run([memlens, "report", f"--model={model}", f"--dataset={dataset}",
                                      "--plugins=dla", "--format=json", f"--out={out}",
                                      f"--threads={args.threads}"], log)
            if status != 0:
                with open(log) as f:
                    sys.exit(f"memlens report on {n} prompts failed (status {status}): {f.read()}")
            with open(out) as f:
                covered = json.load(f)["metadata"]["dataset"]["num_prompts"]
            if covered != n:
                sys.exit(f"the report covers {covered} prompts, not {n}")
            mb = os.path.getsize(dataset) / 1e6
            print(f"| {n} | {mb:.1f} | {wall:.1f} | {1e6 * wall / n:.0f} | {peak:.1f} |", flush=True)
            os.remove(dataset)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
