// libFuzzer target for the pickle reader (tools/fuzz.sh pickle_fuzz). Invariants: no crash,
// no unbounded recursion; a parsed document can be walked and printed; a global outside the
// allowlist is never accepted.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "core/io/pickle.h"

namespace {

using memlens::pickle::Kind;
using memlens::pickle::Value;

// Walks the tree depth-first (each shared value once), checking the node invariants.
void Walk(const Value& v, int depth, int max_depth, absl::flat_hash_set<const Value*>* seen) {
  if (depth > max_depth + 1) std::abort();
  if (!seen->insert(&v).second) return;
  switch (v.kind) {
    case Kind::kCall:
      if (v.items.size() != 2 || v.callable() == nullptr || v.args() == nullptr) std::abort();
      break;
    case Kind::kPersistentId:
      if (v.items.size() != 1) std::abort();
      break;
    case Kind::kGlobal: {
      bool allowed = false;
      for (const std::string& g : memlens::pickle::TorchGlobals()) {
        if (g == v.module + "." + v.name) allowed = true;
      }
      if (!allowed) std::abort();
      break;
    }
    default:
      break;
  }
  for (const Value* item : v.items) {
    if (item == nullptr) std::abort();
    Walk(*item, depth + 1, max_depth, seen);
  }
  for (const auto& [k, val] : v.entries) {
    if (k == nullptr || val == nullptr) std::abort();
    Walk(*k, depth + 1, max_depth, seen);
    Walk(*val, depth + 1, max_depth, seen);
  }
  if (v.state != nullptr) Walk(*v.state, depth + 1, max_depth, seen);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  pickle::Options options;
  options.source_name = "fuzz.pkl";
  options.max_depth = 50;
  absl::StatusOr<pickle::Document> doc = pickle::Parse(absl::MakeConstSpan(data, size), options);
  if (!doc.ok()) {
    if (doc.status().message().find("fuzz.pkl") == absl::string_view::npos) std::abort();
    return 0;
  }
  absl::flat_hash_set<const Value*> seen;
  Walk(doc->root(), 0, options.max_depth, &seen);
  // What error messages print (torch_checkpoint uses depth 3): must stay small and fast.
  for (int depth : {3, 8}) {
    if (pickle::DebugString(doc->root(), depth).size() > 64 * size + 4096) std::abort();
  }
  (void)doc->root().Find("x");
  return 0;
}
