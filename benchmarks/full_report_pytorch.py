#!/usr/bin/env python3
"""memlens's full report (plugins dla, cleanup_dla, erasure, adversarial, default flags) in
PyTorch: a check against memlens's JSON report, and a per-prompt benchmark against it.

    /usr/bin/python3 benchmarks/make_random_model.py            # once: /tmp/memlens-gelu4l-random
    # (or --family gpt2-small: the same code runs HF GPT-2 folders; not GPT-NeoX)
    # check (zero ablation; give the token ids memlens ran, one --prompt_tokens per prompt):
    memlens report --model=DIR --tokens=0,5,9,... --format=json --out=r.json \\
        --cleanup_ablation=zero --adversarial_ablation=zero
    /usr/bin/python3 benchmarks/full_report_pytorch.py --check --model DIR --memlens_json r.json \\
        --prompt_tokens 0,5,9,...
    # benchmark (memlens side: bazel build -c opt //benchmarks:report_benchmark):
    /usr/bin/python3 benchmarks/full_report_pytorch.py --bench --model /tmp/memlens-gelu4l-random \\
        --tokens 1024 --prompts 2 --reps 3 --memlens_bench PATH/report_benchmark

What one prompt costs (both PyTorch variants compute every quantity the four plugins compute):
  * clean forward with a cache; every node's output (embed, pos_embed, L{l}H{h}, L{l}.b_O, M{l});
  * dla: DLA of every node at every position (final-LN scale frozen), BOS apart, and the check
    that the nodes plus bias terms sum to the logit;
  * cleanup_dla: survival-scaled DLA, path-corrected DLA (every writer through every later
    head's value path, patterns and ln1 scales frozen: batched matmuls), and the total effect of
    every node by ablation (one rerun per node; resample by default, the donor being the
    previous prompt, run once with a cache);
  * erasure: PR(node, writer) for every (writer, later node) pair at every position (one Gram
    matrix per position), quantiles at the end; the two automatically selected writers'
    survival curves, BOS split, and causal rerun (writer removed from later value inputs, ln1
    scale frozen);
  * adversarial: DLA vs total effect of every head and MLP at every position, top list. The
    total effects are computed once and shared with cleanup_dla (memlens runs them twice).
  The static (weights-only) detector runs once per run, outside the per-prompt timing.
Two variants:
  tl       TransformerLens style: every forward is run_with_cache-like (every hook kept) or
           run_with_hooks, starts from the embedding, and computes the full [T, vocab] logits,
           which are then indexed;
  matched  memlens's engine shortcuts (core/analysis/ablation.h): an ablation rerun starts at
           the first residual point after the node (resid_mid of a head's or b_O's layer, the
           next resid_pre after an MLP, resid_pre 0 for the embeddings), that is the clean one
           plus (replacement - clean output); the causal rerun starts at the first edited
           layer from the clean resid_pre; only the hooks the plugins need are kept; only the
           target-direction logits (final-LN output . W_U[:, target] + b_U[target]) are
           computed.
Quantiles are exact over all samples (memlens keeps quantile sketches): the value whose rank
interval contains q * count, which is what the sketch returns while it holds every sample.

--bench times N random-token prompts (seeded; the first one's donor is one extra prompt) per
repetition after a warm-up, alternating the variants and memlens's Google Benchmark binary
(env MEMLENS_BENCH_MODEL, MEMLENS_THREADS, MEMLENS_BENCH_TOKENS, MEMLENS_BENCH_PROMPTS; it
reports BM_FullReport with counters seconds_per_prompt and peak_rss_mib), and prints a markdown
table: seconds per prompt (mean ± sd over repetitions, including the end-of-run aggregation
divided by N), peak RSS (the PyTorch process, peak reset before each variant's repetition;
includes the loaded model), and memlens's speed ratio over each variant.
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import tl_reference as ref  # noqa: E402
from compare_pytorch import (  # noqa: E402
    TorchModel, benchmark_entries, counter, fmt, load_tl_named, machine_info, mean_sd,
    rss_kb, rss_reset, run_memlens, warn_unless_opt)

# The plugins' default flags (plugins/*/*.cc).
CLEANUP_THRESHOLD, CLEANUP_MIN_MAGNITUDE = 0.25, 0.05
ERASURE_THRESHOLD, ERASURE_NUM_WRITERS, STATIC_TOP, NEURON_THRESHOLD = -0.1, 2, 10, -0.3
ADV_TOP, ADV_MIN_DLA = 20, 0.5


# ---------------------------------------------------------------------------------------------
# Model: compare_pytorch's TorchModel, with interventions and reruns from a layer
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Node:
    kind: str   # "embed", "pos_embed", "head", "b_O", "mlp"
    layer: int
    head: int
    name: str

    @property
    def stage(self):
        """Write stage = read stage (core/analysis/nodes.h): embeddings -1, layer l's attention
        2l, its MLP 2l+1."""
        if self.layer < 0:
            return -1
        return 2 * self.layer + (self.kind == "mlp")

    def read_by(self, other):
        return other.stage > self.stage


def list_nodes(cfg):
    nodes = [Node("embed", -1, -1, "embed"), Node("pos_embed", -1, -1, "pos_embed")]
    for l in range(cfg.n_layers):
        nodes += [Node("head", l, h, f"L{l}H{h}") for h in range(cfg.n_heads)]
        nodes += [Node("b_O", l, -1, f"L{l}.b_O"), Node("mlp", l, -1, f"M{l}")]
    return nodes


def load_processed(folder):
    """The model as `memlens report` sees it: TransformerLens's default processing (in float64,
    then float32), the norms left as LN with w = 1 and b = 0 as memlens stores them."""
    _, _, cfg, W = load_tl_named(folder)
    cfg, W = ref.process_weights(cfg, {k: v.double() for k, v in W.items()})
    W = {k: v.float().contiguous() for k, v in W.items()}
    D = cfg.d_model
    for l in range(cfg.n_layers):
        for ln in ("ln1", "ln2"):
            W[f"blocks.{l}.{ln}.w"], W[f"blocks.{l}.{ln}.b"] = torch.ones(D), torch.zeros(D)
    W["ln_final.w"], W["ln_final.b"] = torch.ones(D), torch.zeros(D)
    return Model(dataclasses.replace(cfg, norm="LN"), W)


class Model(TorchModel):
    def __init__(self, cfg, W):
        super().__init__(cfg, W)
        HD = cfg.n_heads * cfg.d_head
        for L in self.layers:   # q|k and v apart: the causal rerun recomputes only v
            L["W_qk"], L["b_qk"] = L["W_qkv"][:, :2 * HD].contiguous(), L["b_qkv"][:2 * HD]
            L["W_v"], L["b_v"] = L["W_qkv"][:, 2 * HD:].contiguous(), L["b_qkv"][2 * HD:]
        self.eps = cfg.eps

    def _norm(self, x, w, b):
        xc = x - x.mean(-1, keepdim=True)
        scale = (xc.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        return xc / scale * w + b, scale

    def _attention(self, l, p, resid, T, mask, put, want, ablate, v_sub):
        """Layer l's attention block (run's arguments); returns resid_mid."""
        c, L = self.cfg, self.layers[l]
        H, dh = c.n_heads, c.d_head
        kind = ablate[0].kind if ablate else None
        put(p + "hook_resid_pre", resid)
        x, scale = self._norm(resid, L["ln1_w"], L["ln1_b"])
        put(p + "ln1.hook_scale", scale)
        put(p + "ln1.hook_normalized", x)
        if v_sub is not None and l >= v_sub[0]:
            q, k = torch.addmm(L["b_qk"], x, L["W_qk"]).view(T, 2, H, dh).unbind(1)
            xv = resid - v_sub[1]
            xv = (xv - xv.mean(-1, keepdim=True)) / scale * L["ln1_w"] + L["ln1_b"]
            v = torch.addmm(L["b_v"], xv, L["W_v"]).view(T, H, dh)
        else:
            q, k, v = torch.addmm(L["b_qkv"], x, L["W_qkv"]).view(T, 3, H, dh).unbind(1)
        put(p + "attn.hook_q", q)
        put(p + "attn.hook_k", k)
        put(p + "attn.hook_v", v)
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
            if kind == "head":
                h = ablate[0].head
                attn_out = attn_out + (ablate[1] - z[:, h] @ L["W_O"][h])
            elif kind == "b_O":
                attn_out = attn_out + (ablate[1] - L["b_O"])
        put(p + "hook_attn_out", attn_out)
        resid = resid + attn_out
        put(p + "hook_resid_mid", resid)
        return resid

    def run(self, tokens, cache=None, keep=None, start=0, resid=None, at_mid=False, ablate=None,
            v_sub=None, unembed="full"):
        """One forward pass.
        cache: None or a dict receiving the hooks (TransformerLens names) in `keep` (None: all);
        start, resid: rerun from blocks.{start}.hook_resid_pre = resid (start 0 without resid:
               embed the tokens); at_mid: from blocks.{start}.hook_resid_mid = resid instead;
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
            embed, pos = self.W_E[tokens], self.W_pos[:T]
            if kind == "embed":
                embed = ablate[1]
            elif kind == "pos_embed":
                pos = ablate[1]
            put("hook_embed", embed)
            put("hook_pos_embed", pos)
            resid = embed + pos
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        for l in range(start, c.n_layers):
            L, p = self.layers[l], f"blocks.{l}."
            if not (at_mid and l == start):
                resid = self._attention(l, p, resid, T, mask, put, want, ablate, v_sub)
            x, scale = self._norm(resid, L["ln2_w"], L["ln2_b"])
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
            resid = resid + mlp_out
            put(p + "hook_resid_post", resid)
        x, scale = self._norm(resid, self.ln_f_w, self.ln_f_b)
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


def static_detector(model):
    """core/analysis/static_erasure.h in float64: head pairs by signed composition (stable
    order: writer layer, head, eraser layer, head) and anti-aligned MLP neurons."""
    c, L = model.cfg, model.layers
    A, B = [], []
    for l in range(c.n_layers):
        Wv = (L[l]["W_v"].double() * L[l]["ln1_w"].double()[:, None]).view(c.d_model, c.n_heads,
                                                                           c.d_head)
        Wv = Wv - Wv.mean(0, keepdim=True)                               # LayerNorm centers
        A.append(Wv.permute(1, 0, 2))                                     # [H, D, dh]
        B.append(L[l]["W_O"].double())                                   # [H, dh, D]
    GA = [a.transpose(1, 2) @ a for a in A]
    GB = [b @ b.transpose(1, 2) for b in B]
    norm = [torch.einsum("hij,hji->h", ga, gb).clamp(min=0).sqrt() for ga, gb in zip(GA, GB)]
    pairs = []
    for lw in range(c.n_layers):
        for le in range(lw + 1, c.n_layers):
            M = torch.einsum("wad,edb->weab", B[lw], A[le])              # [Hw, He, dh, dh]
            Z = GA[lw][:, None] @ M @ GB[le][None]
            prod = (M * Z).sum((-2, -1)).clamp(min=0).sqrt()
            C = torch.einsum("ead,wbd->weab", B[le], B[lw])               # B_e B_w^T
            inner = ((M @ C) * GA[lw][:, None].transpose(-2, -1)).sum((-2, -1))
            nw, ne = norm[lw][:, None], norm[le][None, :]
            ok = (nw > 0) & (ne > 0)
            comp = torch.where(ok, prod / (nw * ne), torch.zeros_like(prod))
            scomp = torch.where(ok, inner / (nw * nw * ne), torch.zeros_like(prod))
            scos = torch.where(ok & (prod > 1e-9 * nw * ne), inner / (prod * nw),
                               torch.zeros_like(prod))
            for hw in range(c.n_heads):
                for he in range(c.n_heads):
                    pairs.append((lw, hw, le, he, scomp[hw, he].item(), scos[hw, he].item(),
                                  comp[hw, he].item()))
    pairs.sort(key=lambda p: (p[0], p[1], p[2], p[3]))
    pairs.sort(key=lambda p: p[4])                                        # stable
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
        self.nodes = list_nodes(c)
        self.readers = torch.tensor([[a.read_by(b) for b in self.nodes] for a in self.nodes])
        self.pair_w, self.pair_n = torch.nonzero(self.readers, as_tuple=True)
        self.components = [i for i, n in enumerate(self.nodes) if n.kind in ("head", "mlp")]
        self.points = [(f"{k}{l}", f"blocks.{l}.hook_resid_{k}", 2 * l + (k == "post"))
                       for l in range(c.n_layers) for k in ("mid", "post")]
        L = range(c.n_layers)
        self.keep_nodes = {"hook_embed", "hook_pos_embed"} | \
            {f"blocks.{l}.{h}" for l in L for h in ("attn.hook_result", "hook_mlp_out")}
        self.keep_causal = self.keep_nodes | \
            {f"blocks.{l}.hook_resid_{k}" for l in L for k in ("mid", "post")}
        self.keep_clean = self.keep_causal | {"ln_final.hook_scale"} | \
            {f"blocks.{l}.{h}" for l in L for h in ("hook_resid_pre", "ln1.hook_scale",
                                                    "attn.hook_pattern", "attn.hook_v")}
        self.prompts = 0
        self.max_error = 0.0
        self.acc = {k: [] for k in ("dla", "dla_bos", "survival", "path", "effect", "pr", "pr_bos")}
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
        m, out = self.m, []
        for i in idx:
            n = self.nodes[i]
            if n.kind == "embed":
                name = "hook_embed"
            elif n.kind == "pos_embed":
                name = "hook_pos_embed"
            elif n.kind == "head":
                name = f"blocks.{n.layer}.attn.hook_result"
            elif n.kind == "mlp":
                name = f"blocks.{n.layer}.hook_mlp_out"
            else:
                out.append(m.layers[n.layer]["b_O"].expand(self.T, -1))
                continue
            if name in cache:
                t = cache[name]
                out.append(t[:, n.head] if n.kind == "head" else t)
            else:
                out.append(clean[i])
        return torch.stack(out)

    # -- one prompt ---------------------------------------------------------------------------

    @torch.inference_mode()
    def analyze(self, tokens, donor=None):
        """tokens, donor: LongTensor [T] (donor only for resample ablation)."""
        m, c, nodes = self.m, self.m.cfg, self.nodes
        T = self.T = tokens.shape[0]
        N, tl = len(nodes), self.variant == "tl"
        tgt = torch.cat([tokens[1:], tokens[:1]])     # next token; the last position has none
        pos = torch.arange(1, T - 1)                  # positions >= 1 with a target
        U = m.W_U[:, tgt].T                           # [T, D]
        wu = U * m.ln_f_w
        ub = (U * m.ln_f_b).sum(-1) + m.b_U[tgt]      # b_lnf . u + b_U term
        wuc = wu - wu.mean(-1, keepdim=True)          # DLA's centering, moved onto u
        direction = (U, m.b_U[tgt])

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
        self.acc["dla"].append(dla[:, pos])
        self.acc["dla_bos"].append(dla[:, 0])

        # cleanup_dla: survival-scaled and path-corrected DLA.
        final = cache[f"blocks.{c.n_layers - 1}.hook_resid_post"]
        pr_final = torch.nan_to_num(pr_rows(final[None], out, hh), nan=0.0)
        self.acc["survival"].append((pr_final * dla)[:, pos])
        path = dla.clone()
        H, dh = c.n_heads, c.d_head
        for l in range(c.n_layers):
            idx = [i for i, n in enumerate(nodes) if n.stage < 2 * l]
            L = m.layers[l]
            h = out[idx]
            s1 = cache[f"blocks.{l}.ln1.hook_scale"]                           # [T, 1]
            normed = (h - h.mean(-1, keepdim=True)) / s1 * L["ln1_w"]
            vals = torch.matmul(normed, L["W_v"]).view(len(idx), T, H, dh)   # no b_V: not h's
            vals = vals.permute(2, 1, 0, 3).reshape(H, T, len(idx) * dh)
            z = torch.bmm(cache[f"blocks.{l}.attn.hook_pattern"], vals).view(H, T, len(idx), dh)
            g = torch.einsum("hed,td->the", L["W_O"], wuc)                 # W_O[e] (w_lnf u)_c
            path[idx] += torch.einsum("htne,the->nt", z, g) / s_final
        self.acc["path"].append(path[:, pos])

        # erasure: PR(node, writer) for every (writer, reader) pair at every position.
        ot = out.transpose(0, 1)
        gram = torch.bmm(ot, ot.transpose(1, 2))                          # [T, N, N]
        diag = gram.diagonal(dim1=1, dim2=2)
        pr = gram[:, self.pair_w, self.pair_n] / diag[:, self.pair_w]
        pr = torch.where(diag[:, self.pair_w] > 0, pr, torch.full_like(pr, math.nan))
        self.acc["pr"].append(pr[1:])
        self.acc["pr_bos"].append(pr[:1])
        if self.writers is None:
            self._select_writers(pr[1:], out, T)
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
                start, at_mid = max(n.layer, 0), n.kind in ("head", "b_O")
                if at_mid:
                    point = cache[f"blocks.{start}.hook_resid_mid"]
                else:
                    start += n.kind == "mlp"
                    point = self._resid_pre(cache, start, embedded=True)
                ablated = m.run(tokens, start=start, resid=point + (r - out[i]), at_mid=at_mid,
                                unembed=direction)
            effect[i] = (clean - logit_of(ablated))[pos]  # comparable with DLA
        self.acc["effect"].append(effect)

        # adversarial: large DLA, small or opposite total effect.
        d, e = dla[self.components][:, pos], effect[self.components]
        cand = d.abs() >= ADV_MIN_DLA
        self.adv_candidates += int(cand.sum())
        gap = d.abs() - torch.where(d > 0, 1.0, -1.0) * e
        gap = torch.where(cand, gap, torch.full_like(gap, -math.inf))
        top = torch.topk(gap.flatten(), min(ADV_TOP, gap.numel()))
        for g, flat in zip(top.values.tolist(), top.indices.tolist()):
            if g == -math.inf:
                break
            k, p = divmod(flat, len(pos))
            self.adv.append((g, d[k, p].item(), e[k, p].item(), nodes[self.components[k]].name,
                             self.prompts, int(pos[p])))
        self.adv = sorted(self.adv, key=lambda f: -f[0])[:ADV_TOP]
        self.prompts += 1

    def _select_writers(self, pr, out, T):
        """erasure_writer=auto: the heads/MLPs with the most negative median PR from a later
        node on the first prompt; ties: the largest mean output norm (positions >= 1)."""
        med = quantiles(pr, [0.5])[0]
        scores = []
        for n in self.components:
            sel = self.pair_w == n
            if not bool(sel.any()):
                continue
            mm = med[sel]
            mm = mm[~torch.isnan(mm)]
            min_median = min(0.0, mm.min().item()) if mm.numel() else 0.0
            norm = out[n, 1 if T > 1 else 0:].double().norm(dim=-1).mean().item()
            scores.append((min_median, -norm, n))
        self.writers = [n for _, _, n in sorted(scores)[:ERASURE_NUM_WRITERS]]
        self.wacc = {w: {k: [] for k in ("surv", "surv_bos", "surv_causal", "bos_share",
                                         "on_bos", "on_rest", "causal")} for w in self.writers}

    def _analyze_writer(self, w, tokens, cache, out, hh):
        m, node = self.m, self.nodes[w]
        acc, h = self.wacc[w], out[w]
        later = torch.nonzero(self.readers[w]).flatten()
        pts = [p for p in self.points if p[2] >= node.stage]
        resid = torch.stack([cache[p[1]] for p in pts])                    # [P, T, D]
        surv = pr_rows(resid, h[None], hh[w][None])                        # [P, T]
        acc["surv"].append(surv[:, 1:])
        acc["surv_bos"].append(surv[:, :1])
        if node.kind == "head":   # BOS split: pattern[h, t, 0] v[0, h] W_O[h], and the rest
            l, hd = node.layer, node.head
            a0 = cache[f"blocks.{l}.attn.hook_pattern"][hd, 1:, 0]
            from_bos = a0[:, None] * (cache[f"blocks.{l}.attn.hook_v"][0, hd] @
                                      m.layers[l]["W_O"][hd])
            rest = h[1:] - from_bos
            acc["bos_share"].append(pr_rows(from_bos, h[1:], hh[w][1:]))
            acc["on_bos"].append(pr_rows(out[later][:, 1:], from_bos[None]))
            acc["on_rest"].append(pr_rows(out[later][:, 1:], rest[None]))
        # Causal: the writer removed from the value input of every later layer, rerun.
        l0 = (node.stage + 2) // 2
        cache2 = self._cache_run(tokens, self.keep_causal, start=l0,
                                 resid=self._resid_pre(cache, l0), v_sub=(l0, h))
        out2 = self._node_outputs(cache2, later.tolist(), clean=out)
        acc["causal"].append(pr_rows(out2[:, 1:], h[None, 1:], hh[w][None, 1:]))
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
        r = {"nodes": [n.name for n in nodes], "dla_mean": dla.mean(1),
             "dla_mean_abs": dla.abs().mean(1), "dla_std": dla.std(1), "dla_min": dla.min(1)[0],
             "dla_max": dla.max(1)[0], "dla_bos_mean": torch.stack(self.acc["dla_bos"], 1).mean(1),
             "survival_dla": cat("survival").mean(1), "path_dla": cat("path").mean(1),
             "total_effect": eff.mean(1), "disagree_frac": disagree.double().mean(1),
             "max_invariant_error": self.max_error}
        pr, pr_bos = cat("pr", 0), cat("pr_bos", 0)
        q25, q50, q75 = quantiles(pr, [0.25, 0.5, 0.75])
        pairs = {(nodes[w].name, nodes[n].name): i
                 for i, (w, n) in enumerate(zip(self.pair_w.tolist(), self.pair_n.tolist()))}
        r["pair_index"] = pairs
        r["pairs"] = {k: (q50[i].item(), q25[i].item(), q75[i].item()) for k, i in pairs.items()}
        r["pair_frac_negative"] = frac_negative(pr)
        r["pair_bos_median"] = quantiles(pr_bos, [0.5])[0]
        r["erasers"] = sorted([k for k, i in pairs.items() if q50[i] < ERASURE_THRESHOLD and
                               r["pair_frac_negative"][i] > 0.5], key=lambda k: r["pairs"][k][0])
        r["writers"] = {}
        for w in self.writers:
            a = self.wacc[w]
            wcat = lambda k: torch.cat(a[k], 1).double().T  # noqa: E731  [samples, columns]
            later = [nodes[i].name for i in torch.nonzero(self.readers[w]).flatten().tolist()]
            pts = [p[0] for p in self.points if p[2] >= nodes[w].stage]
            t = {"later": later, "points": pts,
                 "causal_median": quantiles(wcat("causal"), [0.5])[0],
                 "causal_frac_negative": frac_negative(wcat("causal")),
                 "survival": quantiles(wcat("surv"), [0.5])[0],
                 "survival_bos": quantiles(wcat("surv_bos"), [0.5])[0],
                 "survival_causal": quantiles(wcat("surv_causal"), [0.5])[0]}
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


def check(args):
    rep, items = memlens_items(args.memlens_json)
    for flag in ("--cleanup_ablation", "--adversarial_ablation"):
        plugin = flag[2:].split("_")[0]
        plugin = "cleanup_dla" if plugin == "cleanup" else plugin
        if items.get((plugin, "settings"), {}).get(flag) != "zero":
            sys.exit(f"{args.memlens_json}: run memlens with {flag}=zero for the check")
    prompts = [torch.tensor([int(t) for t in p.replace(" ", "").split(",")])
               for p in args.prompt_tokens]
    ds = rep["metadata"]["dataset"]
    if ds.get("num_prompts") != len(prompts) or \
            ds.get("num_tokens") != sum(len(p) for p in prompts):
        sys.exit(f"{args.memlens_json} has {ds.get('num_prompts')} prompts of "
                 f"{ds.get('num_tokens')} tokens in all; --prompt_tokens gives {len(prompts)} "
                 f"of {sum(len(p) for p in prompts)}")
    model = load_processed(args.model)
    pairs, _ = static_detector(model)
    mine_static = [p[4] for p in pairs[:STATIC_TOP]]
    theirs_static = [num(r[2]) for r in items[("erasure", "static_heads")]["rows"]]
    dla_rows = {r[0]: r for r in items[("dla", "dla")]["rows"]}
    cu_rows = {r[0]: r for r in items[("cleanup_dla", "cleanup_dla")]["rows"]}
    mat = items[("erasure", "pr_median")]
    writer_tables = {k[1][len("writer_"):]: v for k, v in items.items()
                     if k[0] == "erasure" and k[1].startswith("writer_")}
    survival = items[("erasure", "survival_resid")]
    surv_lines = {ln["name"]: ln["y"] for ln in survival["lines"]}
    adv_rows = items[("adversarial", "adversarial")]["rows"]
    failed = False
    for variant in args.variants.split(","):
        t0 = time.perf_counter()
        fr = FullReport(model, variant, "zero")
        for p in prompts:
            fr.analyze(p)
        r = fr.finish()
        dt = time.perf_counter() - t0
        diffs = {}   # name -> (max abs diff, tolerance)

        def per_node(name, mine, col, rows, tol=1e-3):
            d = max(abs(mine[i].item() - num(rows[n][col])) for i, n in enumerate(r["nodes"]))
            diffs[name] = (d, tol)

        per_node("dla mean", r["dla_mean"], 1, dla_rows)
        per_node("dla std", r["dla_std"], 3, dla_rows)
        per_node("dla bos_mean", r["dla_bos_mean"], 7, dla_rows)
        per_node("cleanup dla", r["dla_mean"], 1, cu_rows)
        per_node("survival_dla", r["survival_dla"], 2, cu_rows)
        per_node("path_dla", r["path_dla"], 3, cu_rows)
        per_node("total_effect", r["total_effect"], 4, cu_rows)
        per_node("disagree_frac", r["disagree_frac"], 6, cu_rows)
        rl, cl = mat["row_labels"], mat["col_labels"]
        d, count = 0.0, 0
        for i, w in enumerate(rl):
            for j, n in enumerate(cl):
                theirs = num(mat["values"][i][j])
                mine = r["pairs"].get((w, n), (math.nan,))[0]
                if math.isnan(theirs) != math.isnan(mine):
                    d = math.inf
                elif not math.isnan(theirs):
                    d, count = max(d, abs(theirs - mine)), count + 1
        diffs[f"pair medians ({count})"] = (d, 0.01)
        # memlens also requires a non-bias writer and >= 2% of the reader's input, so its
        # erasers are a subset of these.
        theirs_erasers = [(row[0], row[1]) for row in items[("erasure", "erasers")]["rows"]]
        diffs["erasers not in this list"] = (
            float(len(set(theirs_erasers) - set(r["erasers"]))), 0)
        diffs["writers (mismatch)"] = (float(sorted(writer_tables) != sorted(r["writers"])), 0)
        dq, dfrac = 0.0, 0.0
        for wname, t in r["writers"].items():
            if wname not in writer_tables:
                continue
            rows = {row[0]: row for row in writer_tables[wname]["rows"]}
            col = {c["name"]: i for i, c in enumerate(writer_tables[wname]["columns"])}
            for i, n in enumerate(t["later"]):
                row, (med, q25, q75) = rows[n], r["pairs"][(wname, n)]
                mine = [med, q25, q75, t["causal_median"][i].item()]
                theirs = [num(row[col[c]]) for c in ("median_pr", "q25", "q75",
                                                      "causal_median_pr")]
                if "on_bos_median" in t:
                    mine += [t["on_bos_median"][i].item(), t["on_rest_median"][i].item()]
                    theirs += [num(row[col["pr_on_bos_part"]]), num(row[col["pr_on_rest"]])]
                dq = max([dq] + [abs(a - b) for a, b in zip(mine, theirs)])
                k = r["pair_index"][(wname, n)]
                dfrac = max(dfrac,
                            abs(r["pair_frac_negative"][k].item() - num(row[col["frac_negative"]])),
                            abs(t["causal_frac_negative"][i].item() -
                                num(row[col["causal_frac_negative"]])))
            names = survival["x_categories"]
            for suffix, key in ((" clean", "survival"), (" causal", "survival_causal"),
                                (" BOS", "survival_bos")):
                y = surv_lines[wname + suffix]
                for i, p in enumerate(t["points"]):
                    dq = max(dq, abs(t[key][i].item() - num(y[names.index(p)])))
        diffs["writer tables, survival (medians, quartiles)"] = (dq, 0.01)
        diffs["writer tables (fractions negative)"] = (dfrac, 0.01)
        mine_gaps = [f[0] for f in r["adversarial"]]
        theirs_gaps = [num(row[5]) for row in adv_rows]
        diffs["adversarial top gaps"] = (
            max((abs(a - b) for a, b in zip(mine_gaps, theirs_gaps)), default=0.0)
            if len(mine_gaps) == len(theirs_gaps) else math.inf, 1e-3)
        diffs["static signed_composition (top)"] = (
            max(abs(a - b) for a, b in zip(mine_static, theirs_static)), 1e-6)
        print(f"\n{variant}: {len(prompts)} prompts in {dt:.1f} s, writers "
              f"{', '.join(r['writers'])}, sum-of-DLA invariant error "
              f"{r['max_invariant_error']:.2e}")
        print("| quantity | max abs diff vs memlens | tolerance | |\n|---|---:|---:|---|")
        for name, (d, tol) in diffs.items():
            ok = d <= tol
            failed |= not ok
            print(f"| {name} | {d:.3g} | {tol:g} | {'ok' if ok else 'FAIL'} |")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# --bench
# ---------------------------------------------------------------------------------------------

def bench(args):
    model = load_processed(args.model)
    c = model.cfg
    T, N = args.tokens, args.prompts
    if T > c.n_ctx:
        sys.exit(f"--tokens {T} > n_ctx {c.n_ctx}")
    t0 = time.perf_counter()
    static_detector(model)
    static_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(args.seed)
    prompts = torch.randint(0, c.d_vocab, (N + 1, T), generator=gen)
    prompts[:, 0] = 0        # BOS
    variants = args.variants.split(",")

    def one_rep(variant):
        fr = FullReport(model, variant, args.ablation)
        rss_reset()
        t = time.perf_counter()
        for i in range(1, N + 1):
            fr.analyze(prompts[i], prompts[i - 1])   # donor: the previous prompt
        fr.finish()
        return (time.perf_counter() - t) / N, rss_kb("VmHWM") / 1024

    for v in variants:       # warm-up: one prompt each
        fr = FullReport(model, v, args.ablation)
        fr.analyze(prompts[1], prompts[0])
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
        for v in variants:
            s, mib = one_rep(v)
            secs[v].append(s)
            peak[v] = max(peak[v], mib)
        if memlens_ok:
            try:
                try:
                    report, hwm = run_memlens(args.memlens_bench,
                                              ["--benchmark_filter=^BM_FullReport"], env,
                                              args.timeout)
                except RuntimeError as e:   # one retry: a crash is reported, not hidden
                    print(f"  memlens failed, retrying once: {e}", file=sys.stderr)
                    report, hwm = run_memlens(args.memlens_bench,
                                              ["--benchmark_filter=^BM_FullReport"], env,
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
        print(f"  repetition {rep + 1}/{args.reps}: " + ", ".join(
            f"{v} {secs[v][-1]:.2f} s/prompt" for v in secs if secs[v]), file=sys.stderr,
            flush=True)
    print(f"\nmodel {args.model} ({c.n_layers} layers, d_model {c.d_model}, {c.n_heads} heads of "
          f"{c.d_head}, d_mlp {c.d_mlp}, vocab {c.d_vocab}), {T}-token random prompts, {N} per "
          f"repetition, {args.reps} repetitions, {args.ablation} ablation, {args.threads} threads; "
          f"static detector (once per run, untimed below): {static_s:.2f} s\n")
    m = mean_sd(secs["memlens"])
    print("| variant | seconds/prompt | peak RSS MiB | memlens/PyTorch speed ratio |")
    print("|---|---:|---:|---:|")
    if m:
        print(f"| memlens | {fmt(m, 2)} | {peak['memlens']:.0f} | 1 |")
    for v in variants:
        t = mean_sd(secs[v])
        ratio = f"{t[0] / m[0]:.2f}" if m else "n/a"
        print(f"| PyTorch {v} | {fmt(t, 2)} | {peak[v]:.0f} | {ratio} |")
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
    mode.add_argument("--check", action="store_true", help="compare with --memlens_json")
    mode.add_argument("--bench", action="store_true", help="time both sides")
    ap.add_argument("--model", default="/tmp/memlens-gelu4l-random",
                    help="TL-safetensors or HF GPT-2 folder (config.json + model.safetensors)")
    ap.add_argument("--variants", default="tl,matched")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memlens_json", help="--check: memlens report --format=json output")
    ap.add_argument("--prompt_tokens", nargs="+", default=[],
                    help="--check: the token ids of each prompt memlens ran (comma-separated)")
    ap.add_argument("--tokens", type=int, default=1024, help="--bench: tokens per prompt")
    ap.add_argument("--prompts", type=int, default=2, help="--bench: prompts per repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ablation", default="resample", choices=("resample", "zero"))
    ap.add_argument("--memlens_bench", default=os.path.join(ROOT, "bazel-bin", "benchmarks",
                                                            "report_benchmark"))
    ap.add_argument("--timeout", type=float, default=7200, help="per memlens invocation, s")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    if args.check:
        if not args.memlens_json or not args.prompt_tokens:
            ap.error("--check needs --memlens_json and --prompt_tokens")
        return check(args)
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
