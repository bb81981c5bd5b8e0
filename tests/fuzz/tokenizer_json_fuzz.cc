// libFuzzer target for the HuggingFace tokenizer.json loaders, byte-level and SentencePiece-style
// BPE, dispatched as LoadTokenizer does (tools/fuzz.sh tokenizer_json_fuzz): arbitrary JSON
// must load or fail cleanly, and a loaded tokenizer must encode and decode without crashing.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/io/json.h"
#include "core/tokenizer/gpt2_tokenizer.h"
#include "core/tokenizer/sentencepiece_bpe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<json::Value> doc = json::Parse(text);
  if (!doc.ok()) return 0;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok;
  if (IsSentencePieceBpeJson(*doc)) {
    auto sp = SentencePieceBpeTokenizer::FromJson(*doc, "fuzz.json");
    if (!sp.ok()) return 0;
    tok = std::unique_ptr<Tokenizer>(*std::move(sp));
  } else {
    auto bpe = HfTokenizerFromJson(*doc, "fuzz.json");
    if (!bpe.ok()) return 0;
    tok = std::unique_ptr<Tokenizer>(*std::move(bpe));
  }
  for (const char* sample :
       {"Hello world 123", "caf\xC3\xA9\xFF", "<|endoftext|> x", " <s>a\xE6\x97 </s>"}) {
    auto ids = (*tok)->Encode(sample, false);
    if (!ids.ok()) continue;  // e.g. NFC not implemented for this text
    if (!(*tok)->Decode(*ids).ok()) std::abort();
  }
  return 0;
}
