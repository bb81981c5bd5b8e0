#!/usr/bin/env python3
"""Tiny random HuggingFace checkpoints for memlens's family loaders (core/model/load/), with the
logits of an independent float64 forward pass written from each family's published modeling
code, and a SentencePiece-BPE tokenizer.json with byte fallback.

    /usr/bin/python3 tools/make_hf_fixtures.py      # needs python3-torch; seeded, no network

Writes tests/fixtures/hf/<folder>/{config.json, model.safetensors | sharded parts,
expected.safetensors}. expected.safetensors holds `tokens` (ids stored as F32), `logits`
[T, vocab] and every TransformerLens hook memlens records (core/model/forward.h: names and
shapes), computed here in float64 from the weights as stored (after f16/bf16 rounding), on 12
tokens, longer than every sliding/local window (4). How HF's computation maps to TL's hooks:
  * hook_embed = the embedding rows; hook_pos_embed = GPT-Neo's wpe rows.
  * Each pre-norm (ln1 = input_layernorm / ln_1, ln2 = post_attention_layernorm / ln_2,
    ln_final = the final norm): hook_scale [T, 1] = sqrt(mean(x^2) + eps) (RMSNorm) or
    sqrt(var(x) + eps) (LayerNorm); hook_normalized = x / scale for RMSNorm (before its
    weight, as TL's RMSNorm) and (x - mean) / scale * w + b for LayerNorm.
  * hook_v_input [T, n_kv, D]: resid_pre once per key/value head. attn.hook_q/hook_k/hook_v
    [T, heads, dh]: the projections (with biases) before rotary; hook_rot_q/hook_rot_k: after
    rotary (rotary families only). hook_attn_scores [H, T, T]: q.k / scale, -inf where masked
    (causal or outside the window); hook_pattern = softmax; hook_z [T, H, dh] = pattern @ v.
  * hook_result [T, H, D] = z of head h times its dh columns of o_proj / dense / out_proj
    (no bias); hook_attn_out = the projection with its bias.
  * hook_resid_mid = resid_pre + attn_out (not in a parallel-residual block, where ln2 reads
    resid_pre); hook_resid_post = the block's output.
  * mlp.hook_pre = gate_proj(x) (SwiGLU, before silu) or the first MLP matrix (with bias);
    mlp.hook_pre_linear = up_proj(x) (SwiGLU only); mlp.hook_post = the down projection's
    input; hook_mlp_out = its output (with bias).

The forward passes follow, line by line:
  * transformers/models/llama/modeling_llama.py (Mistral and Qwen2 are the same code): RMSNorm
    x * rsqrt(mean(x^2) + eps) * w; rotary with rotate_half over two halves,
    inv_freq = 1 / theta^(arange(0, dh, 2) / dh), emb = cat(freqs, freqs); repeat_kv for GQA;
    scores / sqrt(head_dim); causal mask (Mistral: also key j only when i - j < sliding_window);
    down(silu(gate(x)) * up(x)); lm_head or the tied embedding.
  * transformers/models/gpt_neox/modeling_gpt_neox.py: fused query_key_value viewed as
    [T, heads, 3 * dh] and split q | k | v per head; rotary on the first
    int(dh * rotary_pct) dims (rotate_half), the rest passed through; scores / sqrt(dh);
    parallel residual h + attn(ln1(h)) + mlp(ln2(h)) or sequential; exact-erf gelu; embed_out.
  * transformers/models/gpt_neo/modeling_gpt_neo.py: learned positions; q, k, v without biases
    and WITHOUT 1/sqrt(dh) scaling; local layers see keys with 0 <= i - j < window_size;
    gelu_new; tied lm_head.
The tokenizer fixture is built by hand from the rules of tokenizers' SentencePiece-BPE
(Metaspace pre-tokenizer or Prepend + Replace normalizer, byte_fallback <0xNN> tokens); its
expected encodings are computed here by a straightforward re-implementation of BPE merging by
rank, and must round-trip.
"""

import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tl_reference import save_safetensors  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hf")
torch.manual_seed(20261201)
T = 12      # prompt length
N_CTX = 16  # max_position_embeddings
V = 40      # vocabulary


def rnd(*shape, scale=None):
    fan_in = shape[-1]
    return torch.randn(*shape, dtype=torch.float64) * (scale or 1.0 / math.sqrt(fan_in))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, theta, rot_dims, linear_factor=1.0):
    """x [T, heads, dh]; rotary on the first rot_dims dims (HF rotate_half convention);
    rope_scaling "linear" divides the positions by its factor (LlamaLinearScalingRotaryEmbedding)."""
    t = torch.arange(x.shape[0], dtype=torch.float64) / linear_factor
    inv_freq = 1.0 / (theta ** (torch.arange(0, rot_dims, 2, dtype=torch.float64) / rot_dims))
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    xr, xp = x[..., :rot_dims], x[..., rot_dims:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


def attention(q, k, v, scale, window, hooks, p):
    """q [T, H, dh], k/v [T, H, dh] (already repeated for GQA); causal (+ window). Returns z
    [T, H, dh]; records p + attn.hook_attn_scores, hook_pattern, hook_z."""
    n = q.shape[0]
    scores = torch.einsum("ihd,jhd->hij", q, k) / scale
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & (i - j < window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    hooks[p + "attn.hook_attn_scores"] = scores
    pattern = torch.softmax(scores, dim=-1)
    hooks[p + "attn.hook_pattern"] = pattern
    z = torch.einsum("hij,jhd->ihd", pattern, v)
    hooks[p + "attn.hook_z"] = z
    return z


def out_proj(z, W, name, hooks, p):
    """The attention output projection of z [T, H, dh]: records hook_result (per head, no
    bias) and hook_attn_out (the projection with its bias), and returns attn_out."""
    n, H, dh = z.shape
    Wo = W[name + ".weight"]                                    # [D, H * dh]
    hooks[p + "attn.hook_result"] = torch.einsum("the,dhe->thd", z, Wo.view(-1, H, dh))
    out = lin(z.reshape(n, H * dh), W, name)
    hooks[p + "hook_attn_out"] = out
    return out


def v_input(h, n_kv):
    """hook_v_input: the residual stream once per key/value head, [T, n_kv, D]."""
    return h[:, None, :].expand(h.shape[0], n_kv, h.shape[1]).contiguous()


def rms_norm(x, w, eps, hooks, p):
    scale = torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
    hooks[p + "hook_scale"] = scale
    hooks[p + "hook_normalized"] = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps, hooks, p):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    hooks[p + "hook_scale"] = torch.sqrt(var + eps)
    out = (x - mu) / torch.sqrt(var + eps) * w + b
    hooks[p + "hook_normalized"] = out
    return out


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def lin(x, W, name, b=None):
    y = x @ W[name + ".weight"].T
    if b is not False and (name + ".bias") in W:
        y = y + W[name + ".bias"]
    return y


# ------------------------------------------------------------------------------ LLaMA family

def llama_weights(cfg, qkv_bias=False, o_bias=False):
    D, F, H = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    dh = cfg.get("head_dim", D // H)
    V = cfg["vocab_size"]
    W = {"model.embed_tokens.weight": rnd(V, D, scale=1.0)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = 1 + 0.1 * rnd(D, scale=1.0)
        W[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rnd(D, scale=1.0)
        W[p + "self_attn.q_proj.weight"] = rnd(H * dh, D)
        W[p + "self_attn.k_proj.weight"] = rnd(KV * dh, D)
        W[p + "self_attn.v_proj.weight"] = rnd(KV * dh, D)
        W[p + "self_attn.o_proj.weight"] = rnd(D, H * dh)
        if qkv_bias:
            for n, m in (("q", H), ("k", KV), ("v", KV)):
                W[p + f"self_attn.{n}_proj.bias"] = 0.3 * rnd(m * dh, scale=1.0)
        if o_bias:
            W[p + "self_attn.o_proj.bias"] = 0.3 * rnd(D, scale=1.0)
        W[p + "mlp.gate_proj.weight"] = rnd(F, D)
        W[p + "mlp.up_proj.weight"] = rnd(F, D)
        W[p + "mlp.down_proj.weight"] = rnd(D, F)
    W["model.norm.weight"] = 1 + 0.1 * rnd(D, scale=1.0)
    if not cfg.get("tie_word_embeddings", False):
        W["lm_head.weight"] = rnd(V, D)
    return W


def llama_forward(cfg, W, tokens, hooks=None):
    """The logits; every TL hook into `hooks` when given."""
    hooks = {} if hooks is None else hooks
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    dh = cfg.get("head_dim", D // H)
    eps, theta = cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)
    window = cfg.get("sliding_window") if cfg.get("use_sliding_window", True) else None
    factor = (cfg.get("rope_scaling") or {}).get("factor", 1.0)
    n = len(tokens)
    h = W["model.embed_tokens.weight"][tokens]
    hooks["hook_embed"] = h
    for l in range(cfg["num_hidden_layers"]):
        p, b = f"model.layers.{l}.", f"blocks.{l}."
        hooks[b + "hook_resid_pre"] = h
        hooks[b + "hook_v_input"] = v_input(h, KV)
        x = rms_norm(h, W[p + "input_layernorm.weight"], eps, hooks, b + "ln1.")
        q = lin(x, W, p + "self_attn.q_proj").view(n, H, dh)
        k = lin(x, W, p + "self_attn.k_proj").view(n, KV, dh)
        v = lin(x, W, p + "self_attn.v_proj").view(n, KV, dh)
        hooks[b + "attn.hook_q"], hooks[b + "attn.hook_k"], hooks[b + "attn.hook_v"] = q, k, v
        q, k = rope(q, theta, dh, factor), rope(k, theta, dh, factor)
        hooks[b + "attn.hook_rot_q"], hooks[b + "attn.hook_rot_k"] = q, k
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        z = attention(q, k, v, math.sqrt(dh), window, hooks, b)
        h = h + out_proj(z, W, p + "self_attn.o_proj", hooks, b)
        hooks[b + "hook_resid_mid"] = h
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps, hooks, b + "ln2.")
        gate = lin(x, W, p + "mlp.gate_proj")
        up = lin(x, W, p + "mlp.up_proj")
        post = gate * torch.sigmoid(gate) * up
        hooks[b + "mlp.hook_pre"], hooks[b + "mlp.hook_pre_linear"] = gate, up
        hooks[b + "mlp.hook_post"] = post
        mlp_out = lin(post, W, p + "mlp.down_proj")
        hooks[b + "hook_mlp_out"] = mlp_out
        h = h + mlp_out
        hooks[b + "hook_resid_post"] = h
    h = rms_norm(h, W["model.norm.weight"], eps, hooks, "ln_final.")
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return h @ head.T


# ------------------------------------------------------------------------------ GPT-NeoX

def neox_weights(cfg):
    D, F = cfg["hidden_size"], cfg["intermediate_size"]
    W = {"gpt_neox.embed_in.weight": rnd(V, D, scale=1.0)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{l}."
        for ln in ("input_layernorm", "post_attention_layernorm"):
            W[p + ln + ".weight"] = 1 + 0.1 * rnd(D, scale=1.0)
            W[p + ln + ".bias"] = 0.1 * rnd(D, scale=1.0)
        W[p + "attention.query_key_value.weight"] = rnd(3 * D, D)
        W[p + "attention.query_key_value.bias"] = 0.3 * rnd(3 * D, scale=1.0)
        W[p + "attention.dense.weight"] = rnd(D, D)
        W[p + "attention.dense.bias"] = 0.1 * rnd(D, scale=1.0)
        W[p + "mlp.dense_h_to_4h.weight"] = rnd(F, D)
        W[p + "mlp.dense_h_to_4h.bias"] = 0.1 * rnd(F, scale=1.0)
        W[p + "mlp.dense_4h_to_h.weight"] = rnd(D, F)
        W[p + "mlp.dense_4h_to_h.bias"] = 0.1 * rnd(D, scale=1.0)
        # Buffers older checkpoints carry: the loader must ignore them.
        W[p + "attention.rotary_emb.inv_freq"] = torch.ones(D // cfg["num_attention_heads"] // 2,
                                                            dtype=torch.float64)
    W["gpt_neox.final_layer_norm.weight"] = 1 + 0.1 * rnd(D, scale=1.0)
    W["gpt_neox.final_layer_norm.bias"] = 0.1 * rnd(D, scale=1.0)
    W["embed_out.weight"] = rnd(V, D)
    return W


def neox_forward(cfg, W, tokens, hooks=None):
    """The logits; every TL hook into `hooks` when given."""
    hooks = {} if hooks is None else hooks
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = D // H
    rot = int(dh * cfg["rotary_pct"])
    eps = cfg["layer_norm_eps"]
    n = len(tokens)
    h = W["gpt_neox.embed_in.weight"][tokens]
    hooks["hook_embed"] = h
    for l in range(cfg["num_hidden_layers"]):
        p, b = f"gpt_neox.layers.{l}.", f"blocks.{l}."
        hooks[b + "hook_resid_pre"] = h
        hooks[b + "hook_v_input"] = v_input(h, H)
        x = layer_norm(h, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], eps,
                       hooks, b + "ln1.")
        qkv = lin(x, W, p + "attention.query_key_value").view(n, H, 3 * dh)
        q, k, v = qkv[..., :dh], qkv[..., dh:2 * dh], qkv[..., 2 * dh:]
        hooks[b + "attn.hook_q"], hooks[b + "attn.hook_k"], hooks[b + "attn.hook_v"] = q, k, v
        q, k = rope(q, cfg["rotary_emb_base"], rot), rope(k, cfg["rotary_emb_base"], rot)
        hooks[b + "attn.hook_rot_q"], hooks[b + "attn.hook_rot_k"] = q, k
        z = attention(q, k, v, math.sqrt(dh), None, hooks, b)
        attn = out_proj(z, W, p + "attention.dense", hooks, b)

        def mlp(y):
            pre = lin(y, W, p + "mlp.dense_h_to_4h")
            post = gelu_erf(pre)
            out = lin(post, W, p + "mlp.dense_4h_to_h")
            hooks[b + "mlp.hook_pre"], hooks[b + "mlp.hook_post"] = pre, post
            hooks[b + "hook_mlp_out"] = out
            return out
        ln2 = (W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"])
        if cfg["use_parallel_residual"]:   # no resid_mid: ln2 reads resid_pre
            h = h + attn + mlp(layer_norm(h, *ln2, eps, hooks, b + "ln2."))
        else:
            h = h + attn
            hooks[b + "hook_resid_mid"] = h
            h = h + mlp(layer_norm(h, *ln2, eps, hooks, b + "ln2."))
        hooks[b + "hook_resid_post"] = h
    h = layer_norm(h, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"],
                   eps, hooks, "ln_final.")
    return h @ W["embed_out.weight"].T


# ------------------------------------------------------------------------------ GPT-Neo

def neo_weights(cfg):
    D = cfg["hidden_size"]
    F = cfg.get("intermediate_size") or 4 * D
    W = {"transformer.wte.weight": rnd(V, D, scale=1.0),
         "transformer.wpe.weight": 0.5 * rnd(N_CTX, D, scale=1.0)}
    for l in range(cfg["num_layers"]):
        p = f"transformer.h.{l}."
        for ln in ("ln_1", "ln_2"):
            W[p + ln + ".weight"] = 1 + 0.1 * rnd(D, scale=1.0)
            W[p + ln + ".bias"] = 0.1 * rnd(D, scale=1.0)
        for n in ("q", "k", "v"):
            # No 1/sqrt(dh) scaling in GPT-Neo: smaller q keeps the patterns away from one-hot.
            W[p + f"attn.attention.{n}_proj.weight"] = rnd(D, D) * (0.5 if n == "q" else 1.0)
        W[p + "attn.attention.out_proj.weight"] = rnd(D, D)
        W[p + "attn.attention.out_proj.bias"] = 0.1 * rnd(D, scale=1.0)
        W[p + "mlp.c_fc.weight"] = rnd(F, D)
        W[p + "mlp.c_fc.bias"] = 0.1 * rnd(F, scale=1.0)
        W[p + "mlp.c_proj.weight"] = rnd(D, F)
        W[p + "mlp.c_proj.bias"] = 0.1 * rnd(D, scale=1.0)
    W["transformer.ln_f.weight"] = 1 + 0.1 * rnd(D, scale=1.0)
    W["transformer.ln_f.bias"] = 0.1 * rnd(D, scale=1.0)
    return W


def neo_layer_types(cfg):
    out = []
    for pattern, repeat in cfg["attention_types"]:
        out += pattern * repeat
    return out


def neo_forward(cfg, W, tokens, hooks=None):
    """The logits; every TL hook into `hooks` when given."""
    hooks = {} if hooks is None else hooks
    D, H = cfg["hidden_size"], cfg["num_heads"]
    dh = D // H
    eps = cfg["layer_norm_epsilon"]
    n = len(tokens)
    hooks["hook_embed"] = W["transformer.wte.weight"][tokens]
    hooks["hook_pos_embed"] = W["transformer.wpe.weight"][:n]
    h = hooks["hook_embed"] + hooks["hook_pos_embed"]
    for l, kind in enumerate(neo_layer_types(cfg)):
        p, b = f"transformer.h.{l}.", f"blocks.{l}."
        hooks[b + "hook_resid_pre"] = h
        hooks[b + "hook_v_input"] = v_input(h, H)
        x = layer_norm(h, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps, hooks, b + "ln1.")
        q, k, v = (lin(x, W, p + f"attn.attention.{m}_proj").view(n, H, dh) for m in "qkv")
        hooks[b + "attn.hook_q"], hooks[b + "attn.hook_k"], hooks[b + "attn.hook_v"] = q, k, v
        window = cfg["window_size"] if kind == "local" else None
        z = attention(q, k, v, 1.0, window, hooks, b)
        h = h + out_proj(z, W, p + "attn.attention.out_proj", hooks, b)
        hooks[b + "hook_resid_mid"] = h
        x = layer_norm(h, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps, hooks, b + "ln2.")
        pre = lin(x, W, p + "mlp.c_fc")
        post = gelu_tanh(pre)
        mlp_out = lin(post, W, p + "mlp.c_proj")
        hooks[b + "mlp.hook_pre"], hooks[b + "mlp.hook_post"] = pre, post
        hooks[b + "hook_mlp_out"] = mlp_out
        h = h + mlp_out
        hooks[b + "hook_resid_post"] = h
    h = layer_norm(h, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], eps, hooks,
                   "ln_final.")
    return h @ W["transformer.wte.weight"].T


# ------------------------------------------------------------------------------ writing

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def write_model(folder, cfg, W, forward, dtype="f32", shards=1, tokens=None):
    d = os.path.join(ROOT, folder)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    stored = {k: v.to(DTYPES[dtype]) for k, v in W.items()}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    if shards == 1:
        save_safetensors(os.path.join(d, "model.safetensors"), stored)
    else:
        names = sorted(stored)
        weight_map = {}
        for s in range(shards):
            part = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            chunk = {n: stored[n] for n in names[s::shards]}
            save_safetensors(os.path.join(d, part), chunk)
            weight_map.update({n: part for n in chunk})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2,
                      sort_keys=True)
            f.write("\n")
    # The reference runs on the weights as stored (rounded to f16/bf16), in float64.
    exact = {k: v.to(torch.float64) for k, v in stored.items()}
    if tokens is None:
        tokens = torch.randint(0, V, (T,), generator=torch.Generator().manual_seed(len(folder)))
    else:
        tokens = torch.tensor(tokens)
    hooks = {}
    logits = forward(cfg, exact, tokens.tolist(), hooks)
    out = {k: v.to(torch.float32) for k, v in hooks.items()}
    out.update(tokens=tokens.to(torch.float32), logits=logits.to(torch.float32))
    save_safetensors(os.path.join(d, "expected.safetensors"), out)


def base_llama(arch, model_type, **extra):
    cfg = {"architectures": [arch], "model_type": model_type, "vocab_size": V,
           "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": N_CTX,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
           "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
           "torch_dtype": "float32", "transformers_version": "4.44.0", "use_cache": True}
    cfg.update(extra)
    return cfg


def main():
    # LLaMA: GQA (4 heads, 2 kv), explicit head_dim 6 != 16 / 4, untied lm_head.
    cfg = base_llama("LlamaForCausalLM", "llama", head_dim=6, attention_bias=False,
                     rope_scaling=None, rope_theta=500.0)
    W = llama_weights(cfg)
    write_model("llama", cfg, W, llama_forward)
    write_model("llama_bf16_sharded", dict(cfg, torch_dtype="bfloat16"), W, llama_forward,
                dtype="bf16", shards=2)
    # LLaMA with linear rope scaling (positions / 2).
    cfg = base_llama("LlamaForCausalLM", "llama", rope_scaling={"type": "linear", "factor": 2.0})
    write_model("llama_linear_rope", cfg, llama_weights(cfg), llama_forward)
    # LLaMA with attention_bias (q, k, v and o biases).
    cfg = base_llama("LlamaForCausalLM", "llama", attention_bias=True)
    write_model("llama_attention_bias", cfg, llama_weights(cfg, qkv_bias=True, o_bias=True),
                llama_forward)
    # Qwen2: q/k/v biases, tied embeddings, float16; use_sliding_window false.
    cfg = base_llama("Qwen2ForCausalLM", "qwen2", tie_word_embeddings=True,
                     use_sliding_window=False, sliding_window=4, max_window_layers=1,
                     torch_dtype="float16")
    write_model("qwen2_f16", cfg, llama_weights(cfg, qkv_bias=True), llama_forward, dtype="f16")
    # Mistral: sliding_window null (v0.2 style).
    cfg = base_llama("MistralForCausalLM", "mistral", sliding_window=None)
    write_model("mistral", cfg, llama_weights(cfg), llama_forward)
    # Mistral with a window shorter than the prompt (4 < 12 tokens).
    cfg = base_llama("MistralForCausalLM", "mistral", sliding_window=4)
    write_model("mistral_window", cfg, llama_weights(cfg), llama_forward)

    neox = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "vocab_size": V,
            "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": N_CTX, "layer_norm_eps": 1e-5,
            "hidden_act": "gelu", "rotary_emb_base": 10000, "tie_word_embeddings": False,
            "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float16",
            "transformers_version": "4.24.0", "use_cache": True}
    # Pythia style: parallel residual, rotary on 25% of each head (8 dims -> 2).
    cfg = dict(neox, use_parallel_residual=True, rotary_pct=0.25)
    write_model("gpt_neox_pythia", cfg, neox_weights(cfg), neox_forward, dtype="f16")
    # Sequential residual, full rotary: the plain NeoX layout.
    cfg = dict(neox, use_parallel_residual=False, rotary_pct=1.0, torch_dtype="float32")
    write_model("gpt_neox_sequential", cfg, neox_weights(cfg), neox_forward)

    neo = {"architectures": ["GPTNeoForCausalLM"], "model_type": "gpt_neo", "vocab_size": V,
           "hidden_size": 16, "num_layers": 2, "num_heads": 4, "intermediate_size": None,
           "max_position_embeddings": N_CTX, "layer_norm_epsilon": 1e-5,
           "activation_function": "gelu_new", "bos_token_id": 0, "eos_token_id": 0,
           "embed_dropout": 0, "attention_dropout": 0, "resid_dropout": 0,
           "torch_dtype": "float32", "transformers_version": "4.24.0", "use_cache": True}
    # TinyStories style: global, local alternating, window 4 < 12 tokens.
    cfg = dict(neo, attention_types=[[["global", "local"], 1]],
               attention_layers=["global", "local"], window_size=4)
    write_model("gpt_neo_local", cfg, neo_weights(cfg), neo_forward)
    # Local layers with a window covering the context: the same as global.
    cfg = dict(neo, attention_types=[[["global", "local"], 1]], window_size=N_CTX)
    write_model("gpt_neo_wide_window", cfg, neo_weights(cfg), neo_forward)


# ------------------------------------------------------------------------------ tokenizer

SP = "\u2581"
CORPUS = ("the cat sat on the mat. the dog ate the hat, then the cat sat on the dog. "
          "The end. that thing is there, then these ones sat there.")
TEXTS = ["the cat sat on the mat.", "The dog ate the hat", "Thé naïve café — 日本語 🙂",
         "  two leading spaces", "trailing space ", "", "a\tb\nc", "x", "<s>the cat</s> sat",
         "tab\there<unk>", "zzz qqq"]
RAW_TEXTS = [b"bad \xff\xfe bytes", b"half \xe6\x97 char"]  # not valid UTF-8


def train_merges(corpus, n):
    words = [list(SP + w) for w in corpus.split(" ")]
    merges = []
    for _ in range(n):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        for w in words:
            i = 0
            while i + 1 < len(w):
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [w[i] + w[i + 1]]
                i += 1
    return merges


def sp_vocab():
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in [SP] + sorted(set(CORPUS.replace(" ", ""))):
        vocab.setdefault(ch, len(vocab))
    merges = train_merges(CORPUS, 40)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


def sp_encode_word(word, vocab, ranks):
    """word: a str (or bytes for the invalid-UTF-8 texts, decoded latin-1 style below)."""
    syms = []
    for ch in word:
        if isinstance(ch, bytes):
            syms += [vocab[f"<0x{b:02X}>"] for b in ch]
        elif ch in vocab:
            syms.append(vocab[ch])
        else:
            syms += [vocab[f"<0x{b:02X}>"] for b in ch.encode("utf-8")]
    inv = {i: t for t, i in vocab.items()}
    while len(syms) > 1:
        cands = [(ranks.get((inv[a], inv[b]), 1 << 30), i) for i, (a, b) in
                 enumerate(zip(syms, syms[1:]))]
        rank, i = min(cands)
        if rank == 1 << 30:
            break
        syms[i:i + 2] = [vocab[inv[syms[i]] + inv[syms[i + 1]]]]
    return syms


def chars_of(data):
    """bytes -> list of str characters, each invalid byte kept as a 1-byte bytes object."""
    out, i = [], 0
    while i < len(data):
        for n in (1, 2, 3, 4):
            try:
                out.append(data[i:i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(data[i:i + 1])
            i += 1
    return out


def sp_encode(data, vocab, ranks, metaspace):
    ids = []
    specials = ["<unk>", "<s>", "</s>"]
    pos, first = 0, True
    while True:
        hits = [(data.find(t.encode(), pos), t) for t in specials if data.find(t.encode(), pos) >= 0]
        at, tok = min(hits) if hits else (len(data), None)
        seg = chars_of(data[pos:at])
        if seg:
            seg = [SP if c == " " else c for c in seg]
            if not metaspace or (first and pos == 0 and seg[0] != SP):
                seg = [SP] + seg
            ids += sp_encode_word(seg, vocab, ranks)
        first = False
        if tok is None:
            return ids
        ids.append(vocab[tok])
        pos = at + len(tok)


def write_tokenizers():
    vocab, merges = sp_vocab()
    ranks = {m: r for r, m in enumerate(merges)}
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(["<unk>", "<s>", "</s>"])]
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>",
             "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
             "byte_fallback": True, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]}
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    legacy = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
              "normalizer": {"type": "Sequence", "normalizers": [
                  {"type": "Prepend", "prepend": SP},
                  {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
              "pre_tokenizer": None, "post_processor": post,
              "decoder": {"type": "Sequence", "decoders": [
                  {"type": "Replace", "pattern": {"String": SP}, "content": " "},
                  {"type": "ByteFallback"}, {"type": "Fuse"},
                  {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
              "model": model}
    metaspace = dict(legacy, normalizer=None,
                     pre_tokenizer={"type": "Metaspace", "replacement": SP,
                                    "prepend_scheme": "first", "split": False},
                     decoder={"type": "Metaspace", "replacement": SP, "prepend_scheme": "first",
                              "split": False})
    for folder, doc, is_meta in (("tokenizer_sp", legacy, False),
                                 ("tokenizer_sp_metaspace", metaspace, True)):
        d = os.path.join(ROOT, folder)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
        with open(os.path.join(d, "expected.jsonl"), "w") as f:
            for data in [t.encode() for t in TEXTS] + RAW_TEXTS:
                ids = sp_encode(data, vocab, ranks, is_meta)
                f.write(json.dumps({"text_hex": data.hex(), "ids": ids}) + "\n")


def write_llama_with_tokenizer():
    """A LLaMA folder as HF ships one: tokenizer.json + tokenizer_config.json beside the
    weights, no bos_token_id in config.json (the BOS comes from the tokenizer files), and the
    expected logits of "<s>" + "the cat sat on the mat." tokenized by the reference above."""
    vocab, merges = sp_vocab()
    ranks = {m: r for r, m in enumerate(merges)}
    cfg = base_llama("LlamaForCausalLM", "llama", vocab_size=len(vocab))
    del cfg["bos_token_id"]
    tokens = [vocab["<s>"]] + sp_encode(b"the cat sat on the mat.", vocab, ranks, False)
    write_model("llama_sp_tokenizer", cfg, llama_weights(cfg), llama_forward, tokens=tokens)
    d = os.path.join(ROOT, "llama_sp_tokenizer")
    with open(os.path.join(ROOT, "tokenizer_sp", "tokenizer.json"), encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": {"content": "<s>"}, "eos_token": "</s>",
                   "tokenizer_class": "LlamaTokenizer"}, f, indent=2)


if __name__ == "__main__":
    main()
    write_tokenizers()
    write_llama_with_tokenizer()
