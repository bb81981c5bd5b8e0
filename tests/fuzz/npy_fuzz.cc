// libFuzzer target for the .npy reader (tools/fuzz.sh npy_fuzz). Invariants: no crash; a
// decoded tensor has as many elements as its shape says, and re-encoding it gives bytes that
// decode to the same tensor.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/io/npy.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  absl::StatusOr<Tensor> t = DecodeNpy(fuzz::AsText(data, size), "fuzz.npy");
  if (!t.ok()) {
    if (t.status().message().find("fuzz.npy") == absl::string_view::npos) std::abort();
    return 0;
  }
  if (t->size() != Tensor::NumElements(t->shape)) std::abort();
  absl::StatusOr<std::string> again = EncodeNpy(*t);
  if (!again.ok()) std::abort();
  absl::StatusOr<Tensor> back = DecodeNpy(*again, "re-encoded");
  if (!back.ok() || back->shape != t->shape || back->size() != t->size()) std::abort();
  if (t->size() > 0 &&
      std::memcmp(back->data.data(), t->data.data(), t->size() * sizeof(float)) != 0) {
    std::abort();  // bit-exact, NaN payloads included
  }
  return 0;
}
