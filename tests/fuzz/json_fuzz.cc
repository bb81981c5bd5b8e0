// libFuzzer target for the JSON parser and writer (build and run: tools/fuzz.sh json_fuzz).
// Invariants: no crash; a parsed document serializes to text that parses to the same
// serialization; any byte string survives JsonString -> Parse when it is valid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/io/json.h"
#include "core/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  json::ParseOptions options;
  options.max_depth = 64;
  absl::StatusOr<json::Value> v = json::Parse(text, options);
  if (v.ok()) {
    const std::string once = json::Serialize(*v);
    absl::StatusOr<json::Value> again = json::Parse(once, options);
    if (!again.ok() || json::Serialize(*again) != once) std::abort();
    (void)json::Serialize(*v, 2);
  }
  // Escaping: valid UTF-8 round-trips exactly.
  bool valid = true;
  for (size_t i = 0; i < text.size();) {
    const int n = Utf8SequenceLength(text.substr(i));
    if (n == 0) {
      valid = false;
      break;
    }
    i += n;
  }
  absl::StatusOr<json::Value> s = json::Parse(json::JsonString(text));
  if (!s.ok()) std::abort();  // the escaper's output is always valid JSON
  if (valid && s->string_value() != text) std::abort();
  return 0;
}
