// libFuzzer target for the llama2.c tokenizer loader and encoder
// (tools/fuzz.sh llama2c_tokenizer_fuzz). The input is a tok*.bin file (vocabulary size
// inferred, and once with a fixed model vocabulary); when it loads, encoding and decoding
// fixed texts and the input's own bytes must succeed without crashing. (An exact round trip
// is not an invariant for adversarial vocabularies: a merge can build a piece that spells
// "<0x41>" or "\n<s>\n", which decode as a byte or as nothing.)
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/tokenizer/llama2c_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  // A model's vocabulary size given by the caller: load or fail cleanly.
  (void)Llama2cTokenizer::FromBytes(bytes, 260, "fuzz.bin");
  auto tok = Llama2cTokenizer::FromBytes(bytes, Llama2cTokenizer::kInferVocabSize, "fuzz.bin");
  if (!tok.ok()) return 0;
  const std::string texts[] = {"I dream of", "", " ", "caf\xC3\xA9 \xFF\x80",
                               std::string(bytes.substr(0, 64))};
  for (const std::string& text : texts) {
    for (bool bos : {false, true}) {
      auto ids = (*tok)->Encode(text, bos);
      if (!ids.ok()) std::abort();
      for (int id : *ids) {
        if (id < 0 || id >= (*tok)->vocab_size()) std::abort();
      }
      if (!(*tok)->Decode(*ids).ok()) std::abort();
      for (int id : *ids) (void)(*tok)->Piece(id);
    }
  }
  return 0;
}
