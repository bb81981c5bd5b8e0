// libFuzzer target for the byte-level BPE encoder and the hand-written split patterns
// (tools/fuzz.sh bpe_fuzz). Invariants: the pattern matches tile the input; Decode(Encode(x))
// == x for every byte string, under each pre-tokenizer configuration; NFC is idempotent.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/tokenizer/byte_level_bpe.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/unicode.h"

namespace {

using namespace memlens;

std::unique_ptr<ByteLevelBpeTokenizer> Make(std::vector<PreTokenizerStep> steps) {
  ByteLevelBpeSpec spec;
  spec.source = "fuzz";
  for (int b = 0; b < 256; ++b) spec.vocab.push_back({ByteToUnicode(static_cast<uint8_t>(b)), b});
  // Merges, including "\xE6" + "\x97" (the first two bytes of a CJK character).
  const std::pair<std::string, std::string> merges[] = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {ByteToUnicode(' '), "h"},
      {ByteToUnicode(' '), ByteToUnicode(' ')}, {"1", "2"},
      {ByteToUnicode(0xE6), ByteToUnicode(0x97)}};
  int id = 256;
  for (const auto& m : merges) {
    spec.vocab.push_back({m.first + m.second, id++});
    spec.merges.push_back(m);
  }
  spec.added_tokens.push_back(AddedToken{"<|endoftext|>", id, true, false, false, false});
  spec.pre_tokenizer = std::move(steps);
  auto tok = ByteLevelBpeTokenizer::Create(std::move(spec));
  if (!tok.ok()) std::abort();
  return *std::move(tok);
}

std::vector<std::unique_ptr<ByteLevelBpeTokenizer>>* Tokenizers() {
  static auto* toks = [] {
    auto* v = new std::vector<std::unique_ptr<ByteLevelBpeTokenizer>>();
    PreTokenizerStep bl;
    bl.kind = PreTokenizerStep::Kind::kByteLevel;
    v->push_back(Make({bl}));
    PreTokenizerStep digits;
    digits.kind = PreTokenizerStep::Kind::kDigits;
    digits.individual_digits = true;
    v->push_back(Make({digits, bl}));
    for (SplitPattern p : {SplitPattern::kLlama3, SplitPattern::kQwen2}) {
      PreTokenizerStep split;
      split.kind = PreTokenizerStep::Kind::kSplitPattern;
      split.pattern = p;
      PreTokenizerStep raw = bl;
      raw.use_regex = false;
      v->push_back(Make({split, raw}));
    }
    v->push_back(Make({}));
    return v;
  }();
  return toks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (SplitPattern p : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    std::vector<ByteSpan> spans;
    FindPatternMatches(p, text, &spans);
    size_t prev = 0;
    for (const ByteSpan& s : spans) {
      if (s.begin != prev || s.end <= s.begin) std::abort();
      prev = s.end;
    }
    if (prev != text.size()) std::abort();
  }
  const std::string nfc = unicode::ToNfc(text);
  if (unicode::ToNfc(nfc) != nfc) std::abort();
  for (const auto& tok : *Tokenizers()) {
    auto ids = tok->Encode(text, false);
    if (!ids.ok()) std::abort();
    auto back = tok->Decode(*ids);
    if (!back.ok() || *back != text) {
      // add_prefix_space is off, so the round trip must be exact.
      std::abort();
    }
  }
  return 0;
}
