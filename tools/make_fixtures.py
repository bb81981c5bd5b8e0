#!/usr/bin/env python3
"""Writes tests/fixtures/: tiny random-weight models in every format memlens reads, with the
expected value of every hook and the logits for two prompts, computed by tools/tl_reference.py
in float64 from the weights exactly as stored (float32, or float16/bfloat16 rounded).

    /usr/bin/python3 tools/make_fixtures.py [--out tests/fixtures] [--seed 20240611]

Seeded and deterministic: rerunning it rewrites byte-identical files (it checks that torch.save
wrote only STORED zip entries, and it checks each fixture against a second, independently
written forward pass before writing the expected values). See tests/fixtures/README.md.
"""

import argparse
import dataclasses
import io
import json
import math
import os
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tl_reference as ref  # noqa: E402

# The shapes of the GPT-family fixtures (small enough that each folder stays far below 1 MB,
# big enough to have several heads, layers, and sizes that are not all powers of two).
GPT = dict(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=50, n_ctx=16)
# The LLaMA fixture: grouped-query attention (4 query heads, 2 key/value heads) and a hidden
# size that is not a multiple of 8, as real llama2.c models have (260K models: 172).
LLAMA = dict(dim=32, hidden_dim=76, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=50,
             seq_len=16)
PROMPT_LENGTHS = (7, 16)   # the second fills the whole context (uses the last W_pos row)


def normal(rng, shape, std):
    return torch.from_numpy((rng.standard_normal(shape) * std).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Random weights (scaled so activations are O(1) and attention patterns are not uniform)
# ---------------------------------------------------------------------------------------------

# The BOS row of the embedding (and position 0's W_pos row) is scaled down so that layer 0's
# ln1 input at position 0 has a variance comparable to eps (~1e-5): there, an eps bug (ignored,
# wrong default, added outside the square root) is an O(1) error rather than ~1e-6.
TINY_BOS = 0.003


def gpt_weights(rng, bos, n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx):
    D, H, dh, Fm = d_model, n_heads, d_head, d_mlp
    s = 1 / math.sqrt(D)
    W = {"embed.W_E": normal(rng, (d_vocab, D), 1.0),
         "pos_embed.W_pos": normal(rng, (n_ctx, D), 0.5)}
    W["embed.W_E"][bos] *= TINY_BOS
    W["pos_embed.W_pos"][0] *= TINY_BOS
    for l in range(n_layers):
        p = f"blocks.{l}."
        W[p + "ln1.w"] = 1 + normal(rng, (D,), 0.2)
        W[p + "ln1.b"] = normal(rng, (D,), 0.1)
        W[p + "ln2.w"] = 1 + normal(rng, (D,), 0.2)
        W[p + "ln2.b"] = normal(rng, (D,), 0.1)
        for m in "QKV":
            W[p + f"attn.W_{m}"] = normal(rng, (H, D, dh), 1.5 * s)
        W[p + "attn.W_O"] = normal(rng, (H, dh, D), s)
        for m in "QKV":
            W[p + f"attn.b_{m}"] = normal(rng, (H, dh), 0.1)
        W[p + "attn.b_O"] = normal(rng, (D,), 0.1)
        W[p + "mlp.W_in"] = normal(rng, (D, Fm), s)
        W[p + "mlp.b_in"] = normal(rng, (Fm,), 0.1)
        W[p + "mlp.W_out"] = normal(rng, (Fm, D), 1 / math.sqrt(Fm))
        W[p + "mlp.b_out"] = normal(rng, (D,), 0.1)
    W["ln_final.w"] = 1 + normal(rng, (D,), 0.2)
    W["ln_final.b"] = normal(rng, (D,), 0.1)
    W["unembed.W_U"] = normal(rng, (D, d_vocab), s)
    W["unembed.b_U"] = normal(rng, (d_vocab,), 0.1)
    return W


def llama_arrays(rng, bos, dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len):
    """llama2.c's arrays in file order, matrices [out, in]."""
    L, D, Hd = n_layers, dim, hidden_dim
    kv = n_kv_heads * (dim // n_heads)
    s = 1 / math.sqrt(D)
    emb = normal(rng, (vocab_size, D), 1.0)
    emb[bos] *= TINY_BOS
    return {
        "token_embedding": emb,
        "rms_att": 1 + normal(rng, (L, D), 0.2),
        "wq": normal(rng, (L, D, D), 1.5 * s),
        "wk": normal(rng, (L, kv, D), 1.5 * s),
        "wv": normal(rng, (L, kv, D), s),
        "wo": normal(rng, (L, D, D), s),
        "rms_ffn": 1 + normal(rng, (L, D), 0.2),
        "w1": normal(rng, (L, Hd, D), s),
        "w2": normal(rng, (L, D, Hd), 1 / math.sqrt(Hd)),
        "w3": normal(rng, (L, Hd, D), s),
        "rms_final": 1 + normal(rng, (D,), 0.2),
    }


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------

def tl_config_json(name, dtype_name):
    """The keys of a TransformerLens / Neel-style config.json (what convert_neel_model_config
    reads), plus the eps under both spellings."""
    return {
        "model_name": name, "n_layers": GPT["n_layers"], "d_model": GPT["d_model"],
        "d_head": GPT["d_head"], "n_heads": GPT["n_heads"], "d_mlp": GPT["d_mlp"],
        "d_vocab": GPT["d_vocab"], "d_vocab_out": GPT["d_vocab"], "n_ctx": GPT["n_ctx"],
        "act_fn": "gelu", "normalization_type": "LN", "ln_eps": 1e-5,
        "positional_embedding_type": "standard", "attn_only": False, "final_rms": False,
        "shortformer_pos": False, "tokenizer_name": None, "dtype": dtype_name,
        "seed": None, "original_architecture": "neel",
    }


class _Holder(torch.nn.Module):
    """A module with the given parameters and buffers, registered in this order."""

    def __init__(self, params, buffers=None):
        super().__init__()
        for k, v in params.items():
            self.register_parameter(k, torch.nn.Parameter(v.clone(), requires_grad=False))
        for k, v in (buffers or {}).items():
            self.register_buffer(k, v.clone())


def tl_module(W, n_layers, n_ctx):
    """A module tree with HookedTransformer's names and registration order, so that
    state_dict() is what TransformerLens would save (OrderedDict with _metadata)."""
    root = torch.nn.Module()
    root.embed = _Holder({"W_E": W["embed.W_E"]})
    root.pos_embed = _Holder({"W_pos": W["pos_embed.W_pos"]})
    blocks = []
    for l in range(n_layers):
        p = f"blocks.{l}."
        g = lambda *names: {n.split(".")[-1]: W[p + n] for n in names}  # noqa: E731
        b = torch.nn.Module()
        b.ln1 = _Holder(g("ln1.w", "ln1.b"))
        b.ln2 = _Holder(g("ln2.w", "ln2.b"))
        b.attn = _Holder(g("attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O",
                           "attn.b_Q", "attn.b_K", "attn.b_V", "attn.b_O"),
                         {"mask": torch.ones(n_ctx, n_ctx).tril().bool(),
                          "IGNORE": torch.tensor(float("-inf"))})
        b.mlp = _Holder(g("mlp.W_in", "mlp.b_in", "mlp.W_out", "mlp.b_out"))
        blocks.append(b)
    root.blocks = torch.nn.ModuleList(blocks)
    root.ln_final = _Holder({"w": W["ln_final.w"], "b": W["ln_final.b"]})
    root.unembed = _Holder({"W_U": W["unembed.W_U"], "b_U": W["unembed.b_U"]})
    return root


def write_tl_pth(folder, W, dtype, via_path):
    """config.json + model_final.pth = torch.save(state_dict).

    torch 1.13 names the zip's top folder after the file stem ("model_final/") when saving to a
    path and "archive/" when saving to a file object; both occur in published checkpoints.
    """
    os.makedirs(folder)
    dname = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}[dtype]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(tl_config_json(os.path.basename(folder), dname), f, indent=2)
        f.write("\n")
    sd = tl_module(W, GPT["n_layers"], GPT["n_ctx"]).to(dtype).state_dict()
    path = os.path.join(folder, "model_final.pth")
    if via_path:
        torch.save(sd, path)
    else:
        buf = io.BytesIO()
        torch.save(sd, buf)
        with open(path, "wb") as f:
            f.write(buf.getvalue())
    with zipfile.ZipFile(path) as z:
        bad = [i.filename for i in z.infolist() if i.compress_type != zipfile.ZIP_STORED]
        assert not bad, f"torch.save compressed {bad}: memlens's zip reader needs STORED entries"
        prefixes = {n.split("/")[0] for n in z.namelist()}
        assert len(prefixes) == 1, prefixes
    return prefixes.pop()


def write_tl_safetensors(folder, W):
    os.makedirs(folder)
    j = tl_config_json(os.path.basename(folder), "float32")
    j["eps"] = j["ln_eps"]          # HookedTransformerConfig's own name for it
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(j, f, indent=2)
        f.write("\n")
    ref.save_safetensors(os.path.join(folder, "model.safetensors"), W, {"format": "pt"})


def halves_order(d_head, rotary_dim=None):
    """The column order that moves adjacent rotary pairs (2i, 2i+1) of the first rotary_dim
    dims to rotate_half's pairs (i, i + rotary_dim/2); the dims past rotary_dim stay."""
    r = d_head if rotary_dim is None else rotary_dim
    return list(range(0, r, 2)) + list(range(1, r, 2)) + list(range(r, d_head))


def interleaved_to_halves(W, n_layers, d_head, rotary_dim=None):
    """Weights under TL names with q/k columns (and biases) of each head reordered by
    halves_order: rotate_half then rotates what the adjacent pairs rotated, so the attention
    and the logits are the same and the q/k hooks are in the permuted basis."""
    order = halves_order(d_head, rotary_dim)
    W = dict(W)
    for l in range(n_layers):
        for name in ("W_Q", "W_K", "b_Q", "b_K"):
            key = f"blocks.{l}.attn.{name}"
            if key in W:
                W[key] = W[key][..., order].contiguous()
    return W


def write_tl_rotary(folder, W, n_layers, n_kv_heads):
    """A TransformerLens LLaMA as HookedTransformer saves one: rotary with its default rotate_half
    pairs, RMS, gated silu MLP, grouped-query K/V under TL's `_W_K`/`_W_V` names, no biases."""
    os.makedirs(folder)
    j = {"model_name": "tl_rotary", "n_layers": n_layers, "d_model": LLAMA["dim"],
         "d_head": LLAMA["dim"] // LLAMA["n_heads"], "n_heads": LLAMA["n_heads"],
         "d_mlp": LLAMA["hidden_dim"], "d_vocab": LLAMA["vocab_size"],
         "d_vocab_out": LLAMA["vocab_size"], "n_ctx": LLAMA["seq_len"], "act_fn": "silu",
         "gated_mlp": True, "normalization_type": "RMS", "eps": 1e-5, "final_rms": True,
         "positional_embedding_type": "rotary", "rotary_dim": LLAMA["dim"] // LLAMA["n_heads"],
         "rotary_base": 10000.0, "rotary_adjacent_pairs": False,
         "n_key_value_heads": n_kv_heads, "attn_only": False, "bos_token_id": 1,
         "default_prepend_bos": True, "original_architecture": "LlamaForCausalLM"}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(j, f, indent=2)
        f.write("\n")
    stored = {k.replace("attn.W_K", "attn._W_K").replace("attn.W_V", "attn._W_V"): v.float()
              for k, v in W.items()}
    ref.save_safetensors(os.path.join(folder, "model.safetensors"), stored, {"format": "pt"})


# The parallel-block fixtures: TransformerLens's representation of GPT-NeoX (Pythia) and GPT-J.
# Both rotate 4 of each head's 8 dims (two frequencies, so a rotary_dim bug in the frequency
# exponent shows) and run attention and MLP in parallel on resid_pre.
PARALLEL_ROTARY_DIM = 4


def tl_parallel_config(name, arch, **extra):
    """A HookedTransformerConfig as TransformerLens builds it for GPT-NeoX / GPT-J
    (loading_from_pretrained.py: rotary_dim = rotary_pct * d_head for NeoX, rotary_dim for
    GPT-J; parallel_attn_mlp = use_parallel_residual for NeoX, always for GPT-J)."""
    j = {"model_name": name, "n_layers": GPT["n_layers"], "d_model": GPT["d_model"],
         "d_head": GPT["d_head"], "n_heads": GPT["n_heads"], "d_mlp": GPT["d_mlp"],
         "d_vocab": GPT["d_vocab"], "d_vocab_out": GPT["d_vocab"], "n_ctx": GPT["n_ctx"],
         "act_fn": "gelu", "normalization_type": "LN", "eps": 1e-5,
         "positional_embedding_type": "rotary", "rotary_dim": PARALLEL_ROTARY_DIM,
         "rotary_base": 10000, "rotary_adjacent_pairs": False, "parallel_attn_mlp": True,
         "attn_only": False, "use_attn_scale": True, "scale_attn_by_inverse_layer_idx": False,
         "final_rms": False, "default_prepend_bos": True, "tokenizer_name": None,
         "original_architecture": arch}
    j.update(extra)
    return j


def tl_rotary_buffers(j):
    """The float buffers HookedTransformer's rotary attention keeps in its state dict
    (calculate_sin_cos_rotary: rotary_sin/rotary_cos [n_ctx, rotary_dim], frequencies repeated
    "(2 d)" or "(d 2)"; IGNORE = -inf). A loader must skip them. The BOOL `mask` buffer is left
    out: memlens's safetensors reader refuses BOOL tensors."""
    r, half = j["rotary_dim"], j["rotary_dim"] // 2
    freq = j["rotary_base"] ** (torch.arange(half, dtype=torch.float64) / half)
    freq = freq.repeat_interleave(2) if j["rotary_adjacent_pairs"] else freq.repeat(2)
    angles = torch.arange(j["n_ctx"], dtype=torch.float64)[:, None] / freq[None, :r]
    out = {}
    for l in range(j["n_layers"]):
        out[f"blocks.{l}.attn.rotary_sin"] = angles.sin()
        out[f"blocks.{l}.attn.rotary_cos"] = angles.cos()
        out[f"blocks.{l}.attn.IGNORE"] = torch.tensor(float("-inf"))
    return out


def check_tl_apply_rotary(name, j, hooks):
    """TransformerLens's own rotary step, ported from AbstractAttention.apply_rotary and
    rotate_every_two, applied with the stored rotary_sin/rotary_cos tables to hook_q/hook_k,
    must give the reference's hook_rot_q/hook_rot_k."""
    r = j["rotary_dim"]
    tables = tl_rotary_buffers(j)

    def rotate_every_two(x):
        rot = x.clone()
        if j["rotary_adjacent_pairs"]:
            rot[..., ::2], rot[..., 1::2] = -x[..., 1::2], x[..., ::2]
        else:
            n = x.shape[-1] // 2
            rot[..., :n], rot[..., n:] = -x[..., n:], x[..., :n]
        return rot

    for l in range(j["n_layers"]):
        p = f"blocks.{l}.attn."
        sin, cos = tables[p + "rotary_sin"], tables[p + "rotary_cos"]
        for qk in ("q", "k"):
            x = hooks[p + "hook_" + qk]
            T = x.shape[0]
            x_rot, x_pass = x[..., :r], x[..., r:]
            want = torch.cat([x_rot * cos[:T, None, :] + rotate_every_two(x_rot) * sin[:T, None, :],
                              x_pass], dim=-1)
            check_close(f"{name} {p}hook_rot_{qk} vs TL's apply_rotary", hooks[p + "hook_rot_" + qk],
                        want, 1e-12)


def write_tl_config_and_safetensors(folder, j, W):
    """config.json + model.safetensors with TL names and TL's float buffers; with grouped-query
    attention the shared key/value weights go under TL's `_W_K`/`_W_V`/`_b_K`/`_b_V`."""
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(j, f, indent=2)
        f.write("\n")
    if j.get("n_key_value_heads"):
        W = {k.replace("attn.W_K", "attn._W_K").replace("attn.W_V", "attn._W_V")
              .replace("attn.b_K", "attn._b_K").replace("attn.b_V", "attn._b_V"): v
             for k, v in W.items()}
    W = dict(W, **tl_rotary_buffers(j))
    ref.save_safetensors(os.path.join(folder, "model.safetensors"),
                         {k: v.float().contiguous() for k, v in W.items()}, {"format": "pt"})


def tl_to_hf_neox(W, n_layers, n_heads):
    """TransformerLens names -> HF GPT-NeoX (modeling_gpt_neox.py): query_key_value [3D, D] is
    laid out per head (rows h*3*dh .. : q | k | v of head h), Linear weights are [out, in], the
    unembedding is an untied embed_out without bias."""
    out = {"gpt_neox.embed_in.weight": W["embed.W_E"],
           "gpt_neox.final_layer_norm.weight": W["ln_final.w"],
           "gpt_neox.final_layer_norm.bias": W["ln_final.b"],
           "embed_out.weight": W["unembed.W_U"].T}
    for l in range(n_layers):
        p, h = f"blocks.{l}.", f"gpt_neox.layers.{l}."
        out[h + "input_layernorm.weight"], out[h + "input_layernorm.bias"] = W[p + "ln1.w"], W[p + "ln1.b"]
        out[h + "post_attention_layernorm.weight"] = W[p + "ln2.w"]
        out[h + "post_attention_layernorm.bias"] = W[p + "ln2.b"]
        out[h + "attention.query_key_value.weight"] = torch.cat(
            [W[p + f"attn.W_{m}"][i].T for i in range(n_heads) for m in "QKV"])
        out[h + "attention.query_key_value.bias"] = torch.cat(
            [W[p + f"attn.b_{m}"][i] for i in range(n_heads) for m in "QKV"])
        D = W[p + "attn.W_O"].shape[-1]
        out[h + "attention.dense.weight"] = W[p + "attn.W_O"].reshape(-1, D).T
        out[h + "attention.dense.bias"] = W[p + "attn.b_O"]
        out[h + "mlp.dense_h_to_4h.weight"] = W[p + "mlp.W_in"].T
        out[h + "mlp.dense_h_to_4h.bias"] = W[p + "mlp.b_in"]
        out[h + "mlp.dense_4h_to_h.weight"] = W[p + "mlp.W_out"].T
        out[h + "mlp.dense_4h_to_h.bias"] = W[p + "mlp.b_out"]
    return {k: v.contiguous() for k, v in out.items()}


def hf_neox_config(tl):
    """The HF GPT-NeoX config.json of the same model (rotary_pct = rotary_dim / d_head)."""
    return {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
            "vocab_size": tl["d_vocab"], "hidden_size": tl["d_model"],
            "intermediate_size": tl["d_mlp"], "num_hidden_layers": tl["n_layers"],
            "num_attention_heads": tl["n_heads"], "max_position_embeddings": tl["n_ctx"],
            "layer_norm_eps": tl["eps"], "hidden_act": "gelu",
            "rotary_emb_base": tl["rotary_base"], "rotary_pct": tl["rotary_dim"] / tl["d_head"],
            "use_parallel_residual": tl["parallel_attn_mlp"], "tie_word_embeddings": False,
            "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32"}


def tl_to_hf_gpt2(W, n_layers, n_ctx, prefix=""):
    """TransformerLens names -> HF GPT-2 (Conv1D weights [in, out]; c_attn = q | k | v)."""
    D = W["embed.W_E"].shape[1]
    out = {"wte.weight": W["embed.W_E"], "wpe.weight": W["pos_embed.W_pos"],
           "ln_f.weight": W["ln_final.w"], "ln_f.bias": W["ln_final.b"]}
    for l in range(n_layers):
        p, h = f"blocks.{l}.", f"h.{l}."
        out[h + "ln_1.weight"], out[h + "ln_1.bias"] = W[p + "ln1.w"], W[p + "ln1.b"]
        out[h + "ln_2.weight"], out[h + "ln_2.bias"] = W[p + "ln2.w"], W[p + "ln2.b"]
        out[h + "attn.c_attn.weight"] = torch.cat(
            [W[p + f"attn.W_{m}"].permute(1, 0, 2).reshape(D, D) for m in "QKV"], dim=1)
        out[h + "attn.c_attn.bias"] = torch.cat([W[p + f"attn.b_{m}"].reshape(D) for m in "QKV"])
        out[h + "attn.c_proj.weight"] = W[p + "attn.W_O"].reshape(D, D)
        out[h + "attn.c_proj.bias"] = W[p + "attn.b_O"]
        out[h + "mlp.c_fc.weight"], out[h + "mlp.c_fc.bias"] = W[p + "mlp.W_in"], W[p + "mlp.b_in"]
        out[h + "mlp.c_proj.weight"] = W[p + "mlp.W_out"]
        out[h + "mlp.c_proj.bias"] = W[p + "mlp.b_out"]
        # The causal-mask buffer the hub's gpt2 model.safetensors carries (not a weight).
        out[h + "attn.bias"] = torch.ones(n_ctx, n_ctx).tril().reshape(1, 1, n_ctx, n_ctx)
        if prefix:
            out[h + "attn.masked_bias"] = torch.tensor(-1e4)   # older save_pretrained output
    return {prefix + k: v.contiguous() for k, v in out.items()}


def write_hf_gpt2(folder, W, d_mlp, prefix=""):
    os.makedirs(folder)
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
           "attn_pdrop": 0.1, "bos_token_id": GPT["d_vocab"] - 1, "embd_pdrop": 0.1,
           "eos_token_id": GPT["d_vocab"] - 1, "initializer_range": 0.02,
           "layer_norm_epsilon": 1e-5, "model_type": "gpt2", "n_ctx": GPT["n_ctx"],
           "n_embd": GPT["d_model"], "n_head": GPT["n_heads"], "n_layer": GPT["n_layers"],
           "n_positions": GPT["n_ctx"], "resid_pdrop": 0.1, "vocab_size": GPT["d_vocab"]}
    assert d_mlp == 4 * GPT["d_model"]   # no n_inner key: HF's default 4 * n_embd applies
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    ref.save_safetensors(os.path.join(folder, "model.safetensors"),
                         tl_to_hf_gpt2(W, GPT["n_layers"], GPT["n_ctx"], prefix), {"format": "pt"})


def rope_tables(seq_len, head_size, theta=10000.0):
    """llama2.c's freq_cis_real / freq_cis_imag [seq_len, head_size / 2] (readers recompute)."""
    i = np.arange(0, head_size, 2, dtype=np.float64)
    freq = theta ** (-i / head_size)
    ang = np.arange(seq_len, dtype=np.float64)[:, None] * freq[None, :]
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def write_llama2c(path, A, cfg):
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", cfg["dim"], cfg["hidden_dim"], cfg["n_layers"], cfg["n_heads"],
                            cfg["n_kv_heads"], cfg["vocab_size"], cfg["seq_len"]))
        for name in ("token_embedding", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2",
                     "w3", "rms_final"):
            f.write(A[name].numpy().astype("<f4").tobytes())
        for t in rope_tables(cfg["seq_len"], cfg["dim"] // cfg["n_heads"]):
            f.write(t.astype("<f4").tobytes())


# ---------------------------------------------------------------------------------------------
# Second, independent forward passes (checks of tl_reference before trusting it)
# ---------------------------------------------------------------------------------------------

def direct_gpt2_logits(raw, n_layers, n_heads, act, eps):
    """GPT-2 the way HF computes it, from HF-layout tensors, with torch.nn.functional."""
    raw = {k.replace("transformer.", ""): v.double() for k, v in raw.items()}
    wte = raw["wte.weight"]
    T = None

    def run(tokens):
        nonlocal T
        T = len(tokens)
        D = wte.shape[1]
        dh = D // n_heads
        x = wte[tokens] + raw["wpe.weight"][:T]
        mask = torch.full((T, T), float("-inf")).triu(1).double()
        for l in range(n_layers):
            h = f"h.{l}."
            a = F.layer_norm(x, (D,), raw[h + "ln_1.weight"], raw[h + "ln_1.bias"], eps)
            qkv = a @ raw[h + "attn.c_attn.weight"] + raw[h + "attn.c_attn.bias"]
            q, k, v = (t.reshape(T, n_heads, dh).transpose(0, 1) for t in qkv.split(D, dim=1))
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh) + mask, dim=-1)
            y = (att @ v).transpose(0, 1).reshape(T, D)
            x = x + y @ raw[h + "attn.c_proj.weight"] + raw[h + "attn.c_proj.bias"]
            m = F.layer_norm(x, (D,), raw[h + "ln_2.weight"], raw[h + "ln_2.bias"], eps)
            m = F.gelu(m @ raw[h + "mlp.c_fc.weight"] + raw[h + "mlp.c_fc.bias"],
                       approximate="tanh" if act == "gelu_new" else "none")
            x = x + m @ raw[h + "mlp.c_proj.weight"] + raw[h + "mlp.c_proj.bias"]
        x = F.layer_norm(x, (D,), raw["ln_f.weight"], raw["ln_f.bias"], eps)
        return x @ raw.get("lm_head.weight", wte).T + raw.get("unembed.b_U", 0)
    return run


def direct_llama2c_logits(path):
    """A token-at-a-time port of llama2.c's run.c algorithm (KV cache, rotary from the file's
    own freq_cis tables, GQA via kv_mul), in numpy float64, from the raw .bin arrays."""
    data = open(path, "rb").read()
    dim, hidden, L, H, KVH, V, seq = struct.unpack("<7i", data[:28])
    a = np.frombuffer(data, "<f4", offset=28).astype(np.float64)
    hs, kv_dim, kv_mul = dim // H, dim // H * KVH, H // KVH
    sizes = [("emb", V * dim), ("rms_att", L * dim), ("wq", L * dim * dim),
             ("wk", L * kv_dim * dim), ("wv", L * kv_dim * dim), ("wo", L * dim * dim),
             ("rms_ffn", L * dim), ("w1", L * hidden * dim), ("w2", L * dim * hidden),
             ("w3", L * hidden * dim), ("rms_final", dim), ("fcr", seq * hs // 2),
             ("fci", seq * hs // 2)]
    w, o = {}, 0
    for n, s in sizes:
        w[n] = a[o:o + s]
        o += s
    emb = w["emb"].reshape(V, dim)
    wq, wk = w["wq"].reshape(L, dim, dim), w["wk"].reshape(L, kv_dim, dim)
    wv, wo = w["wv"].reshape(L, kv_dim, dim), w["wo"].reshape(L, dim, dim)
    w1, w2, w3 = (w["w1"].reshape(L, hidden, dim), w["w2"].reshape(L, dim, hidden),
                  w["w3"].reshape(L, hidden, dim))
    fcr, fci = w["fcr"].reshape(seq, hs // 2), w["fci"].reshape(seq, hs // 2)

    def rmsnorm(x, g):
        return g * x / np.sqrt(np.mean(x * x) + 1e-5)

    def run(tokens):
        kc, vc = np.zeros((L, seq, kv_dim)), np.zeros((L, seq, kv_dim))
        out = []
        for pos, tok in enumerate(tokens):
            x = emb[tok].copy()
            for l in range(L):
                xb = rmsnorm(x, w["rms_att"].reshape(L, dim)[l])
                q, k, v = wq[l] @ xb, wk[l] @ xb, wv[l] @ xb
                for i in range(0, dim, 2):
                    c, s_ = fcr[pos, (i % hs) // 2], fci[pos, (i % hs) // 2]
                    for vec in ((q, k) if i < kv_dim else (q,)):
                        v0, v1 = vec[i], vec[i + 1]
                        vec[i], vec[i + 1] = v0 * c - v1 * s_, v0 * s_ + v1 * c
                kc[l, pos], vc[l, pos] = k, v
                att_out = np.zeros(dim)
                for h in range(H):
                    qh = q[h * hs:(h + 1) * hs]
                    kvh = (h // kv_mul) * hs
                    sc = kc[l, :pos + 1, kvh:kvh + hs] @ qh / math.sqrt(hs)
                    sc = np.exp(sc - sc.max())
                    sc /= sc.sum()
                    att_out[h * hs:(h + 1) * hs] = sc @ vc[l, :pos + 1, kvh:kvh + hs]
                x = x + wo[l] @ att_out
                xb = rmsnorm(x, w["rms_ffn"].reshape(L, dim)[l])
                h1, h3 = w1[l] @ xb, w3[l] @ xb
                x = x + w2[l] @ (h1 / (1 + np.exp(-h1)) * h3)
            out.append(emb @ rmsnorm(x, w["rms_final"]))
        return torch.from_numpy(np.stack(out))
    return run


# ---------------------------------------------------------------------------------------------
# Expected values
# ---------------------------------------------------------------------------------------------

def expected_tensors(cfg, W, tokens):
    logits, hooks = ref.forward(cfg, W, tokens, dtype=torch.float64)
    out = {k: v.to(torch.float32) for k, v in hooks.items()}
    out["logits"] = logits.to(torch.float32)
    out["tokens"] = torch.tensor(tokens, dtype=torch.float32)   # ids < 2^24: exact in F32
    return out, logits, hooks


def float32_error(cfg, W, tokens, want):
    """Runs the same reference in float32 and returns per-hook error relative to the largest
    finite |value| of the hook: what a correct float32 implementation should show."""
    logits, hooks = ref.forward(cfg, {k: v.float() for k, v in W.items()}, tokens,
                                dtype=torch.float32)
    hooks = dict(hooks, logits=logits)
    res = {}
    for k, got in hooks.items():
        w64 = want[k]
        fin = torch.isfinite(w64)
        assert torch.equal(fin, torch.isfinite(got.double())), k
        d = (got.double() - w64)[fin].abs()
        scale = w64[fin].abs().max().clamp_min(1e-30)
        used = (d / (ATOL_REL * scale + RTOL * w64[fin].abs())).max().item()
        assert used < 0.5, f"{k}: a float32 run uses {used:.2f} of the recommended tolerance"
        res[k] = (d.max() / scale).item(), used
    return res


def write_expected(folder, name, cfg, W, prompts, bos, notes, errors, prefix="expected"):
    for i, toks in enumerate(prompts):
        out, logits, hooks = expected_tensors(cfg, W, toks)
        ref.save_safetensors(os.path.join(folder, f"{prefix}_{i}.safetensors"), out, {
            "fixture": name, "prompt": str(i), "tokens": " ".join(map(str, toks)),
            "bos_token_id": str(bos), "tokens_dtype": "F32 (exact token ids)",
            "computed_by": "tools/tl_reference.py, float64 from the stored weights, rounded to F32",
            **notes})
        want = dict(hooks, logits=logits)
        for k, v in float32_error(cfg, W, toks, want).items():
            e = errors.setdefault(k.split(".", 2)[-1] if k.startswith("blocks.") else k, [0, 0])
            e[0], e[1] = max(e[0], v[0]), max(e[1], v[1])


def write_processed(folder, name, cfg, W, prompts, errors):
    """TransformerLens's default processing of a parallel-block fixture, as tl_safetensors/ has
    it: fold_ln folds ln2 into W_in as in a sequential block (TransformerLens's fold_layer_norm
    has no parallel case); fold_value_biases repeats each shared value bias over its query
    heads (GQA). The weights are saved under the plain names (W_K, not _W_K)."""
    pcfg, PW = ref.process_weights(cfg, {k: v.double() for k, v in W.items()})
    notes = {"processing": "fold_ln+center_writing+center_unembed+fold_value_biases",
             "normalization_type": "LNPre"}
    ref.save_safetensors(os.path.join(folder, "processed_expected.safetensors"),
                         {k: v.float() for k, v in PW.items()},
                         dict(notes, computed_by="tools/tl_reference.py process_weights, float64 "
                                                 "from the F32 weights, rounded to F32"))
    write_expected(folder, name + " processed", pcfg, PW, prompts, 0, notes, errors,
                   prefix="processed_hooks")


# The comparison every C++ test of these fixtures should use (derivation in README.md): per
# tensor T, |got - want| <= ATOL_REL * max_finite|want_T| + RTOL * |want| elementwise, and the
# -inf entries of hook_attn_scores must be -inf in both.
ATOL_REL, RTOL = 1e-5, 1e-5


def write_manifest(out, tl_prompts, hf_prompts, llama_prompts, parallel_prompts):
    """tests/fixtures/manifest.json: what each folder holds, for data-driven C++ tests."""
    def exp(prefix="expected"):
        return [f"{prefix}_{i}.safetensors" for i in range(len(PROMPT_LENGTHS))]
    tl = dict(family="gpt", norm="LN", act_fn="gelu", bos_token_id=0, prompts=tl_prompts,
              expected=exp(), config="config.json")
    m = {
        "generator": "/usr/bin/python3 tools/make_fixtures.py",
        "tolerance": {"atol_relative_to_tensor_max": ATOL_REL, "rtol": RTOL,
                      "rule": "|got-want| <= atol_relative_to_tensor_max * max_finite|want| "
                              "+ rtol * |want|; -inf entries must match exactly"},
        "tokens_key_dtype": "F32",
        "fixtures": {
            "tl_pth": dict(tl, format="tl-pth", model="model_final.pth", weights_dtype="float32",
                           zip_top_folder="model_final"),
            "tl_pth_f16": dict(tl, format="tl-pth", model="model_final.pth",
                               weights_dtype="float16", zip_top_folder="archive"),
            "tl_pth_bf16": dict(tl, format="tl-pth", model="model_final.pth",
                                weights_dtype="bfloat16", zip_top_folder="model_final"),
            "tl_safetensors": dict(tl, format="tl-safetensors", model="model.safetensors",
                                   weights_dtype="float32",
                                   processed_weights="processed_expected.safetensors",
                                   processed_expected=exp("processed_hooks")),
            "hf_gpt2": dict(family="gpt", norm="LN", act_fn="gelu_new", format="hf-gpt2",
                            model="model.safetensors", config="config.json",
                            weights_dtype="float32", key_prefix="", bos_token_id=GPT["d_vocab"] - 1,
                            prompts=hf_prompts, expected=exp()),
            "hf_gpt2_prefixed": dict(family="gpt", norm="LN", act_fn="gelu_new",
                                     format="hf-gpt2", model="model.safetensors",
                                     config="config.json", weights_dtype="float32",
                                     key_prefix="transformer.", bos_token_id=GPT["d_vocab"] - 1,
                                     prompts=hf_prompts,
                                     expected=["../hf_gpt2/" + e for e in exp()]),
            "llama": dict(family="llama", norm="RMS", act_fn="silu (SwiGLU)", format="llama2c",
                          model="model.bin", weights_dtype="float32", bos_token_id=1,
                          rotary="adjacent pairs (2i, 2i+1)", prompts=llama_prompts,
                          expected=exp()),
            "tl_rotary": dict(family="llama", norm="RMS", act_fn="silu (SwiGLU)",
                              format="tl-safetensors", model="model.safetensors",
                              config="config.json", weights_dtype="float32", bos_token_id=1,
                              rotary="rotate_half (i, i+dh/2)", prompts=llama_prompts,
                              expected=exp()),
            "tl_pythia": dict(family="gpt-neox", norm="LN", act_fn="gelu",
                              format="tl-safetensors", model="model.safetensors",
                              config="config.json", weights_dtype="float32", bos_token_id=0,
                              rotary=f"rotate_half on the first {PARALLEL_ROTARY_DIM} dims",
                              parallel_attn_mlp=True, prompts=parallel_prompts, expected=exp(),
                              processed_weights="processed_expected.safetensors",
                              processed_expected=exp("processed_hooks"),
                              hf_twin="tl_pythia_hf"),
            "tl_pythia_hf": dict(family="gpt-neox", format="hf-gpt-neox-safetensors",
                                 model="model.safetensors", config="config.json",
                                 weights_dtype="float32", bos_token_id=0,
                                 prompts=parallel_prompts,
                                 expected=["../tl_pythia/" + e for e in exp()]),
            "tl_gptj": dict(family="gpt-j", norm="LN", act_fn="gelu_new",
                            format="tl-safetensors", model="model.safetensors",
                            config="config.json", weights_dtype="float32", bos_token_id=0,
                            rotary=f"adjacent pairs on the first {PARALLEL_ROTARY_DIM} dims",
                            parallel_attn_mlp=True, n_key_value_heads=2,
                            prompts=parallel_prompts, expected=exp(),
                            processed_weights="processed_expected.safetensors",
                            processed_expected=exp("processed_hooks")),
        },
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(m, f, indent=1)
        f.write("\n")


def check_close(name, got, want, tol=1e-9):
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"  check {name}: max |diff| / max |value| = {err:.2e}")
    assert err < tol, f"{name}: independent forward passes disagree ({err:.2e})"


def bug_signatures(out):
    """How far plausible subtle bugs move the values (the README's table): each must exceed
    the tolerance for the fixtures to catch it."""
    print("\nsize of plausible bugs (max |change| / max |value|, prompt 1):")
    for name in ("tl_pth", "hf_gpt2", "llama/model.bin", "tl_pythia", "tl_gptj"):
        cfg, W = ref.load_model(os.path.join(out, name))
        exp, _ = ref.load_safetensors(os.path.join(out, name.split("/")[0], "expected_1.safetensors"))
        toks = [int(t) for t in exp["tokens"]]
        lo, ho = ref.forward(cfg, W, toks)
        ho["logits"] = lo
        bugs = {"other GELU": dataclasses.replace(
                    cfg, act_fn={"gelu": "gelu_new", "gelu_new": "gelu"}.get(cfg.act_fn, cfg.act_fn)),
                "attn_scale * 1.001": dataclasses.replace(cfg, attn_scale=cfg.attn_scale * 1.001),
                "eps 1e-6": dataclasses.replace(cfg, eps=1e-6),
                "eps 1.1e-5": dataclasses.replace(cfg, eps=1.1e-5),
                "rope theta 10001": dataclasses.replace(cfg, rope_theta=10001.0),
                "parallel ignored": dataclasses.replace(cfg, parallel_attn_mlp=False),
                "rotary_dim ignored": dataclasses.replace(cfg, rotary_dim=cfg.d_head),
                "other rotary pairs": dataclasses.replace(
                    cfg, rotary_adjacent_pairs=not cfg.rotary_adjacent_pairs)}
        for bug, bcfg in bugs.items():
            rotary_bug = bug.startswith("rope") or "rotary" in bug
            if bcfg == cfg or (rotary_bug and cfg.positional_embedding_type != "rotary"):
                continue
            lb, hb = ref.forward(bcfg, W, toks)
            hb["logits"] = lb
            e = {}
            for k, v in ho.items():
                fin = torch.isfinite(v)
                e[k] = ((hb[k] - v)[fin].abs().max() / v[fin].abs().max()).item()
            nz = [x for x in e.values() if x > 0]
            print(f"  {name:16s} {bug:20s} logits {e['logits']:.1e}  hooks {min(nz):.1e}..{max(nz):.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "tests", "fixtures"))
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    for d in ("tl_pth", "tl_pth_f16", "tl_pth_bf16", "tl_safetensors", "hf_gpt2",
              "hf_gpt2_prefixed", "llama", "tl_rotary", "tl_pythia", "tl_pythia_hf", "tl_gptj"):
        if os.path.exists(os.path.join(out, d)):
            shutil.rmtree(os.path.join(out, d))
    os.makedirs(out, exist_ok=True)

    def prompts(bos, vocab):
        return [[bos] + rng.integers(0, vocab, n - 1).tolist() for n in PROMPT_LENGTHS]

    errors = {}

    # --- TransformerLens checkpoints (gelu-4l family: erf GELU, LN, learned positions) -------
    W = gpt_weights(rng, 0, **GPT)
    tl_prompts = prompts(0, GPT["d_vocab"])   # BOS 0: <|endoftext|> of gelu-4l's tokenizer
    for folder, dtype, via_path in (("tl_pth", torch.float32, True),
                                    ("tl_pth_f16", torch.float16, False),
                                    ("tl_pth_bf16", torch.bfloat16, True)):
        path = os.path.join(out, folder)
        top = write_tl_pth(path, W, dtype, via_path)
        cfg, Wl = ref.load_tl_folder(path)
        assert all(v.dtype == dtype for v in Wl.values())
        if dtype == torch.float32:
            assert all(torch.equal(Wl[k], W[k]) for k in W)
        print(f"{folder}: zip top folder {top}/, all entries STORED")
        hf = tl_to_hf_gpt2({k: v.double() for k, v in Wl.items()}, GPT["n_layers"], GPT["n_ctx"])
        hf["lm_head.weight"] = Wl["unembed.W_U"].double().T   # TL's unembed is not tied
        hf["unembed.b_U"] = Wl["unembed.b_U"].double()
        direct = direct_gpt2_logits(hf, GPT["n_layers"], GPT["n_heads"], "gelu", 1e-5)
        for t in tl_prompts:
            check_close(f"{folder} logits vs HF-style pass", ref.forward(cfg, Wl, t)[0], direct(t))
        write_expected(path, folder, cfg, Wl, tl_prompts, 0,
                       {"weights_dtype": str(dtype).replace("torch.", "")}, errors)

    # --- TransformerLens-named safetensors, and TransformerLens's processed weights -----------
    path = os.path.join(out, "tl_safetensors")
    write_tl_safetensors(path, W)
    cfg, Wl = ref.load_tl_folder(path)
    write_expected(path, "tl_safetensors", cfg, Wl, tl_prompts, 0, {}, errors)
    pcfg, PW = ref.process_weights(cfg, {k: v.double() for k, v in Wl.items()})
    ref.save_safetensors(os.path.join(path, "processed_expected.safetensors"),
                         {k: v.float() for k, v in PW.items()},
                         {"processing": "fold_ln+center_writing+center_unembed+fold_value_biases",
                          "normalization_type": "LNPre",
                          "computed_by": "tools/tl_reference.py process_weights, float64 from the "
                                         "F32 weights, rounded to F32"})
    write_expected(path, "tl_safetensors processed", pcfg, PW, tl_prompts, 0,
                   {"processing": "fold_ln+center_writing+center_unembed+fold_value_biases",
                    "normalization_type": "LNPre"}, errors, prefix="processed_hooks")
    for t in tl_prompts:   # what processing must (not) change
        lo, ho = ref.forward(cfg, Wl, t)
        lp, hp = ref.forward(pcfg, PW, t)
        shift = lp - lo
        check_close("processed logits - logits is constant per position",
                    shift, shift.mean(-1, keepdim=True).expand_as(shift), 1e-12)
        check_close("processed pattern", hp["blocks.1.attn.hook_pattern"],
                    ho["blocks.1.attn.hook_pattern"])
        r = ho["blocks.1.hook_resid_post"]
        check_close("processed resid_post = centered resid_post",
                    hp["blocks.1.hook_resid_post"], r - r.mean(-1, keepdim=True))

    # --- HF GPT-2 (gelu_new, d_mlp = 4 * d_model as HF's n_inner default) ---------------------
    hf_dims = dict(GPT, d_mlp=4 * GPT["d_model"])
    bos = GPT["d_vocab"] - 1                     # GPT-2's <|endoftext|> is the last id (50256)
    Wh = gpt_weights(rng, bos, **hf_dims)
    hf_prompts = prompts(bos, GPT["d_vocab"])
    path = os.path.join(out, "hf_gpt2")
    write_hf_gpt2(path, Wh, hf_dims["d_mlp"])
    write_hf_gpt2(os.path.join(out, "hf_gpt2_prefixed"), Wh, hf_dims["d_mlp"], "transformer.")
    cfg, Wl = ref.load_hf_gpt2_folder(path)
    cfg2, Wl2 = ref.load_hf_gpt2_folder(os.path.join(out, "hf_gpt2_prefixed"))
    assert cfg == cfg2 and all(torch.equal(Wl[k], Wl2[k]) for k in Wl)
    raw, _ = ref.load_safetensors(os.path.join(path, "model.safetensors"))
    direct = direct_gpt2_logits(raw, GPT["n_layers"], GPT["n_heads"], "gelu_new", 1e-5)
    for t in hf_prompts:
        check_close("hf_gpt2 logits vs HF-style pass", ref.forward(cfg, Wl, t)[0], direct(t))
    write_expected(path, "hf_gpt2", cfg, Wl, hf_prompts, bos, {}, errors)

    # --- llama2.c legacy .bin (RMSNorm, rotary, GQA, SwiGLU, tied classifier) -----------------
    A = llama_arrays(rng, 1, **LLAMA)
    path = os.path.join(out, "llama", "model.bin")
    write_llama2c(path, A, LLAMA)
    cfg, Wl = ref.load_llama2c(path)
    llama_prompts = prompts(1, LLAMA["vocab_size"])   # llama2.c's BOS is 1
    direct = direct_llama2c_logits(path)
    for t in llama_prompts:   # the direct pass rotates with the file's float32 cos/sin tables
        check_close("llama logits vs llama2.c-style pass", ref.forward(cfg, Wl, t)[0], direct(t),
                    1e-6)
    write_expected(os.path.dirname(path), "llama", cfg, Wl, llama_prompts, 1, {}, errors)

    # --- TransformerLens rotary checkpoint (rotate_half, GQA names): llama's model permuted ----
    path = os.path.join(out, "tl_rotary")
    write_tl_rotary(path, interleaved_to_halves(Wl, cfg.n_layers, cfg.d_head), cfg.n_layers,
                    cfg.n_kv_heads)
    rcfg, Wr = ref.load_tl_folder(path)
    assert not rcfg.rotary_adjacent_pairs and rcfg.n_kv_heads == cfg.n_kv_heads
    for t in llama_prompts:   # the same attention as llama2.c's pairs on the unpermuted weights
        check_close("tl_rotary logits vs llama2.c-style pass", ref.forward(rcfg, Wr, t)[0],
                    direct(t), 1e-6)
        _, hr = ref.forward(rcfg, Wr, t)
        _, hl = ref.forward(cfg, Wl, t)
        order = list(range(0, cfg.d_head, 2)) + list(range(1, cfg.d_head, 2))
        for h in ("hook_q", "hook_rot_q", "hook_rot_k"):
            check_close(f"tl_rotary {h} = llama's permuted", hr["blocks.1.attn." + h],
                        hl["blocks.1.attn." + h][..., order], 1e-12)
    write_expected(path, "tl_rotary", rcfg, Wr, llama_prompts, 1, {}, errors)

    # --- TransformerLens GPT-NeoX (Pythia): partial rotate_half rotary, parallel blocks -------
    # TransformerLens's convert_neox_weights gives a zero b_U (NeoX's embed_out has no bias).
    W = gpt_weights(rng, 0, **GPT)
    del W["pos_embed.W_pos"]
    W["unembed.b_U"] = torch.zeros(GPT["d_vocab"])
    parallel_prompts = prompts(0, GPT["d_vocab"])
    path = os.path.join(out, "tl_pythia")
    j = tl_parallel_config("tl_pythia", "GPTNeoXForCausalLM")
    write_tl_config_and_safetensors(path, j, W)
    pcfg_, Wp = ref.load_tl_folder(path)
    assert pcfg_.parallel_attn_mlp and pcfg_.rotary_dim == PARALLEL_ROTARY_DIM
    # The same weights as an HF GPT-NeoX folder, and HF's computation of them
    # (tools/make_hf_fixtures.py's neox_forward, written from modeling_gpt_neox.py) must give
    # every hook of the TransformerLens reference.
    import make_hf_fixtures as hfx   # noqa: E402 (its module-level seed does not affect this)
    hf_path = os.path.join(out, "tl_pythia_hf")
    os.makedirs(hf_path)
    hcfg = hf_neox_config(j)
    with open(os.path.join(hf_path, "config.json"), "w") as f:
        json.dump(hcfg, f, indent=2)
        f.write("\n")
    hf_weights = tl_to_hf_neox(Wp, GPT["n_layers"], GPT["n_heads"])
    ref.save_safetensors(os.path.join(hf_path, "model.safetensors"), hf_weights, {"format": "pt"})
    for t in parallel_prompts:
        hooks_hf = {}
        logits_hf = hfx.neox_forward(hcfg, {k: v.double() for k, v in hf_weights.items()}, t,
                                     hooks_hf)
        logits_tl, hooks_tl = ref.forward(pcfg_, Wp, t)
        check_close("tl_pythia logits vs HF GPT-NeoX pass", logits_tl, logits_hf)
        assert set(hooks_tl) == set(hooks_hf) - {f"blocks.{l}.hook_v_input" for l in range(2)}
        assert not any(k.endswith("hook_resid_mid") for k in hooks_tl)
        for k in sorted(hooks_tl):
            fin = torch.isfinite(hooks_tl[k])
            assert torch.equal(fin, torch.isfinite(hooks_hf[k])), k
            err = ((hooks_tl[k] - hooks_hf[k])[fin].abs().max() / hooks_hf[k][fin].abs().max()).item()
            assert err < 1e-12, f"tl_pythia {k}: TL and HF references disagree ({err:.2e})"
        print("  check tl_pythia: every hook equals the HF GPT-NeoX pass's")
        check_tl_apply_rotary("tl_pythia", j, hooks_tl)
    write_expected(path, "tl_pythia", pcfg_, Wp, parallel_prompts, 0, {}, errors)
    write_processed(path, "tl_pythia", pcfg_, Wp, parallel_prompts, errors)

    # --- TransformerLens GPT-J style: adjacent-pair partial rotary, parallel blocks, GQA -------
    W = gpt_weights(rng, 0, **GPT)
    del W["pos_embed.W_pos"]
    kvh = 2
    for l in range(GPT["n_layers"]):
        for name in ("W_K", "W_V", "b_K", "b_V"):
            W[f"blocks.{l}.attn.{name}"] = W[f"blocks.{l}.attn.{name}"][:kvh].contiguous()
    path = os.path.join(out, "tl_gptj")
    jj = tl_parallel_config("tl_gptj", "GPTJForCausalLM", act_fn="gelu_new",
                            rotary_adjacent_pairs=True, n_key_value_heads=kvh)
    write_tl_config_and_safetensors(path, jj, W)
    jcfg, Wj = ref.load_tl_folder(path)
    assert jcfg.rotary_adjacent_pairs and jcfg.parallel_attn_mlp and jcfg.n_kv_heads == kvh
    # Adjacent pairs are rotate_half on permuted q/k columns (the rotated dims only).
    hcfg_ = dataclasses.replace(jcfg, rotary_adjacent_pairs=False)
    Wh_ = interleaved_to_halves(Wj, GPT["n_layers"], GPT["d_head"], PARALLEL_ROTARY_DIM)
    order = halves_order(GPT["d_head"], PARALLEL_ROTARY_DIM)
    for t in parallel_prompts:
        lj, hj = ref.forward(jcfg, Wj, t)
        lh, hh = ref.forward(hcfg_, Wh_, t)
        check_close("tl_gptj logits vs rotate_half on permuted q/k", lj, lh, 1e-12)
        check_tl_apply_rotary("tl_gptj", jj, hj)
        for h in ("hook_rot_q", "hook_rot_k"):
            check_close(f"tl_gptj {h} permuted", hh["blocks.1.attn." + h],
                        hj["blocks.1.attn." + h][..., order], 1e-12)
    write_expected(path, "tl_gptj", jcfg, Wj, parallel_prompts, 0, {}, errors)
    write_processed(path, "tl_gptj", jcfg, Wj, parallel_prompts, errors)

    write_manifest(out, tl_prompts, hf_prompts, llama_prompts, parallel_prompts)

    print("\nfloat32 run of the same reference vs the float64 expected values:")
    print(f"  {'hook':40s} {'max|d|/max|v|':>14s} {'fraction of tolerance used':>26s}")
    for k, (a, b) in sorted(errors.items(), key=lambda kv: -kv[1][0]):
        print(f"  {k:40s} {a:14.2e} {b:26.2e}")
    bug_signatures(out)
    total = 0
    for d in sorted(os.listdir(out)):
        if os.path.isdir(os.path.join(out, d)):
            size = sum(os.path.getsize(os.path.join(out, d, f)) for f in os.listdir(os.path.join(out, d)))
            total += size
            assert size < 1 << 20, f"{d} is {size} bytes"
            print(f"{d:20s} {size:8d} bytes")
    print(f"{'total':20s} {total:8d} bytes")


if __name__ == "__main__":
    main()
