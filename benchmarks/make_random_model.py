#!/usr/bin/env python3
"""Writes a random model with gelu-4l's shapes as a TransformerLens-safetensors folder.

    /usr/bin/python3 benchmarks/make_random_model.py [PATH] [--seed 0] [--force]

PATH defaults to /tmp/memlens-gelu4l-random. The folder gets config.json (TransformerLens /
Neel-style keys) and model.safetensors (TransformerLens names and shapes, F32, ~250 MB):
4 layers, d_model 512, 8 heads of 64, d_mlp 2048, vocab 48262, n_ctx 1024, LayerNorm (eps
1e-5), exact-erf GELU, learned positions, biases. Every tensor is N(0, 0.02), except the
LayerNorm weights, which are 1 + N(0, 0.02). Seeded: the same seed writes the same bytes.
An existing folder written with the same seed is kept unless --force.

Speed does not depend on the values, so this stands in for gelu-4l in benchmarks
(benchmarks/compare_pytorch.py, MEMLENS_BENCH_MODEL for the C++ benchmarks).
"""

import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import tl_reference as ref  # noqa: E402

SHAPE = dict(n_layers=4, d_model=512, d_head=64, n_heads=8, d_mlp=2048, d_vocab=48262, n_ctx=1024)


def random_weights(seed, n_layers, d_model, d_head, n_heads, d_mlp, d_vocab, n_ctx):
    g = torch.Generator().manual_seed(seed)
    D, H, dh, F, V = d_model, n_heads, d_head, d_mlp, d_vocab

    def r(*shape, mean=0.0):
        return torch.randn(*shape, generator=g) * 0.02 + mean

    W = {"embed.W_E": r(V, D), "pos_embed.W_pos": r(n_ctx, D)}
    for l in range(n_layers):
        p = f"blocks.{l}."
        W.update({p + "ln1.w": r(D, mean=1.0), p + "ln1.b": r(D),
                  p + "ln2.w": r(D, mean=1.0), p + "ln2.b": r(D),
                  p + "attn.W_Q": r(H, D, dh), p + "attn.W_K": r(H, D, dh),
                  p + "attn.W_V": r(H, D, dh), p + "attn.W_O": r(H, dh, D),
                  p + "attn.b_Q": r(H, dh), p + "attn.b_K": r(H, dh), p + "attn.b_V": r(H, dh),
                  p + "attn.b_O": r(D),
                  p + "mlp.W_in": r(D, F), p + "mlp.b_in": r(F),
                  p + "mlp.W_out": r(F, D), p + "mlp.b_out": r(D)})
    W.update({"ln_final.w": r(D, mean=1.0), "ln_final.b": r(D),
              "unembed.W_U": r(D, V), "unembed.b_U": r(V)})
    return W


def config_json(seed):
    return dict(SHAPE, model_name="memlens-gelu4l-random", d_vocab_out=SHAPE["d_vocab"],
                act_fn="gelu", normalization_type="LN", ln_eps=1e-5, eps=1e-5,
                positional_embedding_type="standard", attn_only=False, final_rms=False,
                shortformer_pos=False, tokenizer_name=None, original_architecture="neel",
                dtype="float32", seed=seed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", nargs="?", default="/tmp/memlens-gelu4l-random")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rewrite even if already there")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32",
                    help="storage dtype (load benchmarks; memlens computes in float32)")
    ap.add_argument("--shards", type=int, default=1,
                    help="> 1: model.safetensors.index.json + that many parts")
    args = ap.parse_args()
    cfg_path = os.path.join(args.path, "config.json")
    if not args.force and args.dtype == "f32" and args.shards <= 1 and os.path.exists(
            cfg_path) and os.path.exists(os.path.join(args.path, "model.safetensors")):
        with open(cfg_path) as f:
            if json.load(f).get("seed") == args.seed:
                print(f"{args.path}: already there (seed {args.seed}); --force to rewrite")
                return
    tmp = args.path.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    W = random_weights(args.seed, **SHAPE)
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    W = {k: v.to(dtype) for k, v in W.items()}
    meta = {"format": "pt", "generator": "benchmarks/make_random_model.py", "seed": str(args.seed)}
    if args.shards <= 1:
        ref.save_safetensors(os.path.join(tmp, "model.safetensors"), W, meta)
    else:
        names, weight_map = sorted(W), {}
        for s in range(args.shards):
            part = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
            ref.save_safetensors(os.path.join(tmp, part), {n: W[n] for n in names[s::args.shards]})
            weight_map.update({n: part for n in names[s::args.shards]})
        with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": meta, "weight_map": weight_map}, f, indent=1)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config_json(args.seed), f, indent=2)
        f.write("\n")
    shutil.rmtree(args.path, ignore_errors=True)
    os.rename(tmp, args.path)
    n = sum(v.numel() for v in W.values())
    size = sum(os.path.getsize(os.path.join(args.path, f)) for f in os.listdir(args.path))
    print(f"wrote {args.path}: {n / 1e6:.1f}M parameters, {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
