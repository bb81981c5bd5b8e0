// libFuzzer target for the GPT-2 tokenizer loader: encoder.json + vocab.bpe
// (tools/fuzz.sh gpt2_tokenizer_fuzz). The input is split at the first "\n#SPLIT#\n" (or in
// the middle when there is none): encoder.json before it, vocab.bpe after. Both are written to
// scratch files (the loader takes paths). Invariants: no crash; a loaded tokenizer encodes
// fixed texts to in-range ids that decode back to the text (byte-level BPE round-trips every
// byte string).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/tokenizer/gpt2_tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const absl::string_view input = fuzz::AsText(data, size);
  constexpr absl::string_view kSep = "\n#SPLIT#\n";
  size_t cut = input.find(kSep);
  absl::string_view encoder, merges;
  if (cut == absl::string_view::npos) {
    encoder = input.substr(0, size / 2);
    merges = input.substr(size / 2);
  } else {
    encoder = input.substr(0, cut);
    merges = input.substr(cut + kSep.size());
  }
  const std::string enc_path = fuzz::WriteScratch("encoder.json", encoder);
  const std::string bpe_path = fuzz::WriteScratch("vocab.bpe", merges);
  for (bool special : {true, false}) {
    auto tok = LoadGpt2Tokenizer(enc_path, bpe_path, special);
    if (!tok.ok()) return 0;
    for (const char* text : {"Hello world 123", "caf\xC3\xA9\xFF  \n\n x", "<|endoftext|> x's",
                             ""}) {
      auto ids = (*tok)->Encode(text, false);
      if (!ids.ok()) std::abort();
      for (int id : *ids) {
        if (id < 0 || id >= (*tok)->vocab_size()) std::abort();
        (void)(*tok)->Piece(id);
      }
      auto back = (*tok)->Decode(*ids);
      if (!back.ok() || *back != text) std::abort();
    }
    if ((*tok)->Decode({(*tok)->vocab_size()}).ok()) std::abort();
  }
  return 0;
}
