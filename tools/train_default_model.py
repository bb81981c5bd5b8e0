#!/usr/bin/python3
"""Train memlens's small default model (gelu-4l architecture, scaled down) from text that
every stock Debian machine has, and export it in TransformerLens layout.

    /usr/bin/python3 tools/train_default_model.py --out models/default

Needs Debian's python3-torch and python3-numpy (use /usr/bin/python3 if the python3 on PATH
is another interpreter). No network. Seeded and resumable: intermediate files (corpus,
tokenizer, token arrays, checkpoints) live in --work-dir; re-running the same command
continues from the last checkpoint. See models/README.md for the recipe and the results.

Stages:
  1. corpus: prose from /usr/share/doc (no READMEs, changelogs, NEWS, copyright/licence
     files; .gz decompressed, HTML stripped), manual pages from /usr/share/man/man1..8
     (rendered with `man` when installed, otherwise roff macros stripped here) and Python
     standard-library source (/usr/lib/python3.X, tests excluded). Sorted enumeration,
     hash-ordered selection under byte budgets (~70% prose / 30% code), exact dedupe,
     deterministic 2% held-out split by path hash. Nothing of the corpus is committed.
  2. tokenizer: byte-level BPE (tools/bpe_train.py), <|endoftext|> = id 0 = BOS.
  3. model: 4 layers, pre-LN, erf GELU, learned positions, biases everywhere, untied
     embed/unembed, TransformerLens parameter shapes. AdamW + cosine schedule.
  4. export: model.safetensors (F32), config.json, tokenizer.json, expected.json,
     train_log.json into --out.
"""

import argparse
import gzip
import hashlib
import html.parser
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe_train  # noqa: E402

BOS_ID = 0
PROMPTS = ["The quick brown fox", "def main():\n    return", "The manual page describes"]
TOKENIZER_CASES = [
    "Hello world", "Hello  world", " leading space", "trailing spaces   ", "tabs\tand\nnewlines\n\n",
    "It's, we're, they've, I'm, you'll, he'd, don't", "x = 12345 + 6.78e-9", "café naïve 東京 😀",
    "<|endoftext|>The start", "a<|endoftext|>b", "for i in range(10):\n        print(i)\n",
    "\u00a0nbsp and\u2003em space", "'''quoted'''",
]


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


# ============================================================================================
# Corpus


class _HTMLText(html.parser.HTMLParser):
    BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
             "table", "tr", "dt", "dd", "dl", "section", "article", "blockquote", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(s):
    p = _HTMLText()
    p.feed(s)
    p.close()
    return "".join(p.out)


_ROFF_ESC = {
    "-": "-", "e": "\\", "&": "", "|": "", "^": "", "~": " ", " ": " ", "0": " ", ".": ".",
    "'": "'", "`": "`", "%": "", ":": "", "c": "", "/": "", ",": "",
}
_ROFF_NAMED = {
    "aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'", "cq": "'", "em": "--", "en": "-",
    "hy": "-", "bu": "*", "co": "(c)", "rg": "(R)", "tm": "(TM)", "mi": "-", "pl": "+",
    "mu": "x", "di": "/", "eq": "=", "<=": "<=", ">=": ">=", "!=": "!=", "->": "->",
    "<-": "<-", "ti": "~", "ha": "^", "rs": "\\", "sl": "/", "ga": "`", "aa": "'",
    "Lq": '"', "Rq": '"', "R": "(R)", "Tm": "(TM)",
}


def _roff_inline(s):
    def esc(m):
        t = m.group(0)
        if t.startswith("\\f") or t.startswith("\\s") or t.startswith("\\m"):
            return ""
        if t.startswith("\\(") or t.startswith("\\["):
            name = t[2:].rstrip("]")
            return _ROFF_NAMED.get(name, "")
        if t.startswith("\\*"):
            name = t[2:].lstrip("(").lstrip("[").rstrip("]")
            return _ROFF_NAMED.get(name, "")
        if t[1:2] in ("n", "h", "v", "w", "o", "k", "z", "l", "L", "x", "Z", "X", "N", "D"):
            return ""
        return _ROFF_ESC.get(t[1:], t[1:])
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)|\\s[+-]?(\[[^\]]*\]|\(..|\d+)|\\m(\[[^\]]*\]|\(..|.)"
               r"|\\\((..)|\\\[[^\]]*\]|\\\*(\[[^\]]*\]|\(..|.)"
               r"|\\[nhvwoklLxZXND](\[[^\]]*\]|'[^']*'|\(..|.)|\\.", esc, s)
    return s


def _roff_args(rest):
    args = re.findall(r'"((?:[^"]|"")*)"|(\S+)', rest)
    return [a or b for a, b in args]


def roff_to_text(src):
    """Minimal man(7) roff -> text, used only when `man` is not installed."""
    out = []
    for line in src.split("\n"):
        if line.startswith(('.\\"', "'\\\"", '.\\#')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            m = re.match(r"[.'\s]*(\S+)\s*(.*)", line)
            if not m:
                continue
            mac, rest = m.group(1), m.group(2)
            args = _roff_args(rest)
            if mac in ("SH", "SS"):
                out.append("\n" + _roff_inline(" ".join(args)))
            elif mac in ("B", "I", "SM", "SB"):
                out.append(_roff_inline(" ".join(args)))
            elif mac in ("BR", "RB", "IR", "RI", "BI", "IB"):
                out.append(_roff_inline("".join(args)))
            elif mac in ("PP", "LP", "P", "sp", "HP"):
                out.append("")
            elif mac in ("IP", "TP"):
                out.append("")
                if args and mac == "IP":
                    out.append(_roff_inline(args[0]))
            elif mac == "TH" and args:
                out.append(_roff_inline(" ".join(args[:2])))
            elif mac in ("UR", "MT") and args:
                out.append(_roff_inline(args[0]))
            continue
        out.append(_roff_inline(line))
    return "\n".join(out)


def man_available():
    return shutil.which("man") is not None


def render_man(path, renderer):
    raw = gzip.decompress(open(path, "rb").read()) if path.endswith(".gz") else \
        open(path, "rb").read()
    try:
        src = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if src.lstrip().startswith(".so "):
        return None  # alias page
    if renderer == "strip":
        return roff_to_text(src)
    env = {"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
           "PAGER": "cat", "MANPAGER": "cat", "HOME": "/tmp"}
    try:
        r = subprocess.run(["man", "--nh", "--nj", "-E", "UTF-8", "-l", path], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0 or not r.stdout:
        return None
    s = r.stdout.decode("utf-8", errors="replace")
    s = re.sub(r".\x08", "", s)
    s = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", s)
    return s


def clean_text(s):
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = "\n".join(line.rstrip() for line in s.split("\n"))
    s = re.sub(r"\n{3,}", "\n\n", s)
    return s.strip("\n") + "\n"


def truncate(s, max_bytes):
    if len(s.encode("utf-8")) <= max_bytes:
        return s
    cut = s.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    nl = cut.rfind("\n")
    return cut[:nl + 1] if nl > 0 else cut


def looks_like_prose(s):
    if len(s) < 300:
        return False
    letters = sum(c.isalpha() for c in s)
    spaces = s.count(" ")
    return letters / len(s) > 0.55 and spaces / len(s) > 0.08


DOC_EXCLUDE = re.compile(r"^(readme|changelog|changes|news|history|copyright|copying|licen[cs]e"
                         r"|authors|thanks|credits|todo|install|maintainers|contributors"
                         r"|notice)", re.I)
DOC_EXTS = {"", ".txt", ".md", ".rst", ".text", ".html", ".htm"}


def doc_candidates(root="/usr/share/doc"):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            name = f[:-3] if f.endswith(".gz") else f
            if DOC_EXCLUDE.match(name):
                continue
            ext = os.path.splitext(name)[1].lower()
            if ext not in DOC_EXTS:
                continue
            rel = os.path.relpath(p, root)
            out.append(("doc/" + rel, p, rel.split(os.sep)[0]))
    return out


def man_candidates(root="/usr/share/man"):
    out = []
    for sec in range(1, 9):
        d = os.path.join(root, "man%d" % sec)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            group = re.split(r"[-_.:]", f, 1)[0].lower()
            out.append(("man/man%d/%s" % (sec, f), p, group))
    return out


def python_candidates():
    root = "/usr/lib/python%d.%d" % sys.version_info[:2]
    skip = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("config-"))
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            if f.endswith(".py") and not os.path.islink(p) and os.path.isfile(p):
                rel = os.path.relpath(p, root)
                out.append(("py/" + rel, p, rel.split(os.sep)[0]))
    return out


def read_doc(path):
    raw = open(path, "rb").read()
    if path.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            return None
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    name = path[:-3] if path.endswith(".gz") else path
    if name.lower().endswith((".html", ".htm")):
        s = html_to_text(s)
    return s


def select(cands, loader, budget, group_cap_bytes, group_cap_docs, max_doc_bytes, seen,
           filt=None):
    """Hash-ordered selection under a byte budget with per-group caps and exact dedupe."""
    order = sorted(cands, key=lambda c: sha("select:" + c[0]))
    chosen = []
    total = 0
    gbytes = {}
    gdocs = {}
    for rel, path, group in order:
        if total >= budget:
            break
        if gdocs.get(group, 0) >= group_cap_docs or gbytes.get(group, 0) >= group_cap_bytes:
            continue
        text = loader(path)
        if not text:
            continue
        text = clean_text(text)
        if filt and not filt(text):
            continue
        text = truncate(text, min(max_doc_bytes, budget - total + 4096))
        if len(text) < 200:
            continue
        h = sha(text)
        if h in seen:
            continue
        seen.add(h)
        n = len(text.encode("utf-8"))
        chosen.append({"path": rel, "text": text})
        total += n
        gbytes[group] = gbytes.get(group, 0) + n
        gdocs[group] = gdocs.get(group, 0) + 1
    return chosen, total


def build_corpus(a, path):
    renderer = a.man_renderer
    if renderer == "auto":
        renderer = "man" if man_available() else "strip"
    mb = 1 << 20
    total = a.corpus_mb * mb
    code_budget = int(total * 0.30)
    doc_budget = int(total * 0.35)
    seen = set()
    t0 = time.time()
    docs, doc_bytes = select(doc_candidates(), read_doc, doc_budget, int(1.5 * mb), 10 ** 9,
                             200 * 1024, seen, filt=looks_like_prose)
    log("corpus: /usr/share/doc %d docs, %.2f MB (%.0fs)" % (len(docs), doc_bytes / mb,
                                                             time.time() - t0))
    man_budget = int(total * 0.70) - doc_bytes
    mans, man_bytes = select(man_candidates(), lambda p: render_man(p, renderer), man_budget,
                             int(0.5 * mb), 25, 150 * 1024, seen)
    log("corpus: man pages (%s) %d docs, %.2f MB (%.0fs)" % (renderer, len(mans),
                                                             man_bytes / mb, time.time() - t0))
    codes, code_bytes = select(python_candidates(), read_doc, code_budget, 10 ** 12, 10 ** 9,
                               150 * 1024, seen)
    log("corpus: python stdlib %d files, %.2f MB" % (len(codes), code_bytes / mb))
    out = []
    for src, lst in (("doc", docs), ("man", mans), ("code", codes)):
        for d in lst:
            held = int(sha("holdout:" + d["path"])[:8], 16) % 1000 < 20
            out.append({"path": d["path"], "source": src, "split": "heldout" if held else "train",
                        "text": d["text"]})
    out.sort(key=lambda d: d["path"])
    stats = {"man_renderer": renderer, "bytes": {"doc": doc_bytes, "man": man_bytes,
                                                 "code": code_bytes},
             "docs": {"doc": len(docs), "man": len(mans), "code": len(codes)},
             "heldout_docs": sum(d["split"] == "heldout" for d in out),
             "heldout_bytes": sum(len(d["text"].encode()) for d in out
                                  if d["split"] == "heldout")}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps({"stats": stats}) + "\n")
        for d in out:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return stats


def load_corpus(path):
    with open(path, encoding="utf-8") as f:
        stats = json.loads(f.readline())["stats"]
        docs = [json.loads(line) for line in f]
    return stats, docs


# ============================================================================================
# Model (TransformerLens parameterization)


class LN(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.b = nn.Parameter(torch.zeros(d))
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.w, self.b, self.eps)


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, D, dh = c["n_heads"], c["d_model"], c["d_head"]
        self.W_Q = nn.Parameter(torch.empty(H, D, dh))
        self.W_K = nn.Parameter(torch.empty(H, D, dh))
        self.W_V = nn.Parameter(torch.empty(H, D, dh))
        self.W_O = nn.Parameter(torch.empty(H, dh, D))
        self.b_Q = nn.Parameter(torch.zeros(H, dh))
        self.b_K = nn.Parameter(torch.zeros(H, dh))
        self.b_V = nn.Parameter(torch.zeros(H, dh))
        self.b_O = nn.Parameter(torch.zeros(D))
        self.scale = c["attn_scale"]

    def forward(self, x):
        B, P, D = x.shape
        H, _, dh = self.W_Q.shape
        W = torch.cat([self.W_Q, self.W_K, self.W_V], 0)          # [3H, D, dh]
        W = W.permute(1, 0, 2).reshape(D, 3 * H * dh)
        b = torch.cat([self.b_Q, self.b_K, self.b_V], 0).reshape(3 * H * dh)
        qkv = torch.addmm(b, x.reshape(B * P, D), W)
        qkv = qkv.view(B, P, 3, H, dh).permute(2, 0, 3, 1, 4).reshape(3, B * H, P, dh)
        q, k, v = qkv[0], qkv[1], qkv[2]
        # scores = q k^T / attn_scale, causal: -inf above the diagonal (fused in baddbmm)
        mask = torch.full((P, P), float("-inf"), dtype=x.dtype, device=x.device).triu(1)
        scores = torch.baddbmm(mask, q, k.transpose(1, 2), alpha=1.0 / self.scale)
        pattern = scores.softmax(-1)
        z = torch.bmm(pattern, v)                                    # [B*H, P, dh]
        z = z.view(B, H, P, dh).transpose(1, 2).reshape(B * P, H * dh)
        return torch.addmm(self.b_O, z, self.W_O.reshape(H * dh, D)).view(B, P, D)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, Fd = c["d_model"], c["d_mlp"]
        self.W_in = nn.Parameter(torch.empty(D, Fd))
        self.b_in = nn.Parameter(torch.zeros(Fd))
        self.W_out = nn.Parameter(torch.empty(Fd, D))
        self.b_out = nn.Parameter(torch.zeros(D))

    def forward(self, x):
        shp = x.shape
        h = F.gelu(torch.addmm(self.b_in, x.reshape(-1, shp[-1]), self.W_in))  # exact erf GELU
        return torch.addmm(self.b_out, h, self.W_out).view(shp)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln1 = LN(c["d_model"], c["eps"])
        self.attn = Attn(c)
        self.ln2 = LN(c["d_model"], c["eps"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Embed(nn.Module):
    def __init__(self, V, D):
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(V, D))


class PosEmbed(nn.Module):
    def __init__(self, n, D):
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(n, D))


class Unembed(nn.Module):
    def __init__(self, D, V):
        super().__init__()
        self.W_U = nn.Parameter(torch.empty(D, V))
        self.b_U = nn.Parameter(torch.zeros(V))


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cfg = c
        self.embed = Embed(c["d_vocab"], c["d_model"])
        self.pos_embed = PosEmbed(c["n_ctx"], c["d_model"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
        self.ln_final = LN(c["d_model"], c["eps"])
        self.unembed = Unembed(c["d_model"], c["d_vocab"])

    def init_weights(self, std=0.02):
        resid_std = std / math.sqrt(2 * self.cfg["n_layers"])
        for name, p in self.named_parameters():
            if name.endswith((".w",)):
                nn.init.ones_(p)
            elif p.dim() == 1 or name.split(".")[-1].startswith("b_") or name.endswith(".b"):
                nn.init.zeros_(p)
            elif name.endswith(("W_O", "W_out")):
                nn.init.normal_(p, 0.0, resid_std)
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(self, tokens):
        P = tokens.shape[1]
        x = self.embed.W_E[tokens] + self.pos_embed.W_pos[:P]
        for blk in self.blocks:
            x = blk(x)
        x = self.ln_final(x)
        B, P, D = x.shape
        return torch.addmm(self.unembed.b_U, x.reshape(B * P, D), self.unembed.W_U).view(B, P, -1)


def model_config(a, vocab_size):
    c = {
        "n_layers": a.n_layers, "d_model": a.d_model, "d_head": a.d_model // a.n_heads,
        "n_heads": a.n_heads, "d_mlp": a.d_mlp, "d_vocab": vocab_size, "n_ctx": a.n_ctx,
        "act_fn": "gelu", "normalization_type": "LN", "eps": 1e-5,
        "positional_embedding_type": "standard",
        "attn_scale": math.sqrt(a.d_model // a.n_heads),
        "original_architecture": "memlens-default", "default_prepend_bos": True,
        "bos_token_id": BOS_ID, "tokenizer_name": "tokenizer.json",
        "d_vocab_out": vocab_size, "attn_only": False, "final_rms": False,
        "parallel_attn_mlp": False, "use_attn_result": False,
    }
    return c


# ============================================================================================
# safetensors (written/read by hand so the `safetensors` package is not needed)


def save_safetensors(path, tensors, metadata=None):
    header = {}
    off = 0
    blobs = []
    for name, t in tensors.items():
        arr = np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy()).astype("<f4")
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    if metadata:
        header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        assert h["dtype"] == "F32"
        s, e = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[s:e], dtype="<f4").copy()
                                     .reshape(h["shape"]))
    return out


# ============================================================================================
# Export / evaluation


def make_batch(stream, offsets, n_ctx):
    """x = [BOS] + stream[o:o+n_ctx-1]; y = stream[o:o+n_ctx] (every position predicts)."""
    idx = offsets[:, None] + np.arange(n_ctx)[None, :]
    y = stream[idx].astype(np.int64)
    x = np.concatenate([np.full((len(offsets), 1), BOS_ID, np.int64), y[:, :-1]], axis=1)
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def heldout_loss(model, stream, n_ctx, max_windows=None, batch=16):
    """Mean nats/token over non-overlapping windows: every held-out token predicted once."""
    model.eval()
    n = (len(stream)) // n_ctx
    if max_windows:
        n = min(n, max_windows)
    tot = 0.0
    cnt = 0
    for i in range(0, n, batch):
        offs = np.arange(i, min(n, i + batch)) * n_ctx
        x, y = make_batch(stream, offs, n_ctx)
        logits = model(x)
        tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), y.reshape(-1),
                               reduction="sum").item()
        cnt += y.numel()
    model.train()
    return tot / max(cnt, 1), cnt


def unigram_baseline(train_stream, held_stream, vocab_size, n_ctx):
    counts = np.bincount(train_stream, minlength=vocab_size).astype(np.float64) + 1.0  # add-1
    p = counts / counts.sum()
    n = (len(held_stream) // n_ctx) * n_ctx
    held = held_stream[:n]
    train_entropy = float(-(p * np.log(p)).sum())
    return float(-np.log(p[held]).mean()), train_entropy


@torch.no_grad()
def compute_expected(weights_path, cfg, tok):
    m = Transformer(cfg).double()
    sd = {k: v.double() for k, v in load_safetensors(weights_path).items()}
    m.load_state_dict(sd, strict=True)
    m.eval()
    out = {"dtype": "float64 forward from the exported float32 weights",
           "bos_prepended": True, "bos_token_id": BOS_ID, "prompts": []}
    for p in PROMPTS:
        ids = [BOS_ID] + tok.encode(p)
        logits = m(torch.tensor([ids]))[0]
        last = logits[-1]
        top = torch.topk(last, 5)
        lp = last.log_softmax(-1)
        seq = list(ids)
        margins = []  # top-1 minus top-2 logit at each greedy step (how robust the argmax is)
        for _ in range(10):
            lg = m(torch.tensor([seq[-cfg["n_ctx"]:]]))[0, -1]
            t2 = torch.topk(lg, 2)
            margins.append(float(t2.values[0] - t2.values[1]))
            seq.append(int(t2.indices[0]))
        cont = seq[len(ids):]
        out["prompts"].append({
            "prompt": p, "token_ids": ids,
            "tokens": [tok.id_to_token[i] for i in ids],
            "last_top5": [{"id": int(i), "token": tok.id_to_token[int(i)], "logit": float(v),
                           "logprob": float(lp[i])}
                          for v, i in zip(top.values, top.indices)],
            "last_logit_stats": {"mean": float(last.mean()), "std": float(last.std()),
                                 "logsumexp": float(last.logsumexp(-1))},
            "greedy_continuation_ids": cont, "greedy_continuation_text": tok.decode(cont),
            "greedy_top1_top2_margins": margins,
        })
    out["tokenizer_cases"] = [{"text": t, "ids": tok.encode(t)} for t in TOKENIZER_CASES]
    return out


def export(model, cfg, tok_path, out_dir, train_log):
    os.makedirs(out_dir, exist_ok=True)
    sd = model.state_dict()
    wpath = os.path.join(out_dir, "model.safetensors")
    save_safetensors(wpath, {k: sd[k] for k in sorted(sd)}, {"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    shutil.copyfile(tok_path, os.path.join(out_dir, "tokenizer.json"))
    tok = bpe_train.Tokenizer.from_file(tok_path)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(compute_expected(wpath, cfg, tok), f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(out_dir, "train_log.json"), "w") as f:
        json.dump(train_log, f, indent=1)
        f.write("\n")


# ============================================================================================
# Main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Train memlens's default model.")
    ap.add_argument("--out", default="models/default")
    ap.add_argument("--work-dir", default="/tmp/memlens_default_work")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--corpus-mb", type=float, default=30.0)
    ap.add_argument("--man-renderer", choices=["auto", "man", "strip"], default="auto")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--n-layers", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--n-heads", type=int, default=8)
    ap.add_argument("--d-mlp", type=int, default=768)
    ap.add_argument("--n-ctx", type=int, default=256)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-interval", type=int, default=100)
    ap.add_argument("--ckpt-interval", type=int, default=100)
    ap.add_argument("--tiny", action="store_true",
                    help="pipeline smoke test: 2 MB corpus, vocab 512, small model, 60 steps")
    a = ap.parse_args(argv)
    if a.tiny:
        a.corpus_mb, a.vocab_size, a.d_model, a.n_heads, a.d_mlp = 2.0, 512, 64, 4, 256
        a.n_ctx, a.steps, a.batch_size, a.warmup = 64, 60, 8, 10
        a.eval_interval = a.ckpt_interval = 20
    return a


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    os.makedirs(a.work_dir, exist_ok=True)
    t_start = time.time()

    # ---- 1. corpus
    cfp = sha(json.dumps({"mb": a.corpus_mb, "r": a.man_renderer, "v": 1}))[:12]
    corpus_path = os.path.join(a.work_dir, "corpus-%s.jsonl" % cfp)
    if not os.path.exists(corpus_path):
        log("building corpus -> %s" % corpus_path)
        build_corpus(a, corpus_path)
    cstats, docs = load_corpus(corpus_path)
    train_docs = [d["text"] for d in docs if d["split"] == "train"]
    held_docs = [d["text"] for d in docs if d["split"] == "heldout"]
    log("corpus: %d train docs, %d held-out docs; %s" % (len(train_docs), len(held_docs),
                                                          json.dumps(cstats)))

    # ---- 2. tokenizer
    tfp = sha(cfp + ":%d:v1" % a.vocab_size)[:12]
    tok_path = os.path.join(a.work_dir, "tokenizer-%s.json" % tfp)
    if not os.path.exists(tok_path):
        t0 = time.time()
        words = bpe_train.count_words(train_docs)
        log("tokenizer: %d distinct pre-tokens; training BPE to %d" % (len(words),
                                                                       a.vocab_size))
        vocab, merges = bpe_train.train_bpe(words, a.vocab_size, log=log)
        bpe_train.write_tokenizer_json(tok_path + ".tmp", vocab, merges)
        os.replace(tok_path + ".tmp", tok_path)
        log("tokenizer: %d tokens, %d merges (%.0fs)" % (len(vocab), len(merges),
                                                        time.time() - t0))
    tok = bpe_train.Tokenizer.from_file(tok_path)
    V = len(tok.vocab)

    # ---- 3. token streams: each document is preceded by BOS (<|endoftext|>)
    arr_path = os.path.join(a.work_dir, "tokens-%s.npz" % tfp)
    if not os.path.exists(arr_path):
        t0 = time.time()

        def stream(texts):
            out = []
            for t in texts:
                out.append(BOS_ID)
                out.extend(tok.encode_ordinary(t))
            return np.array(out, dtype=np.uint16)
        tr, he = stream(train_docs), stream(held_docs)
        np.savez(arr_path + ".tmp.npz", train=tr, heldout=he)
        os.replace(arr_path + ".tmp.npz", arr_path)
        log("tokenized in %.0fs" % (time.time() - t0))
    z = np.load(arr_path)
    train_stream, held_stream = z["train"], z["heldout"]
    train_bytes = sum(len(t.encode("utf-8")) for t in train_docs)
    log("tokens: train %d (%.2f bytes/token), held-out %d" % (
        len(train_stream), train_bytes / len(train_stream), len(held_stream)))

    # ---- 4. model + training
    cfg = model_config(a, V)
    torch.manual_seed(a.seed)
    model = Transformer(cfg)
    model.init_weights()
    n_params = sum(p.numel() for p in model.parameters())
    log("model: %d parameters (%.2f MB float32)" % (n_params, n_params * 4 / 1e6))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        prog = (step - a.warmup) / max(1, a.steps - a.warmup)
        return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * prog)))

    run_fp = sha(json.dumps({k: v for k, v in vars(a).items()
                             if k not in ("out", "work_dir", "eval_interval", "ckpt_interval")},
                            sort_keys=True) + tfp)[:12]
    ckpt_path = os.path.join(a.work_dir, "ckpt-%s.pt" % run_fp)
    step = 0
    history = []
    elapsed_before = 0.0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, history, elapsed_before = ck["step"], ck["history"], ck["train_seconds"]
        log("resumed from %s at step %d" % (ckpt_path, step))

    unigram_ce, unigram_train_entropy = unigram_baseline(train_stream, held_stream, V, a.n_ctx)
    log("unigram baseline on held-out: %.4f nats/token (train entropy %.4f)" % (
        unigram_ce, unigram_train_entropy))

    def train_log(final, held=None, held_tokens=None):
        return {
            "status": "final" if final else "in_progress",
            "command": "/usr/bin/python3 tools/train_default_model.py --out %s" % a.out
                       + (" --tiny" if a.tiny else ""),
            "args": {k: v for k, v in vars(a).items() if k not in ("out", "work_dir")},
            "torch_version": torch.__version__, "numpy_version": np.__version__,
            "python": sys.version.split()[0], "threads": a.threads,
            "n_params": n_params, "config": cfg,
            "corpus": cstats,
            "tokens": {"train": int(len(train_stream)), "heldout": int(len(held_stream)),
                       "train_bytes_per_token": train_bytes / len(train_stream)},
            "steps_done": step, "tokens_seen": step * a.batch_size * a.n_ctx,
            "train_seconds": elapsed_before + (time.time() - t_train),
            "heldout_loss_nats_per_token": held, "heldout_tokens_evaluated": held_tokens,
            "unigram_baseline_nats_per_token": unigram_ce,
            "unigram_train_entropy_nats": unigram_train_entropy,
            "history": history,
        }

    t_train = time.time()
    model.train()
    ema = None
    while step < a.steps:
        rng = np.random.default_rng([a.seed, step])
        offs = rng.integers(0, len(train_stream) - a.n_ctx, size=a.batch_size)
        x, y = make_batch(train_stream, offs, a.n_ctx)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        opt.step()
        step += 1
        lv = loss.item()
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        if step % 25 == 0 or step == 1:
            el = elapsed_before + time.time() - t_train
            log("step %d/%d loss %.4f (ema %.4f) lr %.2e gnorm %.2f  %.0fs" % (
                step, a.steps, lv, ema, lr_at(step - 1), gnorm, el))
        if step % a.eval_interval == 0 or step == a.steps:
            hl, _ = heldout_loss(model, held_stream, a.n_ctx, max_windows=64)
            history.append({"step": step, "train_loss_ema": ema, "heldout_loss_subset": hl,
                            "lr": lr_at(step - 1),
                            "seconds": elapsed_before + time.time() - t_train})
            log("eval step %d: held-out (64 windows) %.4f nats/token" % (step, hl))
        if step % a.ckpt_interval == 0 and step < a.steps:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "history": history,
                        "train_seconds": elapsed_before + time.time() - t_train},
                       ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)
            export(model, cfg, tok_path, a.out, train_log(False))
            log("checkpoint + export at step %d" % step)

    train_seconds = elapsed_before + time.time() - t_train
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "history": history, "train_seconds": train_seconds}, ckpt_path + ".tmp")
    os.replace(ckpt_path + ".tmp", ckpt_path)
    hl, hn = heldout_loss(model, held_stream, a.n_ctx)
    log("final held-out loss %.4f nats/token over %d tokens; unigram %.4f" % (hl, hn,
                                                                              unigram_ce))
    tl = train_log(True, hl, hn)
    tl["train_seconds"] = train_seconds
    tl["wall_seconds_this_invocation"] = time.time() - t_start
    export(model, cfg, tok_path, a.out, tl)
    # Check that the export round-trips and every file is small enough to commit.
    sd = load_safetensors(os.path.join(a.out, "model.safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(sd[k], v.float()), k
    for f in sorted(os.listdir(a.out)):
        size = os.path.getsize(os.path.join(a.out, f))
        log("%s: %d bytes" % (f, size))
        assert size < 20 * 1000 * 1000, f
    log("done")


if __name__ == "__main__":
    main()
