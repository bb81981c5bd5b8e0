#!/usr/bin/env python3
"""An independent, readable float64 reference of TransformerLens forward semantics.

memlens's C++ forward pass is tested against values computed here. This file is written from
the math (TransformerLens's documented semantics), not by importing transformer_lens, so that a
mistake has to be made twice, independently, to go unnoticed.

Two model families, one function (`forward`), branching on the config like memlens does:
  * GPT-2 / gelu-4l: pre-LayerNorm with biases, learned positions, GELU (exact erf: "gelu";
    tanh approximation: "gelu_new"), biases everywhere.
  * LLaMA: RMSNorm, rotary positions (TransformerLens's default pairs each head's dims i and
    i + dh/2, "rotate_half"; llama2.c, and TransformerLens with rotary_adjacent_pairs, pair
    2i and 2i+1), grouped-query attention (query head h reads key/value head h // (n_heads / n_kv_heads)), SwiGLU MLP,
    no biases.
  * GPT-NeoX / Pythia and GPT-J as TransformerLens represents them: partial rotary
    (rotary_dim < d_head) and parallel blocks (parallel_attn_mlp), written from
    transformer_lens/components/abstract_attention.py and transformer_block.py:
      - calculate_sin_cos_rotary: freq_i = rotary_base^(i / (rotary_dim/2)) for i < rotary_dim/2,
        angle = pos / freq_i; repeated "(2 d)" (halves) or "(d 2)" (rotary_adjacent_pairs);
      - apply_rotary: only x[..., :rotary_dim] is rotated, x_rot * cos + rotate_every_two(x_rot)
        * sin, and x[..., rotary_dim:] passes through (hook_rot_q/hook_rot_k hold the whole
        head); rotate_every_two is rotate_half over the first rotary_dim dims by default and
        (x0, x1) -> (-x1, x0) on adjacent pairs with rotary_adjacent_pairs;
      - TransformerBlock.forward with parallel_attn_mlp: attn_out = attn(ln1(resid_pre)),
        mlp_out = mlp(ln2(resid_pre)) (ln2, not ln1: TransformerLens ties them for GPT-J by
        copying the weights, GPT-NeoX has two), resid_post = resid_pre + attn_out + mlp_out, and
        the block has no hook_resid_mid.

Weights are a dict of torch tensors under TransformerLens names and shapes:
  embed.W_E [V, D]   pos_embed.W_pos [n_ctx, D]
  blocks.{l}.ln1.w|b, ln2.w|b [D]                       (no .b for RMSNorm)
  blocks.{l}.attn.W_Q [H, D, dh]  W_K, W_V [KVH, D, dh]  W_O [H, dh, D]
  blocks.{l}.attn.b_Q [H, dh]     b_K, b_V [KVH, dh]     b_O [D]
  blocks.{l}.mlp.W_in [D, F]  W_gate [D, F] (SwiGLU)  b_in [F]  W_out [F, D]  b_out [D]
  ln_final.w|b [D]   unembed.W_U [D, V]  b_U [V]
A missing bias is treated as zero. (TransformerLens names GQA's K/V weights `_W_K`/`_W_V`;
load_tl_folder reads those under the plain names used everywhere here.)
Hook points as TransformerLens: attn.hook_q/hook_k before rotary, attn.hook_rot_q/hook_rot_k
after it (rotary models only).

Also here: TransformerLens's default weight processing (fold_ln, center_writing_weights,
center_unembed, fold_value_biases), readers for the model formats the fixtures use, and a
minimal safetensors reader/writer (the `safetensors` package is not needed).

Command line (handy when debugging the C++ side against a real model):
  /usr/bin/python3 tools/tl_reference.py MODEL_DIR_OR_FILE --tokens 1,303,281 \
      [--hook blocks.0.attn.hook_pattern] [--out hooks.safetensors]
"""

import argparse
import dataclasses
import json
import math
import os
import struct
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

Weights = Dict[str, torch.Tensor]


@dataclasses.dataclass
class Config:
    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    d_mlp: int
    d_vocab: int
    n_ctx: int
    n_kv_heads: Optional[int] = None   # None: same as n_heads
    norm: str = "LN"                   # "LN", "LNPre" (LN without w, b: after fold_ln), "RMS"
    act_fn: str = "gelu"               # "gelu" (erf), "gelu_new" (tanh), "silu" (with gated_mlp)
    gated_mlp: bool = False            # SwiGLU: W_out(act(x W_gate) * (x W_in))
    positional_embedding_type: str = "standard"   # "standard" (learned) or "rotary"
    eps: float = 1e-5
    attn_scale: Optional[float] = None  # scores are divided by this; None: sqrt(d_head)
    rope_theta: float = 10000.0
    rotary_adjacent_pairs: bool = False  # TransformerLens's default: rotate_half pairs (i, i+dh/2)
    rotary_dim: Optional[int] = None   # rotated dims per head (the first ones); None: d_head
    parallel_attn_mlp: bool = False     # attention and MLP both read resid_pre (GPT-J, NeoX)

    def __post_init__(self):
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.attn_scale is None:
            self.attn_scale = math.sqrt(self.d_head)
        if self.rotary_dim is None:
            self.rotary_dim = self.d_head


# ---------------------------------------------------------------------------------------------
# The forward pass
# ---------------------------------------------------------------------------------------------

def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    # GPT-2's "gelu_new".
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + torch.exp(-x))


def _norm(cfg: Config, x, w, b, name: str, hooks: Dict[str, torch.Tensor]):
    """TransformerLens LayerNorm / LayerNormPre / RMSNorm with their two hook points.

    LN:  x_c = x - mean(x); scale = sqrt(mean(x_c^2) + eps); normalized = x_c / scale * w + b
    LNPre (after fold_ln): normalized = x_c / scale
    RMS: scale = sqrt(mean(x^2) + eps); normalized = x / scale; the output is normalized * w
         (TransformerLens applies w after hook_normalized for RMSNorm).
    """
    if cfg.norm in ("LN", "LNPre"):
        x = x - x.mean(-1, keepdim=True)
    scale = (x.pow(2).mean(-1, keepdim=True) + cfg.eps).sqrt()
    hooks[name + ".hook_scale"] = scale
    x = x / scale
    if cfg.norm == "LN":
        x = x * w + b
        hooks[name + ".hook_normalized"] = x
        return x
    hooks[name + ".hook_normalized"] = x
    if cfg.norm == "RMS":
        return x * w
    if cfg.norm == "LNPre":
        return x
    raise ValueError(f"unknown norm {cfg.norm!r}")


def rotary(x, theta: float, adjacent_pairs: bool, rotary_dim: Optional[int] = None):
    """Rotates the first r = rotary_dim (default: all dh) dims of each head of x [T, n, dh]; the
    rest pass through. Pair i turns by pos * theta^(-2i/r). The pairs are (2i, 2i+1) when
    adjacent_pairs (llama2.c, GPT-J), else (i, i + r/2): TransformerLens's and HF's
    x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[r/2:r], x[:r/2])."""
    T, _, dh = x.shape
    r = dh if rotary_dim is None else rotary_dim
    x, x_pass = x[..., :r], x[..., r:]
    pos = torch.arange(T, dtype=x.dtype)
    freq = theta ** (-torch.arange(0, r, 2, dtype=x.dtype) / r)         # [r/2]
    angle = pos[:, None] * freq[None, :]                                  # [T, r/2]
    cos, sin = torch.cos(angle)[:, None, :], torch.sin(angle)[:, None, :]
    if adjacent_pairs:
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).reshape(x.shape)
    else:
        cos, sin = torch.cat([cos, cos], dim=-1), torch.cat([sin, sin], dim=-1)
        rotate_half = torch.cat([-x[..., r // 2:], x[..., :r // 2]], dim=-1)
        out = x * cos + rotate_half * sin
    return torch.cat([out, x_pass], dim=-1)


def _bias(W: Weights, name: str, shape, dtype):
    t = W.get(name)
    return torch.zeros(shape, dtype=dtype) if t is None else t.to(dtype)


def forward(cfg: Config, weights: Weights, tokens: List[int],
            dtype=torch.float64) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Returns (logits [T, d_vocab], every hook of core/model/forward.h), computed in `dtype`."""
    W = {k: v.to(dtype) for k, v in weights.items()}
    D, H, KVH, dh, T = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.d_head, len(tokens)
    if not 0 < T <= cfg.n_ctx:
        raise ValueError(f"{T} tokens but n_ctx is {cfg.n_ctx}")
    hooks: Dict[str, torch.Tensor] = {}
    tok = torch.tensor(tokens, dtype=torch.long)

    resid = W["embed.W_E"][tok]
    hooks["hook_embed"] = resid
    if cfg.positional_embedding_type == "standard":
        pos = W["pos_embed.W_pos"][:T]
        hooks["hook_pos_embed"] = pos
        resid = resid + pos

    causal = torch.ones(T, T).tril().bool()         # [q, k]: key position <= query position
    for l in range(cfg.n_layers):
        p = f"blocks.{l}."
        hooks[p + "hook_resid_pre"] = resid

        # Attention.
        x = _norm(cfg, resid, W.get(p + "ln1.w"), W.get(p + "ln1.b"), p + "ln1", hooks)
        q = torch.einsum("td,hde->the", x, W[p + "attn.W_Q"]) + _bias(W, p + "attn.b_Q", (H, dh), dtype)
        k = torch.einsum("td,hde->the", x, W[p + "attn.W_K"]) + _bias(W, p + "attn.b_K", (KVH, dh), dtype)
        v = torch.einsum("td,hde->the", x, W[p + "attn.W_V"]) + _bias(W, p + "attn.b_V", (KVH, dh), dtype)
        hooks[p + "attn.hook_q"], hooks[p + "attn.hook_k"], hooks[p + "attn.hook_v"] = q, k, v
        if cfg.positional_embedding_type == "rotary":
            q = rotary(q, cfg.rope_theta, cfg.rotary_adjacent_pairs, cfg.rotary_dim)
            k = rotary(k, cfg.rope_theta, cfg.rotary_adjacent_pairs, cfg.rotary_dim)
            hooks[p + "attn.hook_rot_q"], hooks[p + "attn.hook_rot_k"] = q, k
        group = H // KVH                               # query head h reads kv head h // group
        k_h, v_h = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhe,khe->hqk", q, k_h) / cfg.attn_scale
        scores = scores.masked_fill(~causal, float("-inf"))
        hooks[p + "attn.hook_attn_scores"] = scores
        pattern = torch.softmax(scores, dim=-1)
        hooks[p + "attn.hook_pattern"] = pattern
        z = torch.einsum("hqk,khe->qhe", pattern, v_h)
        hooks[p + "attn.hook_z"] = z
        result = torch.einsum("the,hed->thd", z, W[p + "attn.W_O"])   # per head, without b_O
        hooks[p + "attn.hook_result"] = result
        attn_out = result.sum(dim=1) + _bias(W, p + "attn.b_O", (D,), dtype)
        hooks[p + "hook_attn_out"] = attn_out
        resid_pre = resid
        if not cfg.parallel_attn_mlp:
            resid = resid + attn_out
            hooks[p + "hook_resid_mid"] = resid

        # MLP: it reads resid_mid, or resid_pre in a parallel block.
        x = _norm(cfg, resid, W.get(p + "ln2.w"), W.get(p + "ln2.b"), p + "ln2", hooks)
        b_in = _bias(W, p + "mlp.b_in", (cfg.d_mlp,), dtype)
        if cfg.gated_mlp:
            pre = x @ W[p + "mlp.W_gate"]                  # the gate branch, before silu
            pre_linear = x @ W[p + "mlp.W_in"]
            hooks[p + "mlp.hook_pre"], hooks[p + "mlp.hook_pre_linear"] = pre, pre_linear
            post = _act(cfg, pre) * pre_linear + b_in
        else:
            pre = x @ W[p + "mlp.W_in"] + b_in
            hooks[p + "mlp.hook_pre"] = pre
            post = _act(cfg, pre)
        hooks[p + "mlp.hook_post"] = post
        mlp_out = post @ W[p + "mlp.W_out"] + _bias(W, p + "mlp.b_out", (D,), dtype)
        hooks[p + "hook_mlp_out"] = mlp_out
        resid = resid_pre + attn_out + mlp_out if cfg.parallel_attn_mlp else resid + mlp_out
        hooks[p + "hook_resid_post"] = resid

    x = _norm(cfg, resid, W.get("ln_final.w"), W.get("ln_final.b"), "ln_final", hooks)
    logits = x @ W["unembed.W_U"] + _bias(W, "unembed.b_U", (cfg.d_vocab,), dtype)
    return logits, hooks


def _act(cfg: Config, x):
    if cfg.act_fn == "gelu":
        return gelu_erf(x)
    if cfg.act_fn in ("gelu_new", "gelu_pytorch_tanh"):
        return gelu_tanh(x)
    if cfg.act_fn == "silu":
        return silu(x)
    raise ValueError(f"unknown act_fn {cfg.act_fn!r}")


# ---------------------------------------------------------------------------------------------
# TransformerLens's default weight processing (HookedTransformer.from_pretrained with
# fold_ln=True, center_writing_weights=True, center_unembed=True, fold_value_biases=True),
# for LayerNorm models. Each function returns a new weight dict; the input is not modified.
# ---------------------------------------------------------------------------------------------

def fold_layer_norm(cfg: Config, W: Weights, center_weights: bool = True) -> Tuple[Config, Weights]:
    """Folds each LN's w and b into the matrices that read its output; LN becomes LNPre.

    For a reader (W [.., D, out], b [.., out]) after LN(w, b):
      b' = b + LN.b @ W       W' = LN.w[:, None] * W
    and, because LNPre's output is centered over d_model, W' can also be centered over its
    d_model axis without changing anything (TransformerLens does this when center_weights).
    """
    assert cfg.norm == "LN", "fold_layer_norm here covers LayerNorm models"
    W = dict(W)

    def fold(w_name, b_name, ln, d_axis):
        w, b = W[ln + ".w"], W[ln + ".b"]
        Wm = W[w_name]
        shape = [1] * Wm.dim()
        shape[d_axis] = -1
        # b' = b + sum_d LN.b[d] * W[.., d, ..]
        W[b_name] = W[b_name] + (Wm * b.reshape(shape)).sum(d_axis)
        Wm = Wm * w.reshape(shape)
        if center_weights:
            Wm = Wm - Wm.mean(d_axis, keepdim=True)
        W[w_name] = Wm

    for l in range(cfg.n_layers):
        p = f"blocks.{l}."
        for m in ("Q", "K", "V"):
            fold(p + f"attn.W_{m}", p + f"attn.b_{m}", p + "ln1", 1)   # [H, D, dh]
        fold(p + "mlp.W_in", p + "mlp.b_in", p + "ln2", 0)            # [D, F]
        for ln in ("ln1", "ln2"):
            del W[p + ln + ".w"], W[p + ln + ".b"]
    fold("unembed.W_U", "unembed.b_U", "ln_final", 0)                  # [D, V]
    del W["ln_final.w"], W["ln_final.b"]
    return dataclasses.replace(cfg, norm="LNPre"), W


def center_writing_weights(cfg: Config, W: Weights) -> Weights:
    """Subtracts the mean over d_model of everything that writes to the residual stream.

    Every reader of the stream starts with LN, which removes the mean, so this changes no output.
    """
    W = dict(W)
    names = ["embed.W_E"]
    if cfg.positional_embedding_type == "standard":
        names.append("pos_embed.W_pos")
    for l in range(cfg.n_layers):
        names += [f"blocks.{l}.attn.W_O", f"blocks.{l}.attn.b_O",
                  f"blocks.{l}.mlp.W_out", f"blocks.{l}.mlp.b_out"]
    for n in names:
        W[n] = W[n] - W[n].mean(-1, keepdim=True)
    return W


def center_unembed(W: Weights) -> Weights:
    """Subtracts the mean over the vocabulary of W_U and b_U (softmax is shift invariant)."""
    W = dict(W)
    W["unembed.W_U"] = W["unembed.W_U"] - W["unembed.W_U"].mean(-1, keepdim=True)
    W["unembed.b_U"] = W["unembed.b_U"] - W["unembed.b_U"].mean()
    return W


def fold_value_biases(cfg: Config, W: Weights) -> Weights:
    """b_O += sum_h b_V[h] @ W_O[h]; b_V = 0.

    The pattern's rows sum to 1, so each head's value bias reaches the output as the constant
    b_V[h] @ W_O[h] at every position.
    """
    W = dict(W)
    for l in range(cfg.n_layers):
        p = f"blocks.{l}.attn."
        b_V, W_O = W[p + "b_V"], W[p + "W_O"]
        group = cfg.n_heads // cfg.n_kv_heads
        b_V_h = b_V.repeat_interleave(group, dim=0)             # [H, dh]
        W[p + "b_O"] = W[p + "b_O"] + torch.einsum("he,hed->d", b_V_h, W_O)
        W[p + "b_V"] = torch.zeros_like(b_V)
    return W


def process_weights(cfg: Config, W: Weights) -> Tuple[Config, Weights]:
    """The four transforms in TransformerLens's order (process_weights_)."""
    cfg, W = fold_layer_norm(cfg, W)
    W = center_writing_weights(cfg, W)
    W = center_unembed(W)
    W = fold_value_biases(cfg, W)
    return cfg, W


# ---------------------------------------------------------------------------------------------
# safetensors (https://github.com/huggingface/safetensors): u64 little-endian header length N,
# N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
# then the raw little-endian data; offsets are relative to the end of the header.
# ---------------------------------------------------------------------------------------------

_ST_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
              "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
              "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
_ST_NAMES = {v: k for k, v in _ST_DTYPES.items()}


def save_safetensors(path: str, tensors: Dict[str, torch.Tensor],
                     metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes tensors in sorted name order, the header padded with spaces to 8 bytes."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        # bfloat16 has no numpy dtype: take the bytes through an int16 view.
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _ST_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base, out = 8 + n, {}
    for name, info in header.items():
        dt = _ST_DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        raw = bytearray(data[base + b:base + e])
        if dt == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.zeros(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.zeros(0, dtype=dt)
        out[name] = t.reshape(info["shape"])
    return out, metadata


# ---------------------------------------------------------------------------------------------
# Readers: each returns (Config, weights under TransformerLens names, in the file's dtype).
# ---------------------------------------------------------------------------------------------

def config_from_tl_json(j: dict) -> Config:
    """A TransformerLens / Neel-style config.json (the keys convert_neel_model_config reads)."""
    norm = j.get("normalization_type", j.get("normalization", "LN"))
    if "positional_embedding_type" in j:
        pos = j["positional_embedding_type"]
    else:
        pos = "shortformer" if j.get("shortformer_pos") else "standard"
    if pos not in ("standard", "rotary"):
        raise ValueError(f"positional_embedding_type {pos!r} is not covered")
    return Config(n_layers=j["n_layers"], d_model=j["d_model"], n_heads=j["n_heads"],
                  d_head=j["d_head"], d_mlp=j["d_mlp"], d_vocab=j["d_vocab"], n_ctx=j["n_ctx"],
                  n_kv_heads=j.get("n_key_value_heads"), norm=norm, act_fn=j["act_fn"],
                  gated_mlp=j.get("gated_mlp", False),
                  eps=j.get("eps", j.get("ln_eps", 1e-5)), positional_embedding_type=pos,
                  rope_theta=j.get("rotary_base", 10000.0),
                  rotary_adjacent_pairs=j.get("rotary_adjacent_pairs", False),
                  rotary_dim=j.get("rotary_dim"),
                  parallel_attn_mlp=j.get("parallel_attn_mlp", False))


def load_tl_folder(folder: str) -> Tuple[Config, Weights]:
    """config.json + model_final.pth (torch.save of a state dict) or model.safetensors."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = config_from_tl_json(json.load(f))
    st = os.path.join(folder, "model.safetensors")
    if os.path.exists(st):
        W, _ = load_safetensors(st)
    else:
        W = torch.load(os.path.join(folder, "model_final.pth"), map_location="cpu")
    # TransformerLens buffers that are not weights.
    W = {k.replace("attn._", "attn."): v for k, v in W.items()
         if not k.endswith((".attn.mask", ".attn.IGNORE", ".attn.rotary_sin", ".attn.rotary_cos"))}
    return cfg, W


def load_hf_gpt2_folder(folder: str) -> Tuple[Config, Weights]:
    """HF GPT-2: Conv1D weights are [in, out]; c_attn packs q | k | v along its output axis."""
    with open(os.path.join(folder, "config.json")) as f:
        j = json.load(f)
    raw, _ = load_safetensors(os.path.join(folder, "model.safetensors"))
    raw = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in raw.items()}
    D, H = j["n_embd"], j["n_head"]
    dh = D // H
    cfg = Config(n_layers=j["n_layer"], d_model=D, n_heads=H, d_head=dh,
                 d_mlp=j.get("n_inner") or 4 * D, d_vocab=j["vocab_size"], n_ctx=j["n_positions"],
                 norm="LN", act_fn=j.get("activation_function", "gelu_new"),
                 eps=j.get("layer_norm_epsilon", 1e-5))
    W = {"embed.W_E": raw["wte.weight"], "pos_embed.W_pos": raw["wpe.weight"]}
    for l in range(cfg.n_layers):
        h, p = f"h.{l}.", f"blocks.{l}."
        W[p + "ln1.w"], W[p + "ln1.b"] = raw[h + "ln_1.weight"], raw[h + "ln_1.bias"]
        W[p + "ln2.w"], W[p + "ln2.b"] = raw[h + "ln_2.weight"], raw[h + "ln_2.bias"]
        cw, cb = raw[h + "attn.c_attn.weight"], raw[h + "attn.c_attn.bias"]   # [D, 3D], [3D]
        for i, m in enumerate("QKV"):
            W[p + f"attn.W_{m}"] = cw[:, i * D:(i + 1) * D].reshape(D, H, dh).permute(1, 0, 2)
            W[p + f"attn.b_{m}"] = cb[i * D:(i + 1) * D].reshape(H, dh)
        W[p + "attn.W_O"] = raw[h + "attn.c_proj.weight"].reshape(H, dh, D)
        W[p + "attn.b_O"] = raw[h + "attn.c_proj.bias"]
        W[p + "mlp.W_in"], W[p + "mlp.b_in"] = raw[h + "mlp.c_fc.weight"], raw[h + "mlp.c_fc.bias"]
        W[p + "mlp.W_out"], W[p + "mlp.b_out"] = raw[h + "mlp.c_proj.weight"], raw[h + "mlp.c_proj.bias"]
    W["ln_final.w"], W["ln_final.b"] = raw["ln_f.weight"], raw["ln_f.bias"]
    W["unembed.W_U"] = raw.get("lm_head.weight", raw["wte.weight"]).T   # tied to wte
    return cfg, W


def load_llama2c(path: str) -> Tuple[Config, Weights]:
    """llama2.c's legacy .bin: 7 int32 then float32 arrays; matrices are [out, in]."""
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, L, H, KVH, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    V = abs(vocab)
    dh = dim // H
    kv = KVH * dh
    arr = np.frombuffer(data, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        t = torch.from_numpy(arr[pos:pos + n].copy()).reshape(shape)
        pos += n
        return t

    emb = take(V, dim)
    rms_att, wq, wk = take(L, dim), take(L, dim, dim), take(L, kv, dim)
    wv, wo, rms_ffn = take(L, kv, dim), take(L, dim, dim), take(L, dim)
    w1, w2, w3 = take(L, hidden, dim), take(L, dim, hidden), take(L, hidden, dim)
    rms_final = take(dim)
    take(seq_len, dh // 2)   # freq_cis_real (unused: recomputed)
    take(seq_len, dh // 2)   # freq_cis_imag
    cls = emb if shared else take(V, dim)
    if pos != arr.size:
        raise ValueError(f"{path}: {arr.size - pos} trailing floats")
    cfg = Config(n_layers=L, d_model=dim, n_heads=H, n_kv_heads=KVH, d_head=dh, d_mlp=hidden,
                 d_vocab=V, n_ctx=seq_len, norm="RMS", act_fn="silu", gated_mlp=True,
                 positional_embedding_type="rotary", eps=1e-5, rotary_adjacent_pairs=True)
    W = {"embed.W_E": emb, "ln_final.w": rms_final, "unembed.W_U": cls.T.contiguous()}
    for l in range(L):
        p = f"blocks.{l}."
        W[p + "ln1.w"], W[p + "ln2.w"] = rms_att[l], rms_ffn[l]
        # [out = head * dh + e, in = d]  ->  [head, d, e]
        W[p + "attn.W_Q"] = wq[l].reshape(H, dh, dim).permute(0, 2, 1)
        W[p + "attn.W_K"] = wk[l].reshape(KVH, dh, dim).permute(0, 2, 1)
        W[p + "attn.W_V"] = wv[l].reshape(KVH, dh, dim).permute(0, 2, 1)
        # wo [out = d, in = head * dh + e]  ->  [head, e, d]
        W[p + "attn.W_O"] = wo[l].T.reshape(H, dh, dim)
        W[p + "mlp.W_gate"], W[p + "mlp.W_in"] = w1[l].T, w3[l].T
        W[p + "mlp.W_out"] = w2[l].T
    return cfg, W


def load_model(path: str) -> Tuple[Config, Weights]:
    """Any of the formats above, recognized from the path."""
    if os.path.isfile(path):
        return load_llama2c(path)
    bins = [f for f in os.listdir(path) if f.endswith(".bin")]
    if not os.path.exists(os.path.join(path, "config.json")) and len(bins) == 1:
        return load_llama2c(os.path.join(path, bins[0]))
    with open(os.path.join(path, "config.json")) as f:
        j = json.load(f)
    if j.get("model_type") == "gpt2":
        return load_hf_gpt2_folder(path)
    return load_tl_folder(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a model folder (TL pth/safetensors, HF GPT-2) or llama2.c .bin")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--hook", action="append", default=[], help="print this hook (repeatable)")
    ap.add_argument("--processed", action="store_true",
                    help="apply TransformerLens's default weight processing first (LN models)")
    ap.add_argument("--out", help="write logits and every hook (float32) to this safetensors file")
    args = ap.parse_args(argv)
    cfg, W = load_model(args.model)
    if args.processed:
        cfg, W = process_weights(cfg, {k: v.double() for k, v in W.items()})
    tokens = [int(t) for t in args.tokens.split(",")]
    logits, hooks = forward(cfg, W, tokens)
    torch.set_printoptions(precision=6, linewidth=120)
    print(cfg)
    print("last-position logits (first 8):", logits[-1, :8].tolist())
    print("argmax per position:", logits.argmax(-1).tolist())
    for h in args.hook:
        print(h, tuple(hooks[h].shape))
        print(hooks[h])
    if args.out:
        out = {k: v.float() for k, v in hooks.items()}
        out["logits"] = logits.float()
        out["tokens"] = torch.tensor(tokens, dtype=torch.float32)
        save_safetensors(args.out, out)
        print("wrote", args.out)


if __name__ == "__main__":
    sys.exit(main())
