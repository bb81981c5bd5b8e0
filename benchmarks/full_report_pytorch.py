#!/usr/bin/env python3
"""memlens's full report (plugins dla, cleanup_dla, erasure, adversarial, default flags) in
PyTorch: a check against memlens's JSON report, and a per-prompt benchmark against it.

    /usr/bin/python3 benchmarks/make_random_model.py [--family gpt2-small|pythia-160m]  # once
    bazel build -c opt //core/cli:memlens //benchmarks:report_benchmark
    # check: runs `memlens report` (zero ablation) on --check_prompt_len random tokens, then
    # the same computation here, and compares every number both report:
    /usr/bin/python3 benchmarks/full_report_pytorch.py --check --model DIR [--check_prompt_len 16]
    # or against a report made by hand (one --prompt_tokens per prompt, the ids memlens ran):
    memlens report --model=DIR --tokens=0,5,9,... --format=json --out=r.json \\
        --cleanup_ablation=zero --adversarial_ablation=zero
    /usr/bin/python3 benchmarks/full_report_pytorch.py --check --model DIR --memlens_json r.json \\
        --prompt_tokens 0,5,9,...
    # benchmark (memlens side: report_benchmark's BM_FullReport):
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 benchmarks/full_report_pytorch.py --bench \\
        --model DIR --tokens 1024 --prompts 2 --reps 3 --memlens_bench PATH/report_benchmark

--model: a TransformerLens safetensors folder (gelu-4l family), an HF GPT2LMHeadModel folder, or
an HF GPTNeoXForCausalLM folder (Pythia: parallel residual, partial rotary), F32. GPT-NeoX
weights are read with benchmarks/compare_pytorch.py's NeoXTorchModel (HF's modeling_gpt_neox.py
layout and rotary, checked there against a float64 forward), renamed to TransformerLens's
names as TransformerLens's convert_neox_weights does; --check also compares this file's
forward with NeoXTorchModel's.

What one prompt costs (both PyTorch variants compute every quantity the four plugins compute):
  * the weights processed as `memlens report` does (TransformerLens's defaults, in float64
    then float32: tools/tl_reference.py process_weights);
  * clean forward with a cache; every node's output (embed, pos_embed, L{l}H{h}, L{l}.b_O, M{l});
  * dla: DLA of every node at every position (final-LN scale frozen), BOS apart, and the check
    that the nodes plus bias terms sum to the logit;
  * cleanup_dla: survival-scaled DLA, path-corrected DLA (every writer through every later
    head's value path, patterns and ln1 scales frozen: batched matmuls), the total effect of
    every node by ablation (one rerun per node; resample by default, the donor being the
    previous prompt, run once with a cache), the share of samples where DLA and total effect
    disagree, and the least-squares write-back slope (path-corrected DLA - DLA against DLA)
    of the automatically chosen writer;
  * erasure: PR(node, writer), the writer's share of the node's input and the erased share,
    for every (writer, later node) pair at every position (one Gram matrix per position);
    the two writers chosen automatically on the first prompt (the largest erased share of a
    flagged eraser, then the most negative median PR from a later node, then the largest
    mean output norm); their survival curves (PR(resid, writer) and the own share 1 + sum of
    later PR), BOS split, and causal rerun (writer removed from later value inputs, ln1 scale
    frozen); the static (weights-only) detector, once per run;
  * adversarial: DLA vs total effect of every head and MLP but M0 at every position, top list
    (at most 3 per node). The total effects are computed once and shared with cleanup_dla,
    as memlens shares its reruns.
Two variants:
  tl       TransformerLens style: every forward is run_with_cache-like (every hook kept) or
           run_with_hooks, starts from the embedding, and computes the full [T, vocab] logits,
           which are then indexed;
  matched  memlens's engine shortcuts (core/analysis/ablation.h): an ablation rerun starts at
           the first residual point after the node (resid_mid of a head's or b_O's layer, the
           next resid_pre after an MLP or after a parallel block's head, resid_pre 0 for the
           embeddings), that is the clean one plus (replacement - clean output); the causal
           rerun starts at the first edited layer from the clean resid_pre; only the hooks the
           plugins need are kept; only the target-direction logits (final-LN output .
           W_U[:, target] + b_U[target]) are computed.
Quantiles are exact over all samples (memlens keeps quantile sketches of k = 256: exact while a
sketch holds at most 256 samples, so --check runs on short prompts): the value whose rank
interval contains q * count.

--bench times N random-token prompts (seeded; the first one's donor is one extra prompt) per
repetition after a warm-up, alternating the variants and memlens's Google Benchmark binary
(env MEMLENS_BENCH_MODEL, MEMLENS_THREADS, MEMLENS_BENCH_TOKENS, MEMLENS_BENCH_PROMPTS; it
reports BM_FullReport with counters seconds_per_prompt and peak_rss_mib), and prints a markdown
table: seconds per prompt (mean ± sd over repetitions, including the once-per-run static
detector and the end-of-run aggregation divided by N, as memlens's iteration includes them),
peak RSS (the PyTorch process, peak reset before each variant's repetition; includes the loaded
model), and memlens's speed ratio over each variant. --profile PATH writes a cProfile of one
repetition of each variant first.
"""

import argparse
import cProfile
import dataclasses
import json
import math
import os
import pstats
import subprocess
import sys
import tempfile
import time

# libgomp's default (spin before sleeping) makes every 2-thread elementwise op wait for the other
# thread's time slice on a loaded machine: a [1024, 768] add took 15 ms instead of 0.6 ms with
# both cores busy elsewhere. PASSIVE (threads sleep at once) must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import tl_reference as ref  # noqa: E402
from compare_pytorch import (  # noqa: E402
    NeoXTorchModel, benchmark_entries, counter, fmt, load_tl_named, machine_info, mean_sd,
    model_family, read_f32_safetensors, rss_kb, rss_reset, run_memlens,
    warn_unless_opt)

# The plugins' default flags (plugins/*/*.cc).
CLEANUP_THRESHOLD, CLEANUP_MIN_MAGNITUDE = 0.25, 0.05
ERASURE_THRESHOLD, ERASURE_MIN_SHARE, ERASURE_NUM_WRITERS = -0.1, 0.02, 2
STATIC_TOP, NEURON_THRESHOLD = 10, -0.3
ADV_TOP, ADV_MIN_DLA, ADV_PER_NODE, ADV_EXCLUDE = 20, 0.5, 3, ("M0",)


# ---------------------------------------------------------------------------------------------
# Nodes (core/analysis/nodes.h)
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Node:
    kind: str   # "embed", "pos_embed", "head", "b_O", "mlp"
    layer: int
    head: int
    name: str
    parallel: bool = False   # the node's block is parallel: its MLP reads resid_pre

    @property
    def write_stage(self):
        """Embeddings -1, layer l's attention 2l, its MLP 2l+1."""
        return -1 if self.layer < 0 else 2 * self.layer + (self.kind == "mlp")

    @property
    def read_stage(self):
        """Heads and b_O of layer l read resid_pre (2l); the MLP resid_mid (2l+1), or resid_pre
        in a parallel block."""
        return -1 if self.layer < 0 else 2 * self.layer + (self.kind == "mlp" and not self.parallel)

    def read_by(self, other):
        return other.read_stage > self.write_stage


def list_nodes(model):
    c, par = model.cfg, model.parallel
    nodes = [Node("embed", -1, -1, "embed")]
    if model.W_pos is not None:
        nodes.append(Node("pos_embed", -1, -1, "pos_embed"))
    for l in range(c.n_layers):
        nodes += [Node("head", l, h, f"L{l}H{h}", par) for h in range(c.n_heads)]
        nodes += [Node("b_O", l, -1, f"L{l}.b_O", par), Node("mlp", l, -1, f"M{l}", par)]
    return nodes


def resid_points(model):
    """(name, hook, stage) of mid{l} (sequential blocks only) and post{l}: MidPostPoints."""
    pts = []
    for l in range(model.cfg.n_layers):
        if not model.parallel:
            pts.append((f"mid{l}", f"blocks.{l}.hook_resid_mid", 2 * l))
        pts.append((f"post{l}", f"blocks.{l}.hook_resid_post", 2 * l + 1))
    return pts


# ---------------------------------------------------------------------------------------------
# Model: the processed weights, a forward with interventions and reruns from a layer
# ---------------------------------------------------------------------------------------------

def neox_tl_named(neox):
    """(ref.Config, weights under TransformerLens names) of compare_pytorch's NeoXTorchModel,
    as TransformerLens's convert_neox_weights: query_key_value's rows are per head q | k | v."""
    c = neox.cfg
    H, dh, D = c.n_heads, c.d_head, c.d_model
    W = {"embed.W_E": neox.W_E, "unembed.W_U": neox.W_U.T, "unembed.b_U": torch.zeros(c.d_vocab),
         "ln_final.w": neox.ln_f_w, "ln_final.b": neox.ln_f_b}
    for l, L in enumerate(neox.layers):
        p = f"blocks.{l}."
        qkv, bqkv = L["W_qkv"].view(H, 3, dh, D), L["b_qkv"].view(H, 3, dh)
        for i, m in enumerate("QKV"):
            W[p + f"attn.W_{m}"] = qkv[:, i].transpose(1, 2)        # [H, D, dh]
            W[p + f"attn.b_{m}"] = bqkv[:, i]
        W.update({p + "attn.W_O": L["W_O_heads"], p + "attn.b_O": L["b_O"],
                  p + "mlp.W_in": L["W_in"].T, p + "mlp.b_in": L["b_in"],
                  p + "mlp.W_out": L["W_out"].T, p + "mlp.b_out": L["b_out"],
                  p + "ln1.w": L["ln1_w"], p + "ln1.b": L["ln1_b"],
                  p + "ln2.w": L["ln2_w"], p + "ln2.b": L["ln2_b"]})
    return c, W


def load_neox(folder):
    with open(os.path.join(folder, "config.json")) as f:
        j = json.load(f)
    path = os.path.join(folder, "model.safetensors")
    skip = (".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq")
    try:
        W = read_f32_safetensors(path, skip)   # memory-mapped, for the large models
    except ValueError:                         # F16/BF16 (small fixtures): as memlens, to F32
        raw, _ = ref.load_safetensors(path)
        W = {k: v.float() for k, v in raw.items() if not k.endswith(skip)}
    return NeoXTorchModel(j, W)


def load_processed(folder):
    """The model as `memlens report` sees it: TransformerLens's default processing (in float64,
    then float32); the norms become LNPre (no weight, no bias), as memlens stores them."""
    family, _ = model_family(folder)
    rotary = None
    if family == "gpt_neox":
        neox = load_neox(folder)
        cfg, W = neox_tl_named(neox)
        rotary = neox
    else:
        _, _, cfg, W = load_tl_named(folder)
    cfg, W = ref.process_weights(cfg, {k: v.double() for k, v in W.items()})
    W = {k: v.float().contiguous() for k, v in W.items()}
    if rotary is not None:   # from here on only its rotary tables are used
        rotary.layers, rotary.W_E, rotary.W_U = [], None, None
    return Model(cfg, W, rotary)


class Model:
    """Float32 weights after processing, in the layouts an efficient PyTorch forward uses: fused
    q|k (and v apart: the causal rerun recomputes only v), W_O per head and flat."""

    def __init__(self, cfg, W, rotary=None):
        assert cfg.norm == "LNPre", "processed weights: LayerNorm without weight and bias"
        self.cfg, self.eps = cfg, cfg.eps
        self.rotary = rotary                  # compare_pytorch.NeoXTorchModel, or None
        self.parallel = rotary is not None and rotary.parallel
        D, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
        self.W_E, self.W_pos = W["embed.W_E"], W.get("pos_embed.W_pos")
        self.layers = []
        for l in range(cfg.n_layers):
            g = lambda n: W[f"blocks.{l}." + n]  # noqa: E731
            flat = lambda m: g(f"attn.W_{m}").permute(1, 0, 2).reshape(D, H * dh)  # noqa: E731
            W_qkv = torch.cat([flat(m) for m in "QKV"], dim=1).contiguous()
            b_qkv = torch.cat([g(f"attn.b_{m}").reshape(H * dh) for m in "QKV"])
            self.layers.append(dict(
                W_qkv=W_qkv, b_qkv=b_qkv, W_qk=W_qkv[:, :2 * H * dh].contiguous(),
                b_qk=b_qkv[:2 * H * dh], W_v=W_qkv[:, 2 * H * dh:].contiguous(),
                b_v=b_qkv[2 * H * dh:], W_O=g("attn.W_O").contiguous(),
                W_O_flat=g("attn.W_O").reshape(H * dh, D), b_O=g("attn.b_O"),
                W_in=g("mlp.W_in"), b_in=g("mlp.b_in"), W_out=g("mlp.W_out"),
                b_out=g("mlp.b_out")))
        self.W_U, self.b_U = W["unembed.W_U"].contiguous(), W["unembed.b_U"]
        self.act = F.gelu if cfg.act_fn == "gelu" else (lambda x: F.gelu(x, approximate="tanh"))
        self._mask = None   # the causal mask of the last prompt length

    def _norm(self, x, scale_needed=True):
        """LNPre: (x - mean) / scale, and the scale [T, 1] (None when not needed: then one
        fused F.layer_norm)."""
        if not scale_needed:
            return F.layer_norm(x, x.shape[-1:], eps=self.eps), None
        xc = x - x.mean(-1, keepdim=True)
        scale = (xc.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        return xc / scale, scale

    def _attention(self, l, p, resid, T, mask, put, want, ablate, v_sub):
        """Layer l's attention block (run's arguments): its output (b_O included)."""
        c, L = self.cfg, self.layers[l]
        H, dh = c.n_heads, c.d_head
        put(p + "hook_resid_pre", resid)
        x, scale = self._norm(resid, want(p + "ln1.hook_scale") or v_sub is not None)
        put(p + "ln1.hook_scale", scale)
        put(p + "ln1.hook_normalized", x)
        if v_sub is not None and l >= v_sub[0]:
            q, k = torch.addmm(L["b_qk"], x, L["W_qk"]).view(T, 2, H, dh).unbind(1)
            xv = resid - v_sub[1]
            xv = (xv - xv.mean(-1, keepdim=True)) / scale
            v = torch.addmm(L["b_v"], xv, L["W_v"]).view(T, H, dh)
        else:
            q, k, v = torch.addmm(L["b_qkv"], x, L["W_qkv"]).view(T, 3, H, dh).unbind(1)
        put(p + "attn.hook_q", q)
        put(p + "attn.hook_k", k)
        put(p + "attn.hook_v", v)
        if self.rotary is not None:
            q, k = self.rotary._rotary(q, T), self.rotary._rotary(k, T)
            put(p + "attn.hook_rot_q", q)
            put(p + "attn.hook_rot_k", k)
        scores = torch.matmul(q.transpose(0, 1), k.permute(1, 2, 0)) / c.attn_scale
        scores = scores.masked_fill(mask, float("-inf"))
        put(p + "attn.hook_attn_scores", scores)
        pattern = torch.softmax(scores, dim=-1)
        put(p + "attn.hook_pattern", pattern)
        z = torch.matmul(pattern, v.transpose(0, 1)).transpose(0, 1)   # [T, H, dh]
        put(p + "attn.hook_z", z)
        if want(p + "attn.hook_result"):
            result = torch.einsum("the,hed->thd", z, L["W_O"])
            put(p + "attn.hook_result", result)
            attn_out = result.sum(1) + L["b_O"]
        else:
            attn_out = torch.addmm(L["b_O"], z.reshape(T, H * dh), L["W_O_flat"])
        if ablate and ablate[0].layer == l:
            if ablate[0].kind == "head":
                h = ablate[0].head
                attn_out = attn_out + (ablate[1] - z[:, h] @ L["W_O"][h])
            elif ablate[0].kind == "b_O":
                attn_out = attn_out + (ablate[1] - L["b_O"])
        put(p + "hook_attn_out", attn_out)
        return attn_out

    def run(self, tokens, cache=None, keep=None, start=0, resid=None, at_mid=False, ablate=None,
            v_sub=None, unembed="full"):
        """One forward pass.
        cache: None or a dict receiving the hooks (TransformerLens names) in `keep` (None: all);
        start, resid: rerun from blocks.{start}.hook_resid_pre = resid (start 0 without resid:
               embed the tokens); at_mid: from blocks.{start}.hook_resid_mid = resid instead
               (sequential blocks);
        ablate: (Node, replacement [T, D]): that node's output replaced at every position;
        v_sub: (layer, h [T, D]): from that layer on, the value input is resid_pre - h,
               normalized with the scale of resid_pre (ln1 scale frozen);
        unembed: "full" -> logits [T, V]; (U [T, D], b [T]) -> per-position logit along U;
               None -> nothing."""
        c, T = self.cfg, tokens.shape[0]
        want = (lambda n: False) if cache is None else (lambda n: keep is None or n in keep)

        def put(name, t):
            if want(name):
                cache[name] = t.contiguous()

        kind = ablate[0].kind if ablate else None
        if resid is None:
            embed = ablate[1] if kind == "embed" else self.W_E[tokens]
            put("hook_embed", embed)
            resid = embed
            if self.W_pos is not None:
                pos = ablate[1] if kind == "pos_embed" else self.W_pos[:T]
                put("hook_pos_embed", pos)
                resid = embed + pos
        if self._mask is None or self._mask.shape[0] != T:
            self._mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        mask = self._mask
        for l in range(start, c.n_layers):
            L, p = self.layers[l], f"blocks.{l}."
            if at_mid and l == start:
                mlp_in = resid
            else:
                attn_out = self._attention(l, p, resid, T, mask, put, want, ablate, v_sub)
                if self.parallel:
                    mlp_in = resid
                else:
                    mlp_in = resid = resid + attn_out
                    put(p + "hook_resid_mid", resid)
            x, scale = self._norm(mlp_in, want(p + "ln2.hook_scale"))
            put(p + "ln2.hook_scale", scale)
            put(p + "ln2.hook_normalized", x)
            pre = torch.addmm(L["b_in"], x, L["W_in"])
            put(p + "mlp.hook_pre", pre)
            post = self.act(pre)
            put(p + "mlp.hook_post", post)
            mlp_out = torch.addmm(L["b_out"], post, L["W_out"])
            if kind == "mlp" and ablate[0].layer == l:
                mlp_out = ablate[1]
            put(p + "hook_mlp_out", mlp_out)
            resid = (resid + attn_out + mlp_out) if self.parallel else (resid + mlp_out)
            put(p + "hook_resid_post", resid)
        x, scale = self._norm(resid, want("ln_final.hook_scale"))
        put("ln_final.hook_scale", scale)
        put("ln_final.hook_normalized", x)
        if unembed is None:
            return None
        if isinstance(unembed, str):
            return torch.addmm(self.b_U, x, self.W_U)
        U, b = unembed
        return (x * U).sum(-1) + b


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def pr_rows(a, b, bb=None):
    """PR(a, b) = a.b / |b|^2 along the last axis; NaN where |b| == 0 (ProjectionRatio)."""
    bb = (b * b).sum(-1) if bb is None else bb
    return torch.where(bb > 0, (a * b).sum(-1) / bb, torch.full_like(bb, math.nan))


def quantiles(x, qs):
    """Per column of x [samples, ...], NaN ignored: the value whose rank interval contains
    q * count (QuantileSketch::Quantile with every sample retained); NaN when empty."""
    s, _ = torch.sort(x, dim=0)                       # NaN sort last
    n = (~torch.isnan(x)).sum(0)
    out = []
    for q in qs:
        idx = torch.clamp(torch.floor(q * n).long(), max=torch.clamp(n - 1, min=0))
        v = s.gather(0, idx.unsqueeze(0)).squeeze(0)
        out.append(torch.where(n > 0, v, torch.full_like(v, math.nan)))
    return out


def frac_negative(x):
    n = (~torch.isnan(x)).sum(0)
    return (x < 0).sum(0) / n


def pair_summary(pr, share, erased):
    """PrMatrix::Summarize per pair (column) over samples (rows, positions >= 1): PR median,
    quartiles, share negative, non-NaN count, and the medians of writer_share and erased."""
    q25, q50, q75 = quantiles(pr, [0.25, 0.5, 0.75])
    return {"median": q50, "q25": q25, "q75": q75, "frac_negative": frac_negative(pr),
            "samples": (~torch.isnan(pr)).sum(0), "writer_share": quantiles(share, [0.5])[0],
            "erased_share": torch.nan_to_num(quantiles(erased, [0.5])[0], nan=0.0)}


def static_detector(model):
    """core/analysis/static_erasure.h in float64: head pairs by signed composition (stable
    order: writer layer, head, eraser layer, head) and anti-aligned MLP neurons."""
    c, L = model.cfg, model.layers
    A, B = [], []
    for l in range(c.n_layers):
        Wv = L[l]["W_v"].double().view(c.d_model, c.n_heads, c.d_head)
        Wv = Wv - Wv.mean(0, keepdim=True)                               # LayerNorm centers
        A.append(Wv.permute(1, 0, 2))                                     # [H, D, dh]
        B.append(L[l]["W_O"].double())                                   # [H, dh, D]
    GA = [a.transpose(1, 2) @ a for a in A]
    GB = [b @ b.transpose(1, 2) for b in B]
    norm = [torch.einsum("hij,hji->h", ga, gb).clamp(min=0).sqrt() for ga, gb in zip(GA, GB)]
    H, dh = c.n_heads, c.d_head
    B32 = [b.float().reshape(H * dh, -1) for b in B]                     # [(h, dh), D]
    A32 = [a.float().permute(1, 0, 2).reshape(-1, H * dh) for a in A]     # [D, (h, dh)]
    rows = []
    for lw in range(c.n_layers):
        for le in range(lw + 1, c.n_layers):
            # M[w, e] = B_w A_e [dh, dh]; C[w, e] = B_e B_w^T [dh, dh]: as flat matmuls, the
            # two products over d_model (nearly all the work) in float32.
            M = (B32[lw] @ A32[le]).double()
            M = M.view(H, dh, H, dh).permute(0, 2, 1, 3)                  # [Hw, He, dh, dh]
            C = (B32[le] @ B32[lw].T).double()
            C = C.view(H, dh, H, dh).permute(2, 0, 1, 3)                  # [Hw, He, dh, dh]
            Z = GA[lw][:, None] @ M @ GB[le][None]
            prod = (M * Z).sum((-2, -1)).clamp(min=0).sqrt()
            inner = ((M @ C) * GA[lw][:, None].transpose(-2, -1)).sum((-2, -1))
            nw, ne = norm[lw][:, None], norm[le][None, :]
            ok = (nw > 0) & (ne > 0)
            comp = torch.where(ok, prod / (nw * ne), torch.zeros_like(prod))
            scomp = torch.where(ok, inner / (nw * nw * ne), torch.zeros_like(prod))
            scos = torch.where(ok & (prod > 1e-9 * nw * ne), inner / (prod * nw),
                               torch.zeros_like(prod))
            hw, he = torch.meshgrid(torch.arange(H), torch.arange(H), indexing="ij")
            rows.append(torch.stack([torch.full((H, H), lw), hw, torch.full((H, H), le), he,
                                     scomp, scos, comp], -1).reshape(-1, 7))
    pairs = [tuple(int(v) for v in p[:4]) + tuple(p[4:])
             for p in (torch.cat(rows).tolist() if rows else [])]
    pairs.sort(key=lambda p: (p[4], p[0], p[1], p[2], p[3]))   # ties: writer, then eraser
    pairs = pairs[:STATIC_TOP]
    neurons = []
    for l in range(c.n_layers):
        a, b = L[l]["W_in"].double(), L[l]["W_out"].double().T            # [D, F] each
        cos = (a * b).sum(0) / ((a * a).sum(0) * (b * b).sum(0)).sqrt()
        for n in torch.nonzero(cos < NEURON_THRESHOLD).flatten().tolist():
            neurons.append((l, n, cos[n].item()))
    neurons.sort(key=lambda t: t[2])
    return pairs, neurons


# ---------------------------------------------------------------------------------------------
# The per-prompt computation and the end-of-run aggregation
# ---------------------------------------------------------------------------------------------

class FullReport:
    def __init__(self, model, variant, ablation):
        assert variant in ("tl", "matched") and ablation in ("resample", "zero")
        self.m, self.variant, self.ablation = model, variant, ablation
        c = model.cfg
        self.nodes = nodes = list_nodes(model)
        self.readers = torch.tensor([[a.read_by(b) for b in nodes] for a in nodes])
        self.pair_w, self.pair_n = torch.nonzero(self.readers, as_tuple=True)
        self.components = [i for i, n in enumerate(nodes) if n.kind in ("head", "mlp")]
        self.adv_nodes = [i for i in self.components if nodes[i].name not in ADV_EXCLUDE]
        self.points = resid_points(model)
        # The residual each node reads, by read stage: resid_pre of layer l (2l), resid_mid (2l+1).
        self.read_hook = {}
        for l in range(c.n_layers):
            self.read_hook[2 * l] = f"blocks.{l}.hook_resid_pre"
            if not model.parallel:
                self.read_hook[2 * l + 1] = f"blocks.{l}.hook_resid_mid"
        self.pair_read = torch.tensor([nodes[n].read_stage for n in self.pair_n.tolist()])
        L = range(c.n_layers)
        self.keep_nodes = {"hook_embed", "hook_pos_embed"} | \
            {f"blocks.{l}.{h}" for l in L for h in ("attn.hook_result", "hook_mlp_out")}
        self.keep_causal = self.keep_nodes | {p[1] for p in self.points}
        self.keep_clean = self.keep_causal | {"ln_final.hook_scale"} | \
            {f"blocks.{l}.{h}" for l in L for h in ("hook_resid_pre", "ln1.hook_scale",
                                                    "attn.hook_pattern", "attn.hook_v")}
        self.prompts = 0
        self.max_error, self.logit_scale = 0.0, 0.0
        self.acc = {k: [] for k in ("dla", "dla_bos", "survival", "path", "effect", "pr",
                                    "pr_bos", "share", "erased")}
        self.writeback = torch.zeros(5, len(nodes), dtype=torch.float64)  # n, sx, sy, sxx, sxy
        self.writers = None
        self.adv, self.adv_candidates = [], 0

    # -- runs, per variant --------------------------------------------------------------------

    def _cache_run(self, tokens, keep, start=0, resid=None, v_sub=None):
        """A forward that keeps hooks: tl keeps every hook, starts from the embedding and
        computes the full logits (run_with_cache); matched keeps `keep` from layer `start` on,
        without logits."""
        cache = {}
        if self.variant == "tl":
            self.m.run(tokens, cache, v_sub=v_sub, unembed="full")
        else:
            self.m.run(tokens, cache, keep=keep, start=start, resid=resid, v_sub=v_sub,
                       unembed=None)
        return cache

    def _resid_pre(self, cache, l, embedded=False):
        """The clean blocks.{l}.hook_resid_pre (after the last layer: the final residual);
        None for layer 0 unless `embedded` (the run then embeds the tokens itself)."""
        if l == 0 and not embedded:
            return None
        if l == self.m.cfg.n_layers:
            return cache[f"blocks.{l - 1}.hook_resid_post"]
        return cache[f"blocks.{l}.hook_resid_pre"]

    def _node_outputs(self, cache, idx, clean=None):
        """Outputs [len(idx), T, D] of the nodes idx from a cache; nodes the cache lacks (not
        rerun) keep their clean output."""
        m, out = self.m, torch.empty(len(idx), self.T, self.m.cfg.d_model)
        for k, i in enumerate(idx):
            n = self.nodes[i]
            name = {"embed": "hook_embed", "pos_embed": "hook_pos_embed",
                    "head": f"blocks.{n.layer}.attn.hook_result",
                    "mlp": f"blocks.{n.layer}.hook_mlp_out"}.get(n.kind)
            if name is None:
                out[k] = m.layers[n.layer]["b_O"]
            elif name in cache:
                out[k] = cache[name][:, n.head] if n.kind == "head" else cache[name]
            else:
                out[k] = clean[i]
        return out

    # -- one prompt ---------------------------------------------------------------------------

    @torch.inference_mode()
    def analyze(self, tokens, donor=None):
        """tokens, donor: LongTensor [T] (donor only for resample ablation)."""
        m, c, nodes = self.m, self.m.cfg, self.nodes
        T = self.T = tokens.shape[0]
        N, tl = len(nodes), self.variant == "tl"
        tgt = torch.cat([tokens[1:], tokens[:1]])     # next token; the last position has none
        pos = torch.arange(1, T - 1)                  # positions >= 1 with a target
        U = m.W_U[:, tgt].T.contiguous()              # [T, D]
        ub = m.b_U[tgt]                               # the b_U term (LNPre: no b_lnf term)
        wuc = U - U.mean(-1, keepdim=True)            # DLA's centering, moved onto u
        direction = (U, ub)

        def logit_of(run_out):
            return run_out.gather(1, tgt[:, None])[:, 0] if tl else run_out

        cache = {}
        clean = logit_of(m.run(tokens, cache, keep=None if tl else self.keep_clean,
                               unembed="full" if tl else direction))
        out = self._node_outputs(cache, range(N))                          # [N, T, D]
        s_final = cache["ln_final.hook_scale"][:, 0]
        hh = (out * out).sum(-1)                                           # [N, T]

        # dla: every node at every position, final-LN scale frozen.
        dla = torch.einsum("ntd,td->nt", out, wuc) / s_final
        err = (dla[:, :T - 1].sum(0) + ub[:T - 1] - clean[:T - 1]).abs().max().item()
        self.max_error = max(self.max_error, err)
        self.logit_scale = max(self.logit_scale, clean[:T - 1].abs().max().item())
        self.acc["dla"].append(dla[:, pos])
        self.acc["dla_bos"].append(dla[:, 0])

        # cleanup_dla: survival-scaled and path-corrected DLA.
        final = cache[f"blocks.{c.n_layers - 1}.hook_resid_post"]
        pr_final = torch.nan_to_num(pr_rows(final[None], out, hh), nan=0.0)
        self.acc["survival"].append((pr_final * dla)[:, pos])
        path = dla.clone()
        H, dh = c.n_heads, c.d_head
        for l in range(c.n_layers):
            k = sum(1 for n in nodes if n.write_stage < 2 * l)    # a prefix in stream order
            L = m.layers[l]
            h = out[:k]
            normed = (h - h.mean(-1, keepdim=True)) / cache[f"blocks.{l}.ln1.hook_scale"]
            vals = torch.matmul(normed, L["W_v"]).view(k, T, H, dh)          # no b_V: not h's
            vals = vals.permute(2, 1, 0, 3).reshape(H, T, k * dh)
            z = torch.bmm(cache[f"blocks.{l}.attn.hook_pattern"], vals).view(H, T, k, dh)
            g = torch.einsum("hed,td->the", L["W_O"], wuc)                  # W_O[e] u_c
            path[:k] += torch.einsum("htne,the->nt", z, g) / s_final
        self.acc["path"].append(path[:, pos])
        x, y = dla[:, pos].double(), (path - dla)[:, pos].double()
        ok = torch.isfinite(x) & torch.isfinite(y)
        x, y = torch.where(ok, x, torch.zeros_like(x)), torch.where(ok, y, torch.zeros_like(y))
        self.writeback += torch.stack([ok.sum(1).double(), x.sum(1), y.sum(1), (x * x).sum(1),
                                       (x * y).sum(1)])

        # erasure: PR(node, writer), writer share and erased share for every (writer, reader)
        # pair at every position.
        ot = out.transpose(0, 1)
        gram = torch.bmm(ot, ot.transpose(1, 2))                          # [T, N, N]
        diag = gram.diagonal(dim1=1, dim2=2)                              # [T, N]
        ww = diag[:, self.pair_w]
        pr = torch.where(ww > 0, gram[:, self.pair_n, self.pair_w] / ww,
                         torch.full_like(ww, math.nan))
        in_norm = torch.stack([cache[self.read_hook[s]].norm(dim=-1)
                               for s in range(2 * c.n_layers) if s in self.read_hook], 1)
        stage_col = torch.tensor([s for s in range(2 * c.n_layers) if s in self.read_hook])
        col = torch.searchsorted(stage_col, self.pair_read)
        inp = in_norm[:, col]                                             # [T, pairs]
        share = torch.where(inp > 0, ww.sqrt() / inp, torch.zeros_like(inp))
        self.acc["pr"].append(pr[1:])
        self.acc["pr_bos"].append(pr[:1])
        self.acc["share"].append(share[1:])
        self.acc["erased"].append(-pr[1:] * share[1:])
        if self.writers is None:
            self._select_writers(pr[1:], share[1:], -pr[1:] * share[1:], out, T)
        for w in self.writers:
            self._analyze_writer(w, tokens, cache, out, hh)

        # Total effect of every node: one ablated rerun each.
        if self.ablation == "resample":
            dcache = self._cache_run(donor, self.keep_nodes)
            rep = self._node_outputs(dcache, range(N))
            del dcache
        effect = torch.empty(N, len(pos))
        for i, n in enumerate(nodes):
            r = rep[i] if self.ablation == "resample" else torch.zeros(T, c.d_model)
            if tl:
                ablated = m.run(tokens, ablate=(n, r), unembed="full")
            else:   # restart at the first residual point after the node, output swapped
                at_mid = n.kind in ("head", "b_O") and not m.parallel
                if at_mid:
                    start, point = n.layer, cache[f"blocks.{n.layer}.hook_resid_mid"]
                else:
                    start = 0 if n.layer < 0 else n.layer + 1
                    point = self._resid_pre(cache, start, embedded=True)
                ablated = m.run(tokens, start=start, resid=point + (r - out[i]), at_mid=at_mid,
                                unembed=direction)
            effect[i] = (clean - logit_of(ablated))[pos]  # comparable with DLA
        self.acc["effect"].append(effect)

        # adversarial: large DLA, small or opposite total effect.
        self._adversarial(dla[self.adv_nodes][:, pos], effect[self.adv_nodes], pos)
        self.prompts += 1

    def _adversarial(self, d, e, pos):
        """Samples with |DLA| >= the minimum whose total effect keeps less than half of it,
        ranked by gap (ties: prompt, position, node), at most ADV_PER_NODE per node."""
        cand = d.abs() >= ADV_MIN_DLA
        self.adv_candidates += int(cand.sum())
        gap = d.abs() - torch.where(d > 0, 1.0, -1.0) * e
        keep = cand & (gap >= 0.5 * d.abs())
        gap = torch.where(keep, gap, torch.full_like(gap, -math.inf))
        top = torch.topk(gap, min(ADV_PER_NODE, gap.shape[1]), dim=1)     # per node
        for k in range(gap.shape[0]):
            for g, p in zip(top.values[k].tolist(), top.indices[k].tolist()):
                if g == -math.inf:
                    break
                node = self.adv_nodes[k]
                self.adv.append((g, d[k, p].item(), e[k, p].item(), self.nodes[node].name,
                                 self.prompts, int(pos[p]), node))
        self.adv.sort(key=lambda f: (-f[0], f[4], f[5], f[6]))
        per_node, kept = {}, []
        for f in self.adv:
            per_node[f[6]] = per_node.get(f[6], 0) + 1
            if per_node[f[6]] <= ADV_PER_NODE:
                kept.append(f)
        self.adv = kept[:ADV_TOP]

    def _is_eraser(self, s, i, w):
        return bool(s["samples"][i] > 0 and s["median"][i] < ERASURE_THRESHOLD and
                    s["frac_negative"][i] > 0.5 and s["writer_share"][i] >= ERASURE_MIN_SHARE and
                    self.nodes[w].kind != "b_O")

    def _select_writers(self, pr, share, erased, out, T):
        """erasure_writer=auto on the first prompt: the heads/MLPs with a later reader, ranked
        by the largest erased share of a flagged eraser, then the most negative median PR from
        a later node, then the largest mean output norm (positions >= 1); ChooseWriters."""
        s = pair_summary(pr, share, erased)
        scores = []
        for n in self.components:
            cells = torch.nonzero(self.pair_w == n).flatten().tolist()
            if not cells:
                continue
            min_median, best_erased = 0.0, 0.0
            for i in cells:
                if s["samples"][i] == 0:
                    continue
                min_median = min(min_median, s["median"][i].item())
                if self._is_eraser(s, i, n):
                    best_erased = max(best_erased, s["erased_share"][i].item())
            norm = out[n, 1 if T > 1 else 0:].double().norm(dim=-1).mean().item()
            scores.append((-best_erased, min_median, -norm, n))
        self.writers = [n for *_, n in sorted(scores)[:ERASURE_NUM_WRITERS]]
        self.wacc = {w: {k: [] for k in ("surv", "surv_bos", "surv_causal", "own", "own_causal",
                                         "bos_share", "on_bos", "on_rest", "causal")}
                     for w in self.writers}

    def _analyze_writer(self, w, tokens, cache, out, hh):
        m, node = self.m, self.nodes[w]
        acc, h = self.wacc[w], out[w]
        later = torch.nonzero(self.readers[w]).flatten()
        pts = [p for p in self.points if p[2] >= node.write_stage]
        # own share: at each point, the later nodes written by then (NaN PR left out).
        by_point = torch.tensor([[self.nodes[n].write_stage <= p[2] for n in later.tolist()]
                                 for p in pts], dtype=torch.float32)      # [P, later]

        def own(prs):
            return 1 + by_point @ torch.nan_to_num(prs, nan=0.0)

        resid = torch.stack([cache[p[1]] for p in pts])                    # [P, T, D]
        surv = pr_rows(resid, h[None], hh[w][None])                        # [P, T]
        acc["surv"].append(surv[:, 1:])
        acc["surv_bos"].append(surv[:, :1])
        acc["own"].append(own(pr_rows(out[later][:, 1:], h[None, 1:], hh[w][None, 1:])))
        if node.kind == "head":   # BOS split: pattern[h, t, 0] v[0, h] W_O[h], and the rest
            l, hd = node.layer, node.head
            a0 = cache[f"blocks.{l}.attn.hook_pattern"][hd, 1:, 0]
            # in float64 as SplitBos: a small vector, whose rounding PR onto it amplifies
            from_bos = (a0.double()[:, None] * (cache[f"blocks.{l}.attn.hook_v"][0, hd].double()
                                                @ m.layers[l]["W_O"][hd].double())).float()
            rest = h[1:] - from_bos
            acc["bos_share"].append(pr_rows(from_bos, h[1:], hh[w][1:]))
            acc["on_bos"].append(pr_rows(out[later][:, 1:], from_bos[None]))
            acc["on_rest"].append(pr_rows(out[later][:, 1:], rest[None]))
        # Causal: the writer removed from the value input of every later layer, rerun.
        l0 = (node.write_stage + 2) // 2
        cache2 = self._cache_run(tokens, self.keep_causal, start=l0,
                                 resid=self._resid_pre(cache, l0), v_sub=(l0, h))
        out2 = self._node_outputs(cache2, later.tolist(), clean=out)
        causal = pr_rows(out2[:, 1:], h[None, 1:], hh[w][None, 1:])
        acc["causal"].append(causal)
        acc["own_causal"].append(own(causal))
        resid2 = torch.stack([cache2.get(p[1], cache[p[1]]) for p in pts])
        acc["surv_causal"].append(pr_rows(resid2[:, 1:], h[None, 1:], hh[w][None, 1:]))

    # -- end of run ---------------------------------------------------------------------------

    @torch.inference_mode()
    def finish(self):
        """The report's numbers: per-node tables (dla, cleanup_dla), the PR statistics of every
        pair, the selected writers' tables and survival curves, the adversarial top list."""
        nodes, cat = self.nodes, lambda k, d=1: torch.cat(self.acc[k], d).double()
        dla, eff = cat("dla"), cat("effect")
        disagree = (((dla > 0) != (eff > 0)) &
                    (torch.maximum(dla.abs(), eff.abs()) > CLEANUP_MIN_MAGNITUDE)) | \
            ((dla - eff).abs() > CLEANUP_THRESHOLD)
        n, sx, sy, sxx, sxy = self.writeback
        den = n * sxx - sx * sx
        slope = torch.where(den > 0, (n * sxy - sx * sy) / den, torch.full_like(den, math.nan))
        score = torch.where(n >= 2, sxy / n.clamp(min=1), torch.full_like(n, math.inf))
        wb = int(torch.argmin(score))      # the first most negative mean of DLA * write-back
        r = {"nodes": [n.name for n in nodes], "dla_mean": dla.mean(1),
             "dla_mean_abs": dla.abs().mean(1), "dla_std": dla.std(1), "dla_min": dla.min(1)[0],
             "dla_max": dla.max(1)[0], "dla_bos_mean": torch.stack(self.acc["dla_bos"], 1).mean(1),
             "survival_dla": cat("survival").mean(1), "path_dla": cat("path").mean(1),
             "total_effect": eff.mean(1), "disagree_frac": disagree.double().mean(1),
             "writeback": (nodes[wb].name, slope[wb].item(), int(n[wb])),
             "max_invariant_error": self.max_error, "logit_scale": self.logit_scale}
        pr = cat("pr", 0)
        s = pair_summary(pr, cat("share", 0), cat("erased", 0))
        pairs = {(nodes[w].name, nodes[n].name): i
                 for i, (w, n) in enumerate(zip(self.pair_w.tolist(), self.pair_n.tolist()))}
        r["pair_index"], r["pair_stats"] = pairs, s
        r["pair_bos_median"] = quantiles(cat("pr_bos", 0), [0.5])[0]
        er = [k for k, i in pairs.items() if self._is_eraser(s, i, int(self.pair_w[i]))]
        r["erasers"] = sorted(er, key=lambda k: (-s["erased_share"][pairs[k]].item(),
                                                 s["median"][pairs[k]].item()))
        r["writers"] = {}
        for w in self.writers:
            a = self.wacc[w]
            wcat = lambda k: torch.cat(a[k], 1).double().T  # noqa: E731  [samples, columns]
            later = [nodes[i].name for i in torch.nonzero(self.readers[w]).flatten().tolist()]
            pts = [p[0] for p in self.points if p[2] >= nodes[w].write_stage]
            t = {"later": later, "points": pts,
                 "causal_median": quantiles(wcat("causal"), [0.5])[0],
                 "causal_frac_negative": frac_negative(wcat("causal")),
                 "survival": quantiles(wcat("surv"), [0.5])[0],
                 "survival_bos": quantiles(wcat("surv_bos"), [0.5])[0],
                 "survival_causal": quantiles(wcat("surv_causal"), [0.5])[0],
                 "own": quantiles(wcat("own"), [0.5])[0],
                 "own_causal": quantiles(wcat("own_causal"), [0.5])[0]}
            if a["on_bos"]:
                t["on_bos_median"] = quantiles(wcat("on_bos"), [0.5])[0]
                t["on_rest_median"] = quantiles(wcat("on_rest"), [0.5])[0]
                t["bos_share"] = torch.cat(a["bos_share"]).double().nanmean().item()
            r["writers"][nodes[w].name] = t
        r["adversarial"] = self.adv
        r["adversarial_candidates"] = self.adv_candidates
        return r


# ---------------------------------------------------------------------------------------------
# --check: against memlens's JSON report
# ---------------------------------------------------------------------------------------------

def memlens_items(path):
    with open(path) as f:
        rep = json.load(f)
    items = {}
    for s in rep["sections"]:
        for it in s["items"]:
            if "name" in it:
                items[(s["plugin"], it["name"])] = it
        items[(s["plugin"], "settings")] = s.get("settings", {})
    return rep, items


def num(v):
    return math.nan if v is None else float(v)


def table_rows(item):
    """{first column: {column name: value}} of a report table."""
    names = [c["name"] for c in item["columns"]]
    return {row[0]: dict(zip(names, row)) for row in item["rows"]}


def run_memlens_report(cli, folder, tokens, out, threads):
    """memlens report on one prompt of token ids, zero ablation, the four plugins, JSON."""
    warn_unless_opt(cli)
    cmd = [cli, "report", f"--model={folder}", "--tokens=" + ",".join(map(str, tokens)),
           "--plugins=dla,cleanup_dla,erasure,adversarial", "--format=json", f"--out={out}",
           "--cleanup_ablation=zero", "--adversarial_ablation=zero", f"--threads={threads}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {p.returncode}: {p.stderr.strip()[-800:]}")


def check_forward(folder, model, tokens):
    """This file's forward (processed weights) against compare_pytorch's model on the raw
    weights (checked there against a float64 forward): processing moves every logit of a
    position by the same amount (center_unembed), so compare logits minus their mean."""
    family, _ = model_family(folder)
    if family == "gpt_neox":
        base = load_neox(folder)
    else:
        from compare_pytorch import TorchModel
        _, _, cfg, W = load_tl_named(folder)
        base = TorchModel(cfg, W)
    with torch.inference_mode():
        want = base.forward(tokens).double()
        got = model.run(tokens).double()
    want, got = want - want.mean(-1, keepdim=True), got - got.mean(-1, keepdim=True)
    return (got - want).abs().max().item(), want.abs().max().item()


def check(args):
    model = load_processed(args.model)
    if args.memlens_json:
        if not args.prompt_tokens:
            sys.exit("--memlens_json needs --prompt_tokens (the ids of each prompt memlens ran)")
        json_path = args.memlens_json
        prompts = [torch.tensor([int(t) for t in p.replace(" ", "").split(",")])
                   for p in args.prompt_tokens]
    else:   # run memlens here, on one random prompt (BOS-like id 0 first)
        T = min(args.check_prompt_len, model.cfg.n_ctx)
        gen = torch.Generator().manual_seed(args.seed)
        tokens = torch.randint(0, model.cfg.d_vocab, (T,), generator=gen)
        tokens[0] = 0
        prompts = [tokens]
        json_path = os.path.join(tempfile.mkdtemp(prefix="full_report_check_"), "report.json")
        run_memlens_report(args.memlens_cli, args.model, tokens.tolist(), json_path, args.threads)
    rep, items = memlens_items(json_path)
    for flag in ("--cleanup_ablation", "--adversarial_ablation"):
        plugin = "cleanup_dla" if flag.startswith("--cleanup") else "adversarial"
        if items.get((plugin, "settings"), {}).get(flag) != "zero" and \
                rep["metadata"].get("settings", {}).get(flag) != "zero":
            sys.exit(f"{json_path}: run memlens with {flag}=zero for the check")
    ds = rep["metadata"]["dataset"]
    if ds.get("num_prompts") != len(prompts) or \
            ds.get("num_tokens") != sum(len(p) for p in prompts):
        sys.exit(f"{json_path} has {ds.get('num_prompts')} prompts of {ds.get('num_tokens')} "
                 f"tokens in all; --prompt_tokens gives {len(prompts)} of "
                 f"{sum(len(p) for p in prompts)}")
    fwd, fwd_scale = check_forward(args.model, model, prompts[0])
    pairs, _ = static_detector(model)
    theirs_static = [(r[0], r[1], num(r[2])) for r in items[("erasure", "static_heads")]["rows"]]
    dla_rows = table_rows(items[("dla", "dla")])
    cu_rows = table_rows(items[("cleanup_dla", "cleanup_dla")])
    mat = items[("erasure", "pr_median")]
    writer_tables = {k[1][len("writer_"):]: v for k, v in items.items()
                     if k[0] == "erasure" and k[1].startswith("writer_")}
    curves = {}
    for series in ("survival_resid", "survival_own"):
        it = items[("erasure", series)]
        curves[series] = (it["x_categories"], {ln["name"]: ln["y"] for ln in it["lines"]})
    theirs_erasers = [(row[0], row[1]) for row in items[("erasure", "erasers")]["rows"]]
    theirs_adv = [(row[2], row[0], row[1], num(row[5]))
                  for row in items[("adversarial", "adversarial")]["rows"]]
    theirs_wb = [f["values"] for f in rep["summary"]["findings"]
                 if f["plugin"] == "cleanup_dla" and f["kind"] == "writeback"]
    print(f"model {args.model}: {len(prompts)} prompt(s) of {[len(p) for p in prompts]} tokens; "
          f"memlens report {json_path}")
    print(f"forward (processed weights) vs compare_pytorch's model on the raw weights, logits "
          f"centered per position: max |diff| {fwd:.2e} of max |logit| {fwd_scale:.2f}")
    failed = not fwd <= 1e-5 * max(1.0, fwd_scale)
    for variant in args.variants.split(","):
        t0 = time.perf_counter()
        fr = FullReport(model, variant, "zero")
        for p in prompts:
            fr.analyze(p)
        r = fr.finish()
        dt = time.perf_counter() - t0
        rows = []   # (quantity, count, max abs diff, scale, tolerance)

        def compare(name, pairs_, tol_rel=1e-5):
            """pairs_: (mine, theirs) numbers; NaN must match NaN; each |mine - theirs| within
            tol_rel x max(1, |theirs|)."""
            d, worst, n = 0.0, (math.nan, math.nan), 0
            for a, b in pairs_:
                if math.isnan(a) or math.isnan(b):
                    if not (math.isnan(a) and math.isnan(b)):
                        d, worst = math.inf, (a, b)
                    continue
                n += 1
                if abs(a - b) / max(1.0, abs(b)) > d:
                    d, worst = abs(a - b) / max(1.0, abs(b)), (a, b)
            rows.append((name, n, d, worst, tol_rel))

        def exact(name, mine, theirs):
            n = len(theirs) if isinstance(theirs, list) else 1
            rows.append((name, n, 0.0 if mine == theirs else math.inf, None, 0.0))
            if mine != theirs:
                print(f"  {name}: here {mine}\n  {' ' * len(name)}  memlens {theirs}")

        names = r["nodes"]
        exact("nodes", names, list(dla_rows))
        for key, col, rows_ in (("dla_mean", "mean", dla_rows), ("dla_std", "std", dla_rows),
                                ("dla_mean_abs", "mean_abs", dla_rows),
                                ("dla_min", "min", dla_rows), ("dla_max", "max", dla_rows),
                                ("dla_bos_mean", "bos_mean", dla_rows),
                                ("dla_mean", "dla", cu_rows),
                                ("survival_dla", "survival_dla", cu_rows),
                                ("path_dla", "path_dla", cu_rows),
                                ("total_effect", "total_effect", cu_rows),
                                ("disagree_frac", "disagree_frac", cu_rows)):
            # A total effect is the difference of two logits: their float32 rounding counts.
            compare(f"{'dla' if rows_ is dla_rows else 'cleanup_dla'} {col}",
                    [(r[key][i].item(), num(rows_[n][col])) for i, n in enumerate(names)],
                    1e-5 * max(1.0, r["logit_scale"]) if col == "total_effect" else 1e-5)
        wname, slope, samples = r["writeback"]
        exact("cleanup_dla write-back writer", wname, theirs_wb[0]["writer"] if theirs_wb else None)
        compare("cleanup_dla write-back slope", [(slope, num(theirs_wb[0]["slope"]))]
                if theirs_wb else [])
        s, pidx = r["pair_stats"], r["pair_index"]
        rl, cl = mat["row_labels"], mat["col_labels"]
        compare("erasure pair medians", [
            (s["median"][pidx[(w, n)]].item() if (w, n) in pidx else math.nan,
             num(mat["values"][i][j])) for i, w in enumerate(rl) for j, n in enumerate(cl)])
        exact("erasure erasers (ranked)", [list(e) for e in r["erasers"]],
              [list(e) for e in theirs_erasers])
        exact("erasure writers (in order)", list(r["writers"]), list(writer_tables))
        quart, parts, fracs, curve = [], [], [], []
        for wn, t in r["writers"].items():
            if wn not in writer_tables:
                continue
            wrows = table_rows(writer_tables[wn])
            for i, n in enumerate(t["later"]):
                k, row = pidx[(wn, n)], wrows[n]
                quart += [(s[c][k].item(), num(row[c2])) for c, c2 in (
                    ("median", "median_pr"), ("q25", "q25"), ("q75", "q75"),
                    ("erased_share", "erased_share"))]
                quart.append((t["causal_median"][i].item(), num(row["causal_median_pr"])))
                quart.append((r["pair_bos_median"][k].item(), num(row["bos_median_pr"])))
                if "on_bos_median" in t:
                    parts.append((t["on_bos_median"][i].item(), num(row["pr_on_bos_part"])))
                    parts.append((t["on_rest_median"][i].item(), num(row["pr_on_rest"])))
                fracs.append((s["frac_negative"][k].item(), num(row["frac_negative"])))
                fracs.append((t["causal_frac_negative"][i].item(),
                              num(row["causal_frac_negative"])))
            for series, lines in (("survival_resid", (("clean", "survival"),
                                                      ("causal", "survival_causal"),
                                                      ("BOS", "survival_bos"))),
                                  ("survival_own", (("clean", "own"), ("causal", "own_causal")))):
                cats, ys = curves[series]
                for suffix, key in lines:
                    y = ys[f"{wn} {suffix}"]
                    curve += [(t[key][i].item(), num(y[cats.index(p)]))
                              for i, p in enumerate(t["points"])]
        compare("erasure writer tables (medians, quartiles, erased share)", quart)
        # PR onto a part of a head's output much smaller than the reader's output: float32
        # rounding of the part (its direction, ~1e-7) is amplified by their norm ratio.
        compare("erasure writer tables (PR onto the BOS part and the rest)", parts, 1e-4)
        compare("erasure writer tables (fractions negative)", fracs)
        compare("erasure survival curves (resid and own share)", curve)
        exact("adversarial top list (node, prompt, position)",
              [(f[3], f[4], f[5]) for f in r["adversarial"]], [a[:3] for a in theirs_adv])
        compare("adversarial gaps", [(f[0], a[3]) for f, a in zip(r["adversarial"], theirs_adv)])
        exact("erasure static pairs (top)", [(f"L{p[0]}H{p[1]}", f"L{p[2]}H{p[3]}") for p in pairs],
              [(a, b) for a, b, _ in theirs_static])
        compare("erasure static signed_composition (top)",
                [(p[4], b[2]) for p, b in zip(pairs, theirs_static)])
        print(f"\n{variant}: {len(prompts)} prompt(s) in {dt:.1f} s, writers "
              f"{', '.join(r['writers'])}, sum-of-DLA invariant error "
              f"{r['max_invariant_error']:.2e}")
        print("| quantity | values | max abs diff / max(1, abs memlens) | there (here, memlens) "
              "| tolerance | |")
        print("|---|---:|---:|---|---:|---|")
        for name, n, d, worst, tol in rows:
            ok = d <= tol
            failed |= not ok
            there = "" if worst is None else f"{worst[0]:.7g}, {worst[1]:.7g}"
            print(f"| {name} | {n} | {d:.3g} | {there} | {tol:.3g} | {'ok' if ok else 'FAIL'} |")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# --bench
# ---------------------------------------------------------------------------------------------

def one_rep(model, variant, ablation, prompts):
    """A report over prompts[1:] (each prompt's donor: the previous one), the once-per-run
    static detector and the end-of-run aggregation included; seconds per prompt."""
    t = time.perf_counter()
    fr = FullReport(model, variant, ablation)
    for i in range(1, len(prompts)):
        fr.analyze(prompts[i], prompts[i - 1])
    static_detector(model)
    fr.finish()
    return (time.perf_counter() - t) / (len(prompts) - 1)


def bench(args):
    model = load_processed(args.model)
    c = model.cfg
    T, N = args.tokens, args.prompts
    if T > c.n_ctx:
        sys.exit(f"--tokens {T} > n_ctx {c.n_ctx}")
    gen = torch.Generator().manual_seed(args.seed)
    prompts = torch.randint(0, c.d_vocab, (N + 1, T), generator=gen)
    prompts[:, 0] = 0        # BOS
    variants = args.variants.split(",")
    core = machine_info(args.threads)["openblas_core"]
    print(f"OpenBLAS kernels: {core}", file=sys.stderr, flush=True)
    if args.profile:
        for v in variants:
            prof = cProfile.Profile()
            prof.enable()
            one_rep(model, v, args.ablation, prompts[:2])
            prof.disable()
            path = f"{args.profile}.{v}"
            prof.dump_stats(path)
            st = pstats.Stats(path)
            st.sort_stats("cumulative").print_stats(25)
            st.sort_stats("tottime").print_stats(25)
    for v in variants:       # warm-up: one short prompt each
        w = prompts[:2, :min(T, 64)]
        FullReport(model, v, args.ablation).analyze(w[1], w[0])
    secs = {v: [] for v in variants + ["memlens"]}
    peak = {v: 0.0 for v in variants + ["memlens"]}
    rss_counter = None
    memlens_ok = bool(args.memlens_bench) and os.access(args.memlens_bench, os.X_OK)
    warn_unless_opt(args.memlens_bench)
    note = "" if memlens_ok else (f"memlens binary {args.memlens_bench!r} not found: PyTorch "
                                  "only (bazel build -c opt //benchmarks:report_benchmark)")
    env = {"MEMLENS_BENCH_MODEL": os.path.abspath(args.model), "MEMLENS_THREADS": str(args.threads),
           "MEMLENS_BENCH_TOKENS": str(T), "MEMLENS_BENCH_PROMPTS": str(N)}
    for rep in range(args.reps):
        t_rep = time.time()
        load = os.getloadavg()[0]
        for v in variants:
            rss_reset()
            secs[v].append(one_rep(model, v, args.ablation, prompts))
            peak[v] = max(peak[v], rss_kb("VmHWM") / 1024)
        if memlens_ok:
            try:
                try:
                    report, hwm = run_memlens(args.memlens_bench,
                                              ["--benchmark_filter=^BM_FullReport/"], env,
                                              args.timeout)
                except RuntimeError as e:   # one retry: a crash is reported, not hidden
                    print(f"  memlens failed, retrying once: {e}", file=sys.stderr)
                    report, hwm = run_memlens(args.memlens_bench,
                                              ["--benchmark_filter=^BM_FullReport/"], env,
                                              args.timeout)
                entries = benchmark_entries(report, "BM_FullReport")
                vals = [counter(e, "seconds_per_prompt") for e in entries]
                if not entries or None in vals:
                    raise RuntimeError("no BM_FullReport with a seconds_per_prompt counter")
                secs["memlens"] += vals
                # VmHWM of the child as polled here, and the binary's own VmHWM counter.
                peak["memlens"] = max(peak["memlens"], hwm / 1024)
                rss_counter = max([counter(e, "peak_rss_mib") or 0 for e in entries])
            except RuntimeError as e:
                memlens_ok, note = False, f"memlens benchmark failed: {e}"
        print(f"  repetition {rep + 1}/{args.reps} ({time.strftime('%H:%M:%S', time.gmtime(t_rep))}"
              f" UTC, load average {load:.2f} at its start): " + ", ".join(
                  f"{v} {secs[v][-1]:.2f} s/prompt" for v in secs if secs[v]),
              file=sys.stderr, flush=True)
    print(f"\nmodel {args.model} ({c.n_layers} layers, d_model {c.d_model}, {c.n_heads} heads of "
          f"{c.d_head}, d_mlp {c.d_mlp}, vocab {c.d_vocab}{', parallel' if model.parallel else ''}"
          f"), {T}-token random prompts, {N} per repetition, {args.reps} repetitions, "
          f"{args.ablation} ablation, {args.threads} threads, OpenBLAS kernels {core}, "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY')}\n")
    m = mean_sd(secs["memlens"])
    print("| side | seconds/prompt | peak RSS MiB | memlens speed-up |")
    print("|---|---:|---:|---:|")
    if m:
        print(f"| memlens | {fmt(m, 2)} | {peak['memlens']:.0f} | |")
    for v in variants:
        t = mean_sd(secs[v])
        ratio = f"{t[0] / m[0]:.2f}x" if m else "n/a"
        print(f"| PyTorch {v} | {fmt(t, 2)} | {peak[v]:.0f} | {ratio} |")
    if secs["memlens"]:
        print("\nper repetition: " + "; ".join(
            ", ".join(f"{v} {secs[v][i]:.2f}" for v in secs if i < len(secs[v]))
            for i in range(args.reps)))
    if rss_counter is not None:
        print(f"\nmemlens peak RSS: VmHWM polled from /proc (its own peak_rss_mib counter said "
              f"{rss_counter:.0f} MiB).")
    if note:
        print(f"\nNOTE: {note}")
    print("\nmachine: " + ", ".join(f"{k} {v}" for k, v in machine_info(args.threads).items()))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="compare with memlens's JSON report")
    mode.add_argument("--bench", action="store_true", help="time both sides")
    ap.add_argument("--model", default="/tmp/memlens-gelu4l-random",
                    help="TL-safetensors, HF GPT-2 or HF GPT-NeoX folder (config.json + "
                         "model.safetensors, F32)")
    ap.add_argument("--variants", default="tl,matched")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memlens_cli", default=os.path.join(ROOT, "bazel-bin", "core", "cli",
                                                          "memlens"),
                    help="--check: the memlens binary to run (without --memlens_json)")
    ap.add_argument("--check_prompt_len", type=int, default=16,
                    help="--check: tokens of the random prompt (at most n_ctx)")
    ap.add_argument("--memlens_json", help="--check: a memlens report --format=json output")
    ap.add_argument("--prompt_tokens", nargs="+", default=[],
                    help="--check with --memlens_json: the token ids of each prompt memlens ran "
                         "(comma-separated)")
    ap.add_argument("--tokens", type=int, default=1024, help="--bench: tokens per prompt")
    ap.add_argument("--prompts", type=int, default=2, help="--bench: prompts per repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ablation", default="resample", choices=("resample", "zero"))
    ap.add_argument("--memlens_bench", default=os.path.join(ROOT, "bazel-bin", "benchmarks",
                                                            "report_benchmark"))
    ap.add_argument("--timeout", type=float, default=7200, help="per memlens invocation, s")
    ap.add_argument("--profile", help="--bench: cProfile one repetition of one prompt of each "
                                      "variant to PATH.<variant> first, and print its top")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    return check(args) if args.check else bench(args)


if __name__ == "__main__":
    sys.exit(main())
