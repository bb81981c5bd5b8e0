// The activation store: what a forward pass recorded, by TransformerLens hook name.
//
// Plugins read it; the forward pass writes only the hooks a HookFilter selects, so hooks
// nobody asked for cost nothing (no copy, no allocation).
#ifndef MEMLENS_CORE_STORE_ACTIVATION_STORE_H_
#define MEMLENS_CORE_STORE_ACTIVATION_STORE_H_

#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace memlens {

// Selects hook names by exact name or glob ('*' matches any run of characters, '?' one).
class HookFilter {
 public:
  HookFilter() = default;  // matches nothing
  static HookFilter All();
  // `patterns` is comma-separated. Every pattern must match at least one of `known_hooks`,
  // otherwise the error names the pattern (a typo must not silently cache nothing).
  static absl::StatusOr<HookFilter> Parse(absl::string_view patterns,
                                          const std::vector<std::string>& known_hooks);
  bool Matches(absl::string_view hook) const;
  bool empty() const { return patterns_.empty(); }
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
};

bool GlobMatch(absl::string_view pattern, absl::string_view text);

class ActivationStore {
 public:
  void Put(const std::string& hook, Tensor value) { tensors_[hook] = std::move(value); }
  // Copies `value` in, reusing the memory of a tensor already stored under `hook`.
  void PutCopy(const std::string& hook, const Tensor& value) { tensors_[hook] = value; }
  // Drops every tensor whose name is not in `keep` (sorted).
  void RetainOnly(const std::vector<std::string>& keep);
  bool Has(absl::string_view hook) const { return tensors_.count(std::string(hook)) > 0; }
  // Error names the hook and says it was not cached.
  absl::StatusOr<const Tensor*> Get(absl::string_view hook) const;
  // Names in insertion-independent (sorted) order.
  std::vector<std::string> Names() const;
  size_t Bytes() const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  void Clear() { tensors_.clear(); }

 private:
  std::map<std::string, Tensor> tensors_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_STORE_ACTIVATION_STORE_H_
