#!/usr/bin/env python3
"""Writes a random model with the shapes of a real one, for benchmarks.

    /usr/bin/python3 benchmarks/make_random_model.py [PATH] [--family F] [--seed 0] [--force]

--family (PATH defaults to /tmp/memlens-<family>-random):
  gelu4l       (default) a TransformerLens-safetensors folder: config.json (TransformerLens /
               Neel-style keys) and model.safetensors (TransformerLens names, F32, ~250 MB):
               4 layers, d_model 512, 8 heads of 64, d_mlp 2048, vocab 48262, n_ctx 1024,
               LayerNorm (eps 1e-5), exact-erf GELU, learned positions, biases.
  pythia-160m  a HuggingFace GPTNeoXForCausalLM folder (~650 MB): 12 layers, d_model 768,
               12 heads of 64, d_mlp 3072, vocab 50304, n_ctx 2048, parallel residual, rotary
               on 25% of each head (rotate_half), exact-erf GELU, untied embed_out; the
               config.json keys of EleutherAI/pythia-160m.
  gpt2-small   a HuggingFace GPT2LMHeadModel folder (~550 MB): 12 layers, d_model 768, 12 heads,
               d_mlp 3072, vocab 50257, n_ctx 1024, gelu_new, tied embeddings; the tensor names
               of the hub's gpt2 model.safetensors (with its h.<l>.attn.bias mask buffers).
Every tensor is N(0, 0.02), except the LayerNorm weights, which are 1 + N(0, 0.02). Seeded:
the same seed writes the same bytes (the seed is in the safetensors metadata). An existing
folder written with the same family and seed is kept unless --force.

Speed does not depend on the values, so these stand in for the real models in benchmarks
(benchmarks/compare_pytorch.py, MEMLENS_BENCH_MODEL for the C++ benchmarks).
"""

import argparse
import json
import os
import shutil
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import tl_reference as ref  # noqa: E402
from make_fixtures import tl_to_hf_gpt2  # noqa: E402

SHAPE = dict(n_layers=4, d_model=512, d_head=64, n_heads=8, d_mlp=2048, d_vocab=48262, n_ctx=1024)
GPT2_SMALL = dict(n_layers=12, d_model=768, d_head=64, n_heads=12, d_mlp=3072, d_vocab=50257,
                  n_ctx=1024)
# EleutherAI/pythia-160m's config.json (torch_dtype: the file here is float32).
PYTHIA_160M = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
               "vocab_size": 50304, "hidden_size": 768, "intermediate_size": 3072,
               "num_hidden_layers": 12, "num_attention_heads": 12,
               "max_position_embeddings": 2048, "rotary_pct": 0.25, "rotary_emb_base": 10000,
               "use_parallel_residual": True, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
               "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0,
               "initializer_range": 0.02, "torch_dtype": "float32", "use_cache": True}
FAMILIES = ("gelu4l", "pythia-160m", "gpt2-small")


def normal(g):
    def r(*shape, mean=0.0):
        return torch.randn(*shape, generator=g) * 0.02 + mean
    return r


def random_weights(seed, n_layers, d_model, d_head, n_heads, d_mlp, d_vocab, n_ctx):
    """TransformerLens names and shapes."""
    r = normal(torch.Generator().manual_seed(seed))
    D, H, dh, F, V = d_model, n_heads, d_head, d_mlp, d_vocab
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


def random_neox_weights(seed, cfg):
    """HF GPTNeoXForCausalLM names: Linear weights [out, in], query_key_value [3 * D, D]."""
    r = normal(torch.Generator().manual_seed(seed))
    D, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    W = {"gpt_neox.embed_in.weight": r(V, D)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{l}."
        for ln in ("input_layernorm", "post_attention_layernorm"):
            W[p + ln + ".weight"], W[p + ln + ".bias"] = r(D, mean=1.0), r(D)
        W[p + "attention.query_key_value.weight"] = r(3 * D, D)
        W[p + "attention.query_key_value.bias"] = r(3 * D)
        W[p + "attention.dense.weight"], W[p + "attention.dense.bias"] = r(D, D), r(D)
        W[p + "mlp.dense_h_to_4h.weight"], W[p + "mlp.dense_h_to_4h.bias"] = r(F, D), r(F)
        W[p + "mlp.dense_4h_to_h.weight"], W[p + "mlp.dense_4h_to_h.bias"] = r(D, F), r(D)
    W["gpt_neox.final_layer_norm.weight"] = r(D, mean=1.0)
    W["gpt_neox.final_layer_norm.bias"] = r(D)
    W["embed_out.weight"] = r(V, D)
    return W


def config_json(seed):
    return dict(SHAPE, model_name="memlens-gelu4l-random", d_vocab_out=SHAPE["d_vocab"],
                act_fn="gelu", normalization_type="LN", ln_eps=1e-5, eps=1e-5,
                positional_embedding_type="standard", attn_only=False, final_rms=False,
                shortformer_pos=False, tokenizer_name=None, original_architecture="neel",
                dtype="float32", seed=seed)


def gpt2_config_json(s):
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "activation_function": "gelu_new", "n_layer": s["n_layers"], "n_embd": s["d_model"],
            "n_head": s["n_heads"], "n_ctx": s["n_ctx"], "n_positions": s["n_ctx"],
            "vocab_size": s["d_vocab"], "layer_norm_epsilon": 1e-5,
            "bos_token_id": s["d_vocab"] - 1, "eos_token_id": s["d_vocab"] - 1,
            "initializer_range": 0.02, "torch_dtype": "float32"}


def family_model(family, seed):
    """(config.json contents, {tensor name: float32 tensor}) of a family."""
    if family == "gelu4l":
        return config_json(seed), random_weights(seed, **SHAPE)
    if family == "pythia-160m":
        return dict(PYTHIA_160M), random_neox_weights(seed, PYTHIA_160M)
    W = random_weights(seed, **GPT2_SMALL)
    del W["unembed.W_U"], W["unembed.b_U"]       # GPT-2 ties its unembedding to wte
    return gpt2_config_json(GPT2_SMALL), tl_to_hf_gpt2(W, GPT2_SMALL["n_layers"],
                                                       GPT2_SMALL["n_ctx"])


def safetensors_metadata(path):
    """The __metadata__ of a safetensors file (header only), {} if unreadable."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            return json.loads(f.read(n)).get("__metadata__", {})
    except (OSError, ValueError, struct.error):
        return {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", nargs="?", help="default /tmp/memlens-<family>-random")
    ap.add_argument("--family", choices=FAMILIES, default="gelu4l")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rewrite even if already there")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32",
                    help="storage dtype (load benchmarks; memlens computes in float32)")
    ap.add_argument("--shards", type=int, default=1,
                    help="> 1: model.safetensors.index.json + that many parts")
    args = ap.parse_args()
    args.path = args.path or f"/tmp/memlens-{args.family.replace('-', '')}-random"
    single = os.path.join(args.path, "model.safetensors")
    if not args.force and args.dtype == "f32" and args.shards <= 1 and os.path.exists(
            os.path.join(args.path, "config.json")):
        meta = safetensors_metadata(single)
        if meta.get("seed") == str(args.seed) and meta.get("family", "gelu4l") == args.family:
            print(f"{args.path}: already there ({args.family}, seed {args.seed}); --force to "
                  "rewrite")
            return
    tmp = args.path.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    config, W = family_model(args.family, args.seed)
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    W = {k: v.to(dtype) for k, v in W.items()}
    meta = {"format": "pt", "generator": "benchmarks/make_random_model.py", "seed": str(args.seed),
            "family": args.family}
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
        json.dump(config, f, indent=2)
        f.write("\n")
    shutil.rmtree(args.path, ignore_errors=True)
    os.rename(tmp, args.path)
    n = sum(v.numel() for k, v in W.items() if not k.endswith(".attn.bias"))  # GPT-2 masks
    size = sum(os.path.getsize(os.path.join(args.path, f)) for f in os.listdir(args.path))
    print(f"wrote {args.path}: {n / 1e6:.1f}M parameters, {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
