// libFuzzer target for the HuggingFace tokenizer.json loader (tools/fuzz.sh
// tokenizer_json_fuzz): arbitrary JSON must load or fail cleanly, and a loaded tokenizer must
// encode and decode without crashing.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/io/json.h"
#include "core/tokenizer/gpt2_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<json::Value> doc = json::Parse(text);
  if (!doc.ok()) return 0;
  auto tok = HfTokenizerFromJson(*doc, "fuzz.json");
  if (!tok.ok()) return 0;
  for (const char* sample : {"Hello world 123", "caf\xC3\xA9\xFF", "<|endoftext|> x"}) {
    auto ids = (*tok)->Encode(sample, false);
    if (!ids.ok()) continue;  // e.g. NFC not implemented for this text
    if (!(*tok)->Decode(*ids).ok()) std::abort();
  }
  return 0;
}
