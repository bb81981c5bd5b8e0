#!/usr/bin/env python3
"""Regenerates the seed corpus of the fuzz targets in tests/fuzz/corpus/ (python3, no extra
packages). Seeds are tiny hand-made files plus small files from tests/fixtures and
tests/io/testdata; run from anywhere: python3 tests/fuzz/make_seeds.py. Targets whose seeds
are hand-maintained (json_fuzz, bpe_fuzz, llama2c_tokenizer_fuzz, tokenizer_json_fuzz; state_file_fuzz:
state files written by memlens report --shard on tests/fixtures/tl_safetensors) are
left alone."""

import collections
import io
import json
import os
import pickle
import random
import struct
import sys
import types
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bpe_train import bytes_to_unicode  # noqa: E402  (GPT-2's byte -> unicode table)


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*parts):
    with open(os.path.join(ROOT, *parts), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- safetensors

def safetensors(tensors, metadata=None, pad=True):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def seeds_safetensors():
    t = "safetensors_fuzz"
    put(t, "f32.safetensors", safetensors({"w": ("F32", [2, 3], f32(*range(6)))}))
    put(t, "mixed.safetensors", safetensors({
        "scalar": ("F32", [], f32(1.5)),
        "empty": ("F32", [0, 4], b""),
        "a.weight": ("F16", [2, 2], struct.pack("<4H", 0x3C00, 0x7C00, 0xFC00, 0x0001)),
        "b": ("BF16", [3], struct.pack("<3H", 0x3F80, 0x7FC0, 0x0001)),
    }, metadata={"format": "pt"}))
    put(t, "unpadded.safetensors", safetensors({"x": ("F32", [1], f32(2.0))}, pad=False))
    put(t, "bad_dtype.safetensors", safetensors({"x": ("I64", [1], b"\0" * 8)}))
    put(t, "empty.safetensors", safetensors({}))


# ---------------------------------------------------------------- torch pickles

def torch_pickles():
    """data.pkl streams in torch.save's shape, written with fake torch modules."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils

    def fn(name):
        def f(*a):
            return a
        f.__module__, f.__name__, f.__qualname__ = "torch._utils", name, name
        setattr(utils, name, f)
        return f

    rebuild_tensor, rebuild_param = fn("_rebuild_tensor_v2"), fn("_rebuild_parameter")
    storages = {}
    for name in ("FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
                 "LongStorage", "BoolStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
        storages[name] = cls

    class Storage:
        def __init__(self, cls, key, numel):
            self.pid = ("storage", storages[cls], key, "cpu", numel)

    class Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, tuple(size), tuple(stride), False,
                         collections.OrderedDict())

        def __reduce__(self):
            return (rebuild_tensor, self.args)

    class Param:
        def __init__(self, tensor):
            self.tensor = tensor

        def __reduce__(self):
            return (rebuild_param, (self.tensor, True, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return obj.pid if isinstance(obj, Storage) else None

    def dump(obj, protocol):
        b = io.BytesIO()
        Pickler(b, protocol=protocol).dump(obj)
        return b.getvalue()

    # Storage k of the harness's packed archive: 1024 bytes (see torch_checkpoint_fuzz.cc).
    s0 = Storage("FloatStorage", "0", 256)
    sd = collections.OrderedDict()
    sd["embed.W_E"] = Tensor(s0, 0, [16, 16], [16, 1])
    sd["t"] = Tensor(s0, 0, [16, 16], [1, 16])  # transposed view of the same storage
    sd["half"] = Tensor(Storage("HalfStorage", "1", 512), 8, [4, 5], [5, 1])
    sd["bf16"] = Param(Tensor(Storage("BFloat16Storage", "2", 512), 0, [512], [1]))
    sd["f64"] = Tensor(Storage("DoubleStorage", "3", 128), 2, [3, 2], [4, 2])
    sd["mask"] = Tensor(Storage("BoolStorage", "4", 1024), 0, [32, 32], [32, 1])
    sd["i64"] = Tensor(Storage("LongStorage", "5", 128), 0, [2, 0, 3], [3, 3, 1])
    sd["scalar"] = Tensor(Storage("FloatStorage", "7", 256), 5, [], [])
    out = {"proto2.pkl": dump(sd, 2), "proto4.pkl": dump(sd, 4)}
    small = collections.OrderedDict(w=Tensor(Storage("FloatStorage", "6", 256), 0, [256], [1]))
    out["small.pkl"] = dump(small, 2)
    for k, v in saved.items():
        if v is None:
            del sys.modules[k]
        else:
            sys.modules[k] = v
    return out


def seeds_torch():
    pickles = torch_pickles()
    for name in ("torch_small.pth", "torch_proto4.pth", "torch_module.pth"):
        raw = read("tests", "io", "testdata", name)
        put("torch_zip_fuzz", name, raw)
        put("torch_checkpoint_fuzz", name, raw)
        z = zipfile.ZipFile(io.BytesIO(raw))
        pkl = [i for i in z.namelist() if i.endswith("/data.pkl")][0]
        put("pickle_fuzz", name.replace(".pth", ".pkl"), z.read(pkl))
    for name, data in pickles.items():
        put("torch_checkpoint_fuzz", name, data)
        put("pickle_fuzz", name, data)
    # Plain values every pickle reader must handle.
    for proto in (2, 4, 5):
        put("pickle_fuzz", "values%d.pkl" % proto, pickle.dumps(
            {"a": [1, -2, 300, 70000, 2**40, -2**63, 1.5, None, True, False],
             "b": (b"xy", "caf\u00e9", (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)),
             "c": collections.OrderedDict(k=[[]] * 3)}, protocol=proto))
    put("pickle_fuzz", "global_refused.pkl", b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.")


# ---------------------------------------------------------------- llama2.c model

def llama2c(dim, hidden, layers, heads, kv, vocab, seq, rng):
    hs = dim // heads
    kvd = hs * kv
    V = abs(vocab)
    n = V * dim + layers * dim + layers * (2 * dim * dim + 2 * kvd * dim) + layers * dim
    n += layers * 3 * hidden * dim + dim + 2 * seq * (hs // 2)
    if vocab < 0:
        n += V * dim
    vals = [round(rng.uniform(-1, 1), 2) for _ in range(n)]
    return struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq) + f32(*vals)


def seeds_llama2c():
    rng = random.Random(7)
    t = "llama2c_model_fuzz"
    put(t, "tiny.bin", llama2c(8, 16, 1, 2, 1, 4, 4, rng))
    put(t, "gqa_wcls.bin", llama2c(8, 8, 2, 4, 2, -5, 2, rng))
    put(t, "header_only.bin", struct.pack("<7i", 288, 768, 6, 6, 6, 32000, 256))


# ---------------------------------------------------------------- GPT-2 tokenizer

def seeds_gpt2():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = [("Ġ", "w"), ("h", "e"), ("l", "l"), ("he", "ll"), ("o", "r"), ("Ġw", "or"),
              ("1", "2"), ("Ġ", "x")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<|endoftext|>"] = len(vocab)
    enc = json.dumps(vocab, ensure_ascii=False)
    bpe = "#version: 0.2\n" + "".join("%s %s\n" % m for m in merges)
    put("gpt2_tokenizer_fuzz", "tiny.txt", enc + "\n#SPLIT#\n" + bpe)
    put("gpt2_tokenizer_fuzz", "crlf.txt", enc + "\n#SPLIT#\n" + bpe.replace("\n", "\r\n"))


# ---------------------------------------------------------------- config.json, npy

def seeds_config():
    t = "model_config_fuzz"
    for d in ("tl_safetensors", "hf_gpt2", "tl_pth"):
        put(t, d + ".json", read("tests", "fixtures", d, "config.json"))
    hf = json.loads(read("tests", "fixtures", "hf_gpt2", "config.json"))
    hf.update({"n_inner": 128, "scale_attn_weights": False, "bos_token_id": 0})
    put(t, "hf_variant.json", json.dumps(hf))


def npy(shape, values, descr="<f4", version=(1, 0)):
    shape_s = "(" + "".join("%d, " % s for s in shape).rstrip(", ") + ("," if len(shape) == 1 else "") + ")"
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_s)
    lenbytes = 2 if version[0] == 1 else 4
    total = 6 + 2 + lenbytes + len(h) + 1
    h += " " * ((64 - total % 64) % 64) + "\n"
    hl = struct.pack("<H", len(h)) if lenbytes == 2 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + hl + h.encode("latin1") + f32(*values)


def seeds_npy():
    t = "npy_fuzz"
    put(t, "2x3.npy", npy([2, 3], range(6)))
    put(t, "scalar.npy", npy([], [3.25]))
    put(t, "empty.npy", npy([0], []))
    put(t, "v2.npy", npy([4], [1, -1, float("inf"), float("nan")], version=(2, 0)))
    put(t, "v3.npy", npy([1, 1, 2], [0.5, 0.25], version=(3, 0)))
    put(t, "f8.npy", npy([1], [0, 0], descr="<f8"))


def main():
    seeds_safetensors()
    seeds_torch()
    seeds_llama2c()
    seeds_gpt2()
    seeds_config()
    seeds_npy()
    total = 0
    for dirpath, _, files in os.walk(CORPUS):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print("corpus: %d bytes" % total)


if __name__ == "__main__":
    main()
