#!/usr/bin/env python3
"""memlens vs plain PyTorch forward passes on the same weights, side by side, in one run.

    /usr/bin/python3 benchmarks/make_random_model.py [--family F]  # once: /tmp/memlens-*-random
    bazel build -c opt //benchmarks:forward_benchmark //core/cli:memlens   # the memlens side
    /usr/bin/python3 benchmarks/compare_pytorch.py [--model DIR] [--threads 2] [--reps 3]
    # An OpenBLAS older than the CPU uses generic kernels ("openblas_core Prescott" in the
    # output, and a warning): set OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2).

--model (default /tmp/memlens-gelu4l-random) is a folder memlens loads, of one of three
families, told apart by config.json as memlens's loaders do:
  * TransformerLens safetensors of the gelu-4l family (LN, GELU, learned positions, biases);
  * HF GPT2LMHeadModel (the same block; gelu_new, tied unembedding), read into the same
    TorchModel through tools/tl_reference.py's HF-to-TransformerLens renaming;
  * HF GPTNeoXForCausalLM (Pythia): NeoXTorchModel below (parallel residual, partial rotary).

What is measured, alternating repetitions so that both sides see the same machine load:
  (a) PyTorch float32 forward on --tokens tokens (default 1024), no cache;
  (b) the same forward keeping every hook of core/model/forward.h in a dict, the way
      TransformerLens's run_with_cache does (a detached reference per hook; hooks that are
      views in another layout, e.g. q [T, H, dh] out of the fused qkv product, are made
      contiguous; hook_result [T, H, D] is computed per head, as TransformerLens does when it
      caches it);
  (c) memlens: the --memlens_bench binary (Google Benchmark) run with --benchmark_format=json
      and MEMLENS_BENCH_MODEL=<model folder>, MEMLENS_THREADS=<threads>; it must report
      benchmarks named BM_ForwardNoCache and BM_ForwardFullCache with a `tokens_per_second`
      counter. Missing binary: the PyTorch half still runs and the table says so.
  Matmuls at the model's shapes: torch.matmul GFLOPS, and memlens's when --memlens_ops names a
  Google Benchmark binary reporting BM_MatMul/M/K/N with a GFLOPS counter.
Before measuring, (1) TorchModel is checked against tests/fixtures/tl_safetensors (every
cached hook and the logits, at the fixtures' tolerance), and (2) on a 32-token prompt of the
--model itself, the PyTorch logits (with and without the cache) are compared with an
independent float64 forward pass (GPT-2: tools/make_fixtures.py direct_gpt2_logits; GPT-NeoX:
tools/make_hf_fixtures.py neox_forward; TransformerLens: tools/tl_reference.py forward), and so
are memlens's top-10 next-token logits (`memlens run --format=json`, --memlens_cli): the three
compute the same function of the same weights, or nothing is measured.

Output: a llama-bench-like markdown table (mean +- sd of tokens/s over the repetitions), the
matmul table, peak RSS (PyTorch process per phase; memlens child process), machine info.
"""

import argparse
import ctypes
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
# libgomp's default wait policy spins before sleeping: on a loaded 2-core machine every
# 2-thread elementwise op then waits for the other thread's time slice (25x slower measured,
# full_report_pytorch.py). PASSIVE is PyTorch's best case here; it must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import tl_reference as ref  # noqa: E402


# ---------------------------------------------------------------------------------------------
# The PyTorch model
# ---------------------------------------------------------------------------------------------

def read_f32_safetensors(path, skip=()):
    """{name: F32 tensor owning its memory} of one safetensors file, read through a memory map
    (loading does not hold a second copy of the file); names ending with `skip` are left out."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    W = {}
    for name, info in header.items():
        if name.endswith(tuple(skip)):
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {info['dtype']}; this benchmark reads F32")
        b, e = info["data_offsets"]
        arr = np.array(mm[8 + n + b:8 + n + e]).view("<f4").reshape(info["shape"])
        W[name] = torch.from_numpy(arr)
    del mm
    return W


def load_tl_safetensors(folder):
    """config.json + model.safetensors (TransformerLens names), F32."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = ref.config_from_tl_json(json.load(f))
    W = read_f32_safetensors(os.path.join(folder, "model.safetensors"),
                             skip=(".attn.mask", ".attn.IGNORE"))
    return cfg, W


def model_family(folder):
    """("gpt_neox" | "gpt2" | "tl", config.json) as memlens's loaders tell them apart."""
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        j = json.load(f)
    if j.get("model_type") == "gpt_neox" or "GPTNeoXForCausalLM" in j.get("architectures", []):
        return "gpt_neox", j
    if j.get("model_type") == "gpt2" or "n_embd" in j:
        return "gpt2", j
    return "tl", j


def load_tl_named(folder):
    """(family, config.json, ref.Config, F32 weights under TransformerLens names) of a
    TransformerLens or HF GPT-2 folder (GPT-2 gets a zero unembedding bias)."""
    family, j = model_family(folder)
    if family == "gpt_neox":
        raise ValueError(f"{folder}: GPT-NeoX has no TransformerLens-named reading here")
    if family == "tl":
        return (family, j) + load_tl_safetensors(folder)
    cfg, W = ref.load_hf_gpt2_folder(folder)
    bad = sorted(k for k, v in W.items() if v.dtype != torch.float32)
    if bad:
        raise ValueError(f"{folder}: {bad[0]} is {W[bad[0]].dtype}; this benchmark reads F32")
    W["unembed.b_U"] = torch.zeros(cfg.d_vocab)
    return family, j, cfg, W


def load_torch_model(folder):
    """(family, config.json, PyTorch model) of a folder memlens loads."""
    family, j = model_family(folder)
    if family == "gpt_neox":
        W = read_f32_safetensors(os.path.join(folder, "model.safetensors"), skip=(
            ".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"))
        return family, j, NeoXTorchModel(j, W)
    family, j, cfg, W = load_tl_named(folder)
    return family, j, TorchModel(cfg, W)


def layer_norm(x, w, b, eps, name, cache):
    """F.layer_norm, or with a cache TransformerLens's LayerNorm with its two hooks."""
    if cache is None:
        return F.layer_norm(x, (x.shape[-1],), w, b, eps)
    xc = x - x.mean(-1, keepdim=True)
    scale = (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    out = xc / scale * w + b
    cache[name + ".hook_scale"] = scale
    cache[name + ".hook_normalized"] = out
    return out


class TorchModel:
    """A plain float32 PyTorch implementation of the gelu-4l family (LN, GELU, learned
    positions, biases), with fused q|k|v weights as an efficient implementation would use."""

    def __init__(self, cfg, W):
        assert cfg.norm == "LN" and cfg.positional_embedding_type == "standard"
        self.cfg = cfg
        D, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
        self.W_E, self.W_pos = W["embed.W_E"], W["pos_embed.W_pos"]
        self.layers = []
        for l in range(cfg.n_layers):
            p = f"blocks.{l}."
            g = lambda n: W[p + n]  # noqa: E731
            W_qkv = torch.cat([g(f"attn.W_{m}").permute(1, 0, 2).reshape(D, H * dh)
                               for m in "QKV"], dim=1).contiguous()
            b_qkv = torch.cat([g(f"attn.b_{m}").reshape(H * dh) for m in "QKV"])
            self.layers.append(dict(
                ln1_w=g("ln1.w"), ln1_b=g("ln1.b"), ln2_w=g("ln2.w"), ln2_b=g("ln2.b"),
                W_qkv=W_qkv, b_qkv=b_qkv, W_O=g("attn.W_O").contiguous(),
                W_O_flat=g("attn.W_O").reshape(H * dh, D), b_O=g("attn.b_O"),
                W_in=g("mlp.W_in"), b_in=g("mlp.b_in"), W_out=g("mlp.W_out"),
                b_out=g("mlp.b_out")))
        self.ln_f_w, self.ln_f_b = W["ln_final.w"], W["ln_final.b"]
        self.W_U, self.b_U = W["unembed.W_U"], W["unembed.b_U"]
        self.act = F.gelu if cfg.act_fn == "gelu" else (lambda x: F.gelu(x, approximate="tanh"))

    def _ln(self, x, w, b, name, cache):
        return layer_norm(x, w, b, self.cfg.eps, name, cache)

    @torch.inference_mode()
    def forward(self, tokens, cache=None):
        """tokens: LongTensor [T]. cache: None, or a dict that receives every hook."""
        c = self.cfg
        T, D, H, dh = tokens.shape[0], c.d_model, c.n_heads, c.d_head
        keep = (lambda name, t: cache.__setitem__(name, t.contiguous())) if cache is not None \
            else (lambda name, t: None)
        embed, pos = self.W_E[tokens], self.W_pos[:T]
        keep("hook_embed", embed)
        keep("hook_pos_embed", pos)
        resid = embed + pos
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)     # True above the diagonal
        for l, L in enumerate(self.layers):
            p = f"blocks.{l}."
            keep(p + "hook_resid_pre", resid)
            x = self._ln(resid, L["ln1_w"], L["ln1_b"], p + "ln1", cache)
            qkv = torch.addmm(L["b_qkv"], x, L["W_qkv"])          # [T, 3 * H * dh]
            q, k, v = (t.view(T, H, dh) for t in qkv.split(H * dh, dim=1))
            keep(p + "attn.hook_q", q)
            keep(p + "attn.hook_k", k)
            keep(p + "attn.hook_v", v)
            qh, kh, vh = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
            scores = torch.matmul(qh, kh.transpose(1, 2)) / c.attn_scale  # [H, T, T]
            scores = scores.masked_fill(mask, float("-inf"))
            keep(p + "attn.hook_attn_scores", scores)
            pattern = torch.softmax(scores, dim=-1)
            keep(p + "attn.hook_pattern", pattern)
            z = torch.matmul(pattern, vh).transpose(0, 1)           # [T, H, dh]
            keep(p + "attn.hook_z", z)
            if cache is None:
                attn_out = torch.addmm(L["b_O"], z.reshape(T, H * dh), L["W_O_flat"])
            else:
                result = torch.einsum("the,hed->thd", z, L["W_O"])  # per head, no b_O
                keep(p + "attn.hook_result", result)
                attn_out = result.sum(1) + L["b_O"]
            keep(p + "hook_attn_out", attn_out)
            resid = resid + attn_out
            keep(p + "hook_resid_mid", resid)
            x = self._ln(resid, L["ln2_w"], L["ln2_b"], p + "ln2", cache)
            pre = torch.addmm(L["b_in"], x, L["W_in"])
            keep(p + "mlp.hook_pre", pre)
            post = self.act(pre)
            keep(p + "mlp.hook_post", post)
            mlp_out = torch.addmm(L["b_out"], post, L["W_out"])
            keep(p + "hook_mlp_out", mlp_out)
            resid = resid + mlp_out
            keep(p + "hook_resid_post", resid)
        x = self._ln(resid, self.ln_f_w, self.ln_f_b, "ln_final", cache)
        return torch.addmm(self.b_U, x, self.W_U)


class NeoXTorchModel:
    """GPT-NeoX (Pythia) in plain float32 PyTorch, as HF's modeling_gpt_neox.py computes it:
    query_key_value viewed per head as [T, H, 3 * dh] and split q | k | v; rotary
    (rotate_half) on the first int(dh * rotary_pct) dims of q and k; parallel residual
    resid + attn(ln1(resid)) + mlp(ln2(resid)) (or sequential); exact-erf GELU; untied
    embed_out without bias. The cache keeps core/model/forward.h's hooks for this family (no
    hook_pos_embed; no hook_resid_mid in a parallel block; hook_q/hook_k before rotary,
    hook_rot_q/hook_rot_k after)."""

    def __init__(self, j, W):
        D, H = j["hidden_size"], j["num_attention_heads"]
        dh = D // H
        theta = float(j.get("rope_theta", j.get("rotary_emb_base", 10000)))
        self.cfg = ref.Config(
            n_layers=j["num_hidden_layers"], d_model=D, n_heads=H, d_head=dh,
            d_mlp=j["intermediate_size"], d_vocab=j["vocab_size"],
            n_ctx=j["max_position_embeddings"], norm="LN", act_fn=j.get("hidden_act", "gelu"),
            positional_embedding_type="rotary", eps=j.get("layer_norm_eps", 1e-5),
            rope_theta=theta)
        if self.cfg.act_fn != "gelu" or j.get("rope_scaling") or not j.get("attention_bias", True):
            raise ValueError("NeoXTorchModel: only hidden_act gelu, no rope_scaling, with biases")
        self.parallel = j.get("use_parallel_residual", True)
        self.rot = int(dh * j.get("rotary_pct", 0.25))
        g = lambda n: W["gpt_neox." + n]  # noqa: E731
        self.W_E = g("embed_in.weight")
        self.W_U = self.W_E if j.get("tie_word_embeddings") else W["embed_out.weight"]  # [V, D]
        self.layers = []
        for l in range(self.cfg.n_layers):
            p = f"layers.{l}."
            W_O = g(p + "attention.dense.weight")                       # [D, H * dh]
            self.layers.append(dict(
                ln1_w=g(p + "input_layernorm.weight"), ln1_b=g(p + "input_layernorm.bias"),
                ln2_w=g(p + "post_attention_layernorm.weight"),
                ln2_b=g(p + "post_attention_layernorm.bias"),
                W_qkv=g(p + "attention.query_key_value.weight"),
                b_qkv=g(p + "attention.query_key_value.bias"),
                W_O=W_O, W_O_heads=W_O.T.reshape(H, dh, D).contiguous(),
                b_O=g(p + "attention.dense.bias"),
                W_in=g(p + "mlp.dense_h_to_4h.weight"), b_in=g(p + "mlp.dense_h_to_4h.bias"),
                W_out=g(p + "mlp.dense_4h_to_h.weight"), b_out=g(p + "mlp.dense_4h_to_h.bias")))
        self.ln_f_w, self.ln_f_b = g("final_layer_norm.weight"), g("final_layer_norm.bias")
        inv_freq = 1.0 / theta ** (torch.arange(0, self.rot, 2).float() / self.rot)
        freqs = torch.outer(torch.arange(self.cfg.n_ctx).float(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)                         # [n_ctx, rot]
        self.cos, self.sin = emb.cos()[:, None, :], emb.sin()[:, None, :]

    def _rotary(self, x, T):
        """x [T, H, dh]: rotate_half rotary on the first self.rot dims, the rest passed on."""
        xr, xp = x[..., :self.rot], x[..., self.rot:]
        h = self.rot // 2
        half = torch.cat((-xr[..., h:], xr[..., :h]), dim=-1)
        return torch.cat((xr * self.cos[:T] + half * self.sin[:T], xp), dim=-1)

    @torch.inference_mode()
    def forward(self, tokens, cache=None):
        """tokens: LongTensor [T]. cache: None, or a dict that receives every hook."""
        c = self.cfg
        T, D, H, dh = tokens.shape[0], c.d_model, c.n_heads, c.d_head
        keep = (lambda name, t: cache.__setitem__(name, t.contiguous())) if cache is not None \
            else (lambda name, t: None)
        resid = self.W_E[tokens]
        keep("hook_embed", resid)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)     # True above the diagonal
        for l, L in enumerate(self.layers):
            p = f"blocks.{l}."
            keep(p + "hook_resid_pre", resid)
            x = layer_norm(resid, L["ln1_w"], L["ln1_b"], c.eps, p + "ln1", cache)
            qkv = F.linear(x, L["W_qkv"], L["b_qkv"]).view(T, H, 3 * dh)
            q, k, v = qkv[..., :dh], qkv[..., dh:2 * dh], qkv[..., 2 * dh:]
            keep(p + "attn.hook_q", q)
            keep(p + "attn.hook_k", k)
            keep(p + "attn.hook_v", v)
            q, k = self._rotary(q, T), self._rotary(k, T)
            keep(p + "attn.hook_rot_q", q)
            keep(p + "attn.hook_rot_k", k)
            scores = torch.matmul(q.transpose(0, 1), k.permute(1, 2, 0)) / c.attn_scale
            scores = scores.masked_fill(mask, float("-inf"))     # [H, T, T]
            keep(p + "attn.hook_attn_scores", scores)
            pattern = torch.softmax(scores, dim=-1)
            keep(p + "attn.hook_pattern", pattern)
            z = torch.matmul(pattern, v.transpose(0, 1)).transpose(0, 1)    # [T, H, dh]
            keep(p + "attn.hook_z", z)
            if cache is None:
                attn_out = F.linear(z.reshape(T, D), L["W_O"], L["b_O"])
            else:
                result = torch.einsum("the,hed->thd", z, L["W_O_heads"])    # per head, no b_O
                keep(p + "attn.hook_result", result)
                attn_out = result.sum(1) + L["b_O"]
            keep(p + "hook_attn_out", attn_out)
            if self.parallel:
                mlp_in = resid
            else:
                mlp_in = resid + attn_out
                keep(p + "hook_resid_mid", mlp_in)
            x = layer_norm(mlp_in, L["ln2_w"], L["ln2_b"], c.eps, p + "ln2", cache)
            pre = F.linear(x, L["W_in"], L["b_in"])
            keep(p + "mlp.hook_pre", pre)
            post = F.gelu(pre)
            keep(p + "mlp.hook_post", post)
            mlp_out = F.linear(post, L["W_out"], L["b_out"])
            keep(p + "hook_mlp_out", mlp_out)
            resid = (resid + attn_out + mlp_out) if self.parallel else (mlp_in + mlp_out)
            keep(p + "hook_resid_post", resid)
        x = layer_norm(resid, self.ln_f_w, self.ln_f_b, c.eps, "ln_final", cache)
        return F.linear(x, self.W_U)


def check_against_fixture():
    """The PyTorch model must reproduce tests/fixtures/tl_safetensors/expected_1 (every hook,
    same names and shapes as forward.h, and the logits) at the fixtures' tolerance."""
    folder = os.path.join(ROOT, "tests", "fixtures", "tl_safetensors")
    if not os.path.isdir(folder):
        return "skipped (no tests/fixtures/tl_safetensors)"
    cfg, W = load_tl_safetensors(folder)
    model = TorchModel(cfg, W)
    want, _ = ref.load_safetensors(os.path.join(folder, "expected_1.safetensors"))
    tokens = want["tokens"].long()
    got = {}
    got["logits"] = model.forward(tokens, got)
    nocache = model.forward(tokens)
    worst = 0.0
    for name, w in want.items():
        if name == "tokens":
            continue
        if name not in got or tuple(got[name].shape) != tuple(w.shape):
            raise AssertionError(f"PyTorch model: hook {name} missing or shaped "
                                 f"{tuple(got[name].shape) if name in got else None}, "
                                 f"want {tuple(w.shape)}")
        fin = torch.isfinite(w)
        if not torch.equal(fin, torch.isfinite(got[name])):
            raise AssertionError(f"PyTorch model: {name} has -inf/NaN in the wrong places")
        d = (got[name] - w)[fin].abs()
        tol = 1e-5 * w[fin].abs().max() + 1e-5 * w[fin].abs()
        worst = max(worst, (d / tol).max().item())
    extra = set(got) - set(want)
    if extra:
        raise AssertionError(f"PyTorch model caches hooks the fixture lacks: {sorted(extra)}")
    worst = max(worst, ((nocache - want["logits"]).abs() /
                        (1e-5 * want["logits"].abs().max())).max().item())
    if worst > 1:
        raise AssertionError(f"PyTorch model differs from the fixture: {worst:.2f} x tolerance")
    return f"ok ({len(want) - 1} tensors, worst {worst:.2f} of the fixture tolerance)"


def reference_logits(family, folder, j, tokens):
    """float64 logits [T, V] of an independent forward pass on the folder's weights."""
    if family == "gpt_neox":
        from make_hf_fixtures import neox_forward      # HF's modeling_gpt_neox.py, line by line
        raw, _ = ref.load_safetensors(os.path.join(folder, "model.safetensors"))
        return neox_forward(j, {k: v.double() for k, v in raw.items()}, tokens)
    if family == "gpt2":
        from make_fixtures import direct_gpt2_logits   # HF's GPT-2 with torch.nn.functional
        raw, _ = ref.load_safetensors(os.path.join(folder, "model.safetensors"))
        return direct_gpt2_logits(raw, j["n_layer"], j["n_head"],
                                  j.get("activation_function", "gelu_new"),
                                  j.get("layer_norm_epsilon", 1e-5))(tokens)
    cfg, W = ref.load_tl_folder(folder)
    return ref.forward(cfg, W, tokens)[0]


def memlens_top_logits(cli, folder, tokens, top, threads):
    """[(id, logit)] of memlens's `run` (unprocessed weights) after the last token."""
    p = subprocess.run([cli, "run", f"--model={folder}", "--tokens=" + ",".join(map(str, tokens)),
                        "--format=json", f"--top={top}", f"--threads={threads}"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError(f"{cli} run exited with {p.returncode}: {p.stderr.strip()[-800:]}")
    return [(e["id"], e["logit"]) for e in json.loads(p.stdout)["top"]]


def check_model(family, j, model, folder, memlens_cli, threads, T=32, top=10, tol=1e-4):
    """PyTorch (no cache and full cache) and memlens against a float64 reference on a T-token
    prompt of the benchmarked weights: every logit (last position's top for memlens) within
    tol x the largest |logit|, and memlens's top ids are the reference's."""
    tokens = torch.randint(0, model.cfg.d_vocab, (T,), generator=torch.Generator().manual_seed(1))
    want = reference_logits(family, folder, j, tokens.tolist())
    scale = want.abs().max().item()
    worst = max((model.forward(tokens).double() - want).abs().max().item(),
                (model.forward(tokens, {}).double() - want).abs().max().item()) / scale
    if not worst <= tol:
        raise AssertionError(f"PyTorch {family} model differs from the float64 reference by "
                             f"{worst:.2e} of the largest logit ({scale:.3f}); tolerance {tol}")
    msg = f"PyTorch ok (worst {worst:.1e} of max |logit| {scale:.2f})"
    if not (memlens_cli and os.path.isfile(memlens_cli)):
        return msg + f"; memlens NOT checked (no CLI at {memlens_cli})"
    got = memlens_top_logits(memlens_cli, folder, tokens.tolist(), top, threads)
    ids = [i for i, _ in got]
    want_ids = torch.topk(want[-1], top).indices.tolist()
    if sorted(ids) != sorted(want_ids):
        raise AssertionError(f"memlens's top-{top} next tokens {ids} are not the reference's "
                             f"{want_ids}")
    mworst = max(abs(v - want[-1, i].item()) for i, v in got) / scale
    if not mworst <= tol:
        raise AssertionError(f"memlens's top logits differ from the float64 reference by "
                             f"{mworst:.2e} of the largest logit; tolerance {tol}")
    return msg + f"; memlens top-{top} ok (worst {mworst:.1e})"


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------

def rss_reset():
    """Resets the kernel's peak-RSS mark of this process (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def warn_unless_opt(binary):
    """bazel-bin follows the last build's mode: after a plain `bazel test //...` it points to
    the fastbuild outputs, which are several times slower than -c opt."""
    real = os.path.realpath(binary)
    if os.path.exists(real) and "-opt/" not in real:
        print(f"WARNING: {binary} is {real}, not a -c opt build: rebuild it with "
              "`bazel build -c opt ...` (or pass the k8-opt path)", file=sys.stderr, flush=True)


def run_memlens(binary, args, env_extra, timeout):
    """Runs a Google Benchmark binary with JSON output; returns (json dict, peak RSS in KB).

    The peak is polled from /proc/PID/status (VmHWM) while the child runs: wait4's ru_maxrss
    is useless here because Linux carries the forking parent's high-water mark into the
    child's across exec, so it would report this (large) Python process's peak."""
    env = dict(os.environ, **env_extra)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([binary, "--benchmark_format=json"] + args, stdout=out, stderr=err,
                             env=env)
        start, hwm = time.time(), 0
        while True:
            hwm = max(hwm, child_hwm_kb(p.pid))
            pid, status, _ = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.time() - start > timeout:
                p.kill()
                os.wait4(p.pid, 0)
                raise RuntimeError(f"{binary} did not finish in {timeout} s")
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errtext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"{binary} exited with {p.returncode}: {errtext.strip()[-800:]}")
    try:
        return json.loads(text), hwm
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{binary} printed no JSON ({e}): {text[:300]!r}")


def benchmark_entries(report, base_name):
    """Per-repetition entries of the benchmark named base_name (ignoring /args suffixes)."""
    out = []
    for b in report.get("benchmarks", []):
        name = b.get("run_name", b.get("name", ""))
        if name.split("/")[0] != base_name or b.get("run_type") == "aggregate":
            continue
        if b.get("error_occurred"):
            raise RuntimeError(f"{base_name}: {b.get('error_message')}")
        out.append(b)
    return out


def counter(entry, *names):
    lower = {k.lower(): v for k, v in entry.items()}
    for n in names:
        if n.lower() in lower:
            return float(lower[n.lower()])
    return None


def mean_sd(xs):
    if not xs:
        return None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def fmt(ms, digits=1):
    if ms is None:
        return "n/a"
    m, s = ms
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def openblas_core(path):
    """The kernel set OpenBLAS chose (openblas_get_corename). An OpenBLAS older than the CPU
    falls back to "Prescott" (SSE3, ~9x slower matmuls here): then set OPENBLAS_CORETYPE."""
    try:
        fn = ctypes.CDLL(path).openblas_get_corename
        fn.restype = ctypes.c_char_p
        return fn().decode()
    except (OSError, AttributeError):
        return "?"


def machine_info(threads):
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas, core = set(), "?"
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                lib = line.rsplit("/", 1)[-1].strip()
                if any(s in lib for s in ("blas", "mkl", "lapack")):
                    blas.add(os.path.realpath(line.split()[-1]).rsplit("/", 1)[-1])
                    if "openblas" in lib and core == "?":
                        core = openblas_core(line.split()[-1])
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "threads": threads,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "blas_libraries_loaded": sorted(blas) or ["?"], "openblas_core": core,
            "python": platform.python_version(),
            "memlens_commit": commit}


def matmul_shapes(cfg, T):
    """(M, K, N) of the model's matmuls on T tokens."""
    D, F, dh, V = cfg.d_model, cfg.d_mlp, cfg.d_head, cfg.d_vocab
    return [(T, D, D),        # one of W_Q/W_K/W_V, and W_O
            (T, D, 3 * D),    # fused q|k|v
            (T, D, F),        # W_in
            (T, F, D),        # W_out
            (T, dh, T),       # one head's q k^T
            (T, T, dh),       # one head's pattern v
            (T, D, V)]        # unembedding


def torch_matmul_gflops(M, K, N, reps, gen):
    a = torch.randn(M, K, generator=gen)
    b = torch.randn(K, N, generator=gen)
    torch.matmul(a, b)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        out.append(2 * M * K * N / (time.perf_counter() - t) / 1e9)
    return out


def memlens_matmul_gflops(report):
    """{(M, K, N): [GFLOPS per repetition]} from BM_MatMul/M/K/N entries."""
    res = {}
    for b in report.get("benchmarks", []):
        name = b.get("run_name", b.get("name", ""))
        parts = name.split("/")
        if parts[0] != "BM_MatMul" or b.get("run_type") == "aggregate" or len(parts) < 4:
            continue
        try:
            M, K, N = (int(x) for x in parts[1:4])
        except ValueError:
            continue
        g = counter(b, "GFLOPS", "gflops", "GFLOP/s")
        if g is None:
            flops = counter(b, "FLOPS", "flops", "flop/s")
            g = flops / 1e9 if flops is not None else None
        if g is None and b.get("real_time"):
            unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
            g = 2 * M * K * N / (b["real_time"] * unit) / 1e9
        if g is not None:
            res.setdefault((M, K, N), []).append(g)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/tmp/memlens-gelu4l-random",
                    help="model folder: TL safetensors, HF GPT-2 or HF GPT-NeoX "
                         "(benchmarks/make_random_model.py --family writes them)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3, help="measured repetitions of each test")
    ap.add_argument("--memlens_bench", default=os.path.join(ROOT, "bazel-bin", "benchmarks",
                                                            "forward_benchmark"))
    ap.add_argument("--memlens_args", default="",
                    help="extra arguments for the memlens binaries (space separated)")
    ap.add_argument("--memlens_ops", default="",
                    help="Google Benchmark binary with BM_MatMul/M/K/N (GFLOPS counter)")
    ap.add_argument("--memlens_cli", default=os.path.join(ROOT, "bazel-bin", "core", "cli",
                                                          "memlens"),
                    help="memlens binary whose `run` logits the check compares")
    ap.add_argument("--no_matmul", action="store_true")
    ap.add_argument("--no_check", action="store_true")
    ap.add_argument("--timeout", type=float, default=600, help="per memlens invocation, s")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    core = machine_info(args.threads)["openblas_core"]
    if core.lower() == "prescott":
        print("WARNING: OpenBLAS runs its generic Prescott (SSE3) kernels: it does not know this "
              "CPU; rerun with OPENBLAS_CORETYPE set (e.g. SkylakeX or Haswell) for a fair "
              "comparison", file=sys.stderr, flush=True)
    if not args.no_check:
        print("PyTorch model vs tests/fixtures/tl_safetensors:", check_against_fixture(),
              flush=True)
    if not os.path.exists(os.path.join(args.model, "model.safetensors")):
        sys.exit(f"{args.model}: no model.safetensors; run "
                 f"/usr/bin/python3 benchmarks/make_random_model.py {args.model}")

    rss_before = rss_kb("VmRSS")
    family, config_json, model = load_torch_model(args.model)
    cfg = model.cfg
    rss_loaded = rss_kb("VmRSS")
    if not args.no_check:
        print(f"{args.model} ({family}) vs a float64 reference, 32 tokens:",
              check_model(family, config_json, model, args.model, args.memlens_cli,
                          args.threads), flush=True)
    T = args.tokens
    if T > cfg.n_ctx:
        sys.exit(f"--tokens {T} > n_ctx {cfg.n_ctx}")
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, cfg.d_vocab, (T,), generator=gen)
    tokens[0] = 0

    memlens_ok = os.path.isfile(args.memlens_bench) and os.access(args.memlens_bench, os.X_OK)
    warn_unless_opt(args.memlens_bench)
    memlens_note = "" if memlens_ok else (
        f"memlens benchmark binary {args.memlens_bench} not found: build it with "
        "`bazel build -c opt //benchmarks:forward_benchmark` or pass --memlens_bench; "
        "only the PyTorch side was measured")
    memlens_args = ["--benchmark_filter=^BM_Forward(NoCache|FullCache)"] + args.memlens_args.split()
    memlens_env = {"MEMLENS_BENCH_MODEL": os.path.abspath(args.model),
                   "MEMLENS_THREADS": str(args.threads)}

    # Warm-up (first-touch page faults, BLAS thread start) outside the measurements.
    model.forward(tokens)
    model.forward(tokens, {})

    tps = {"torch_nocache": [], "torch_cache": [], "memlens_nocache": [], "memlens_cache": []}
    peak = {"torch_nocache": 0, "torch_cache": 0}
    memlens_rss, cache_bytes, extra_counters = 0, 0, {}
    can_reset = rss_reset()
    for rep in range(args.reps):
        for mode in ("torch_nocache", "torch_cache"):
            rss_reset()
            cache = {} if mode == "torch_cache" else None
            t = time.perf_counter()
            model.forward(tokens, cache)
            dt = time.perf_counter() - t
            tps[mode].append(T / dt)
            peak[mode] = max(peak[mode], rss_kb("VmHWM"))
            if cache:
                cache_bytes = sum(v.numel() * v.element_size() for v in cache.values())
            del cache
        if memlens_ok:
            try:
                report, rss = run_memlens(args.memlens_bench, memlens_args, memlens_env,
                                          args.timeout)
            except RuntimeError as e:
                memlens_ok, memlens_note = False, f"memlens benchmark failed: {e}"
                continue
            memlens_rss = max(memlens_rss, rss)
            for key, name in (("memlens_nocache", "BM_ForwardNoCache"),
                              ("memlens_cache", "BM_ForwardFullCache")):
                entries = benchmark_entries(report, name)
                vals = [counter(e, "tokens_per_second") for e in entries]
                vals = [v for v in vals if v is not None]
                if not vals:
                    memlens_note = (f"{args.memlens_bench} reported no {name} with a "
                                    "tokens_per_second counter")
                tps[key] += vals
                for e in entries:
                    for k, v in e.items():
                        if k not in ("tokens_per_second", "iterations", "real_time", "cpu_time",
                                     "repetitions", "repetition_index", "threads",
                                     "family_index", "per_family_instance_index") \
                                and isinstance(v, (int, float)):
                            extra_counters[f"{name}.{k}"] = v
        print(f"  repetition {rep + 1}/{args.reps}: PyTorch {tps['torch_nocache'][-1]:.0f} / "
              f"{tps['torch_cache'][-1]:.0f} tok/s" +
              (f", memlens {tps['memlens_nocache'][-1]:.0f} / {tps['memlens_cache'][-1]:.0f}"
               if memlens_ok and tps["memlens_nocache"] and tps["memlens_cache"] else ""),
              file=sys.stderr, flush=True)

    mm = []
    if not args.no_matmul:
        ops = {}
        if args.memlens_ops:
            try:
                rep, _ = run_memlens(args.memlens_ops, ["--benchmark_filter=^BM_MatMul"] +
                                     args.memlens_args.split(), memlens_env, args.timeout)
                ops = memlens_matmul_gflops(rep)
            except (RuntimeError, OSError) as e:
                print(f"memlens ops benchmark failed: {e}", file=sys.stderr)
        # TODO(memlens ops): this expects --memlens_ops to report BM_MatMul/M/K/N (C[M,N] =
        # A[M,K] B[K,N], float32, row-major) with a "GFLOPS" counter (a flop/s-rate counter
        # named FLOPS, or the real time, is also understood) at the shapes of matmul_shapes().
        for M, K, N in matmul_shapes(cfg, T):
            tg = torch_matmul_gflops(M, K, N, args.reps, gen)
            mm.append(((M, K, N), mean_sd(ops.get((M, K, N), [])), mean_sd(tg)))

    info = machine_info(args.threads)
    ratio = lambda a, b: f"{a[0] / b[0]:.2f}" if a and b else "n/a"  # noqa: E731
    rows = [(f"forward {T} tok, no cache", mean_sd(tps["memlens_nocache"]),
             mean_sd(tps["torch_nocache"])),
            (f"forward {T} tok, full cache", mean_sd(tps["memlens_cache"]),
             mean_sd(tps["torch_cache"]))]
    print()
    print(f"model: {args.model} ({family}: {cfg.n_layers} layers, d_model {cfg.d_model}, "
          f"{cfg.n_heads} heads of {cfg.d_head}, d_mlp {cfg.d_mlp}, vocab {cfg.d_vocab}), "
          f"float32, {args.threads} threads, {args.reps} repetitions (mean ± sd)")
    print()
    print("| test | memlens tok/s | PyTorch tok/s | memlens / PyTorch |")
    print("|---|---:|---:|---:|")
    for name, m, t in rows:
        print(f"| {name} | {fmt(m)} | {fmt(t)} | {ratio(m, t)} |")
    if mm:
        print()
        print("| matmul M x K x N | memlens GFLOPS | torch.matmul GFLOPS | memlens / PyTorch |")
        print("|---|---:|---:|---:|")
        for (M, K, N), m, t in mm:
            print(f"| {M} x {K} x {N} | {fmt(m)} | {fmt(t)} | {ratio(m, t)} |")
    print()
    mb = lambda kb: f"{kb / 1024:.0f} MB"  # noqa: E731
    print(f"PyTorch process RSS: {mb(rss_before)} before loading, {mb(rss_loaded)} with the "
          f"model loaded; peak {mb(peak['torch_nocache'])} during no-cache forwards, "
          f"{mb(peak['torch_cache'])} during full-cache forwards"
          + ("" if can_reset else " (peaks are process-lifetime: clear_refs unavailable)")
          + f"; the full cache holds {cache_bytes / 2**20:.0f} MB of hooks.")
    if memlens_rss:
        print(f"memlens benchmark process: peak RSS {mb(memlens_rss)} (whole process: model, "
              f"both benchmarks).")
    for k, v in sorted(extra_counters.items()):
        print(f"memlens counter {k} = {v:g}")
    if memlens_note:
        print(f"NOTE: {memlens_note}")
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "model": args.model, "tokens": T, "reps": args.reps,
                       "tokens_per_second": tps, "matmul_gflops": [
                           {"shape": s, "memlens": m, "torch": t} for s, m, t in mm],
                       "rss_kb": {"before_load": rss_before, "loaded": rss_loaded,
                                  "torch_peak": peak, "memlens_peak": memlens_rss},
                       "torch_cache_bytes": cache_bytes, "memlens_counters": extra_counters,
                       "note": memlens_note}, f, indent=1)


if __name__ == "__main__":
    main()
