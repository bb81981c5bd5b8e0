#!/usr/bin/python3
"""Byte-level BPE (GPT-2 style) trainer, encoder and HuggingFace tokenizer.json writer.

Pure Python 3 standard library (no `regex`, no `tokenizers`). Used by
tools/train_default_model.py; also usable on its own:

    tools/bpe_train.py encode models/default/tokenizer.json "The quick brown fox"
    tools/bpe_train.py train --vocab-size 4096 --out tok.json FILE...

What the encoder implements (and what a C++ implementation of the same tokenizer.json must
match) is the standard HuggingFace pipeline:

  1. added tokens: the special token "<|endoftext|>" (id 0) is split out of the input first,
     wherever it occurs literally;
  2. ByteLevel pre-tokenizer, add_prefix_space false, use_regex true: the GPT-2 pattern
        's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
     with \\p{L} = General_Category L* (Lu Ll Lt Lm Lo), \\p{N} = N* (Nd Nl No) and
     \\s = the Unicode White_Space property (U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680,
     U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), i.e. Oniguruma's Unicode \\s.
     `re` lacks \\p{..}, so the classes are spelled out as explicit code-point ranges computed
     from `unicodedata` (Unicode 14.0.0 in Python 3.11); the alternation/backtracking
     semantics are then exactly the regex's. Each piece's UTF-8 bytes are mapped through GPT-2's
     bytes_to_unicode table;
  3. BPE with the merges ranked by their order in the file: repeatedly merge the adjacent pair
     with the lowest rank (all non-overlapping occurrences, left to right) until none applies;
     no dropout, no unk token, no continuing-subword prefix, no end-of-word suffix;
  4. decoding: ByteLevel decoder (map characters back to bytes, decode UTF-8).
"""

import argparse
import collections
import heapq
import json
import re
import sys
import unicodedata

ENDOFTEXT = "<|endoftext|>"

# Unicode White_Space property (identical to Oniguruma's \s in Unicode mode).
WHITE_SPACE = ([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] +
               list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) +
          list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_ENCODER = bytes_to_unicode()
BYTE_DECODER = {c: b for b, c in BYTE_ENCODER.items()}


def _ranges(pred):
    """Code-point ranges [(lo, hi)] where pred(cp) holds (surrogates excluded)."""
    out = []
    start = None
    for cp in range(0x110000):
        ok = not (0xD800 <= cp <= 0xDFFF) and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


def _class(ranges):
    parts = []
    for lo, hi in ranges:
        if lo == hi:
            parts.append("\\U%08x" % lo)
        else:
            parts.append("\\U%08x-\\U%08x" % (lo, hi))
    return "".join(parts)


_PATTERN = None


def gpt2_pattern():
    """The GPT-2 pre-tokenizer regex compiled with Python's `re` (exact \\p{L}, \\p{N}, \\s)."""
    global _PATTERN
    if _PATTERN is None:
        cat = unicodedata.category
        letters = _class(_ranges(lambda cp: cat(chr(cp))[0] == "L"))
        numbers = _class(_ranges(lambda cp: cat(chr(cp))[0] == "N"))
        ws_set = set(WHITE_SPACE)
        spaces = _class(_ranges(lambda cp: cp in ws_set))
        pat = (r"'s|'t|'re|'ve|'m|'ll|'d"
               r"| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+").format(
                   L=letters, N=numbers, S=spaces)
        _PATTERN = re.compile(pat)
    return _PATTERN


def pretokenize(text):
    """Split text into GPT-2 pre-tokens (strings, before the byte mapping)."""
    return gpt2_pattern().findall(text)


def byte_map(piece):
    return "".join(BYTE_ENCODER[b] for b in piece.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Training


def count_words(texts):
    """Counter of byte-mapped pre-tokens over an iterable of documents."""
    pat = gpt2_pattern()
    raw = collections.Counter()
    for t in texts:
        raw.update(pat.findall(t))
    words = collections.Counter()
    for w, c in raw.items():
        words[byte_map(w)] += c
    return words


def train_bpe(word_counts, vocab_size, special_tokens=(ENDOFTEXT,), min_pair_count=2,
              log=None):
    """Learn merges. Returns (vocab dict token->id, merges list of (a, b)).

    ids: special tokens first (0..), then the 256 byte symbols in byte order, then one token
    per merge in merge order. Pair choice: highest count; ties -> lexicographically smallest
    (a, b). Deterministic.
    """
    vocab = {}
    for s in special_tokens:
        vocab[s] = len(vocab)
    for b in range(256):
        vocab[BYTE_ENCODER[b]] = len(vocab)
    n_merges = vocab_size - len(vocab)

    items = sorted(word_counts.items())
    words = [list(w) for w, _ in items]
    counts = [c for _, c in items]
    pair_counts = collections.defaultdict(int)
    where = collections.defaultdict(set)
    for i, (w, c) in enumerate(zip(words, counts)):
        for a, b in zip(w, w[1:]):
            pair_counts[(a, b)] += c
            where[(a, b)].add(i)
    heap = [(-c, a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while len(merges) < n_merges and heap:
        negc, a, b = heapq.heappop(heap)
        cur = pair_counts.get((a, b), 0)
        if cur != -negc or cur <= 0:
            continue  # stale entry
        if cur < min_pair_count:
            break
        merges.append((a, b))
        new = a + b
        vocab[new] = len(vocab)
        changed = set()
        for i in sorted(where.pop((a, b), ())):
            w = words[i]
            c = counts[i]
            # remove this word's old pairs
            for p in zip(w, w[1:]):
                pair_counts[p] -= c
                changed.add(p)
            out = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pair_counts[p] += c
                where[p].add(i)
                changed.add(p)
        pair_counts.pop((a, b), None)
        for p in changed:
            c = pair_counts.get(p, 0)
            if c <= 0:
                pair_counts.pop(p, None)
                where.pop(p, None)
            else:
                heapq.heappush(heap, (-c, p[0], p[1]))
        if log and len(merges) % 500 == 0:
            log("bpe: %d/%d merges, last %r count %d" % (len(merges), n_merges, new, cur))
    return vocab, merges


# --------------------------------------------------------------------------------------------
# tokenizer.json


def tokenizer_json(vocab, merges, special_tokens=(ENDOFTEXT,)):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{
            "id": vocab[s], "content": s, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True,
        } for s in special_tokens],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None,
            "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
            "byte_fallback": False, "vocab": vocab,
            "merges": ["%s %s" % (a, b) for a, b in merges],
        },
    }


def write_tokenizer_json(path, vocab, merges, special_tokens=(ENDOFTEXT,)):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges, special_tokens), f, ensure_ascii=False,
                  indent=1)
        f.write("\n")


class Tokenizer:
    """Encoder/decoder for a byte-level BPE tokenizer.json (the subset described above)."""

    def __init__(self, vocab, merges, special_tokens=(ENDOFTEXT,)):
        self.vocab = dict(vocab)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.special = {s: self.vocab[s] for s in special_tokens}
        self._special_re = (re.compile("|".join(re.escape(s) for s in
                                                sorted(self.special, key=len, reverse=True)))
                            if self.special else None)
        self.cache = {}

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        m = j["model"]
        assert m["type"] == "BPE"
        merges = [tuple(x.split(" ")) if isinstance(x, str) else tuple(x) for x in m["merges"]]
        return cls(m["vocab"], merges, [t["content"] for t in j.get("added_tokens", [])])

    def bpe(self, word):
        """word: byte-mapped string -> list of token strings."""
        out = self.cache.get(word)
        if out is not None:
            return out
        parts = list(word)
        ranks = self.ranks
        while len(parts) > 1:
            best = None
            best_rank = None
            for p in zip(parts, parts[1:]):
                r = ranks.get(p)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = p, r
            if best is None:
                break
            a, b = best
            new = []
            j = 0
            while j < len(parts):
                if j + 1 < len(parts) and parts[j] == a and parts[j + 1] == b:
                    new.append(a + b)
                    j += 2
                else:
                    new.append(parts[j])
                    j += 1
            parts = new
        if len(self.cache) < 1_000_000:
            self.cache[word] = parts
        return parts

    def encode_ordinary(self, text):
        """Encode without recognising special tokens in the text."""
        ids = []
        v = self.vocab
        for piece in gpt2_pattern().findall(text):
            for tok in self.bpe(byte_map(piece)):
                ids.append(v[tok])
        return ids

    def encode(self, text):
        """HuggingFace semantics: added (special) tokens are split out first."""
        if not self._special_re:
            return self.encode_ordinary(text)
        ids = []
        pos = 0
        for m in self._special_re.finditer(text):
            ids.extend(self.encode_ordinary(text[pos:m.start()]))
            ids.append(self.special[m.group(0)])
            pos = m.end()
        ids.extend(self.encode_ordinary(text[pos:]))
        return ids

    def decode(self, ids):
        out = []
        buf = bytearray()
        for i in ids:
            t = self.id_to_token[int(i)]
            if t in self.special:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                out.append(t)
            else:
                buf.extend(BYTE_DECODER[c] for c in t)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a tokenizer.json from UTF-8 text files")
    t.add_argument("--vocab-size", type=int, default=4096)
    t.add_argument("--out", required=True)
    t.add_argument("files", nargs="+")
    e = sub.add_parser("encode", help="print the ids of TEXT")
    e.add_argument("tokenizer")
    e.add_argument("text")
    a = ap.parse_args(argv)
    if a.cmd == "train":
        texts = (open(p, encoding="utf-8").read() for p in a.files)
        vocab, merges = train_bpe(count_words(texts), a.vocab_size,
                                  log=lambda s: print(s, file=sys.stderr))
        write_tokenizer_json(a.out, vocab, merges)
    else:
        tok = Tokenizer.from_file(a.tokenizer)
        ids = tok.encode(a.text)
        print(json.dumps({"ids": ids, "tokens": [tok.id_to_token[i] for i in ids]},
                         ensure_ascii=False))


if __name__ == "__main__":
    main()
