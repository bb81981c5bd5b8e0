#include "core/store/activation_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"

namespace memlens {

bool GlobMatch(absl::string_view p, absl::string_view t) {
  // Iterative wildcard match with single backtrack point: O(|p| * |t|) worst case.
  size_t pi = 0, ti = 0, star = absl::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != absl::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

HookFilter HookFilter::All() {
  HookFilter f;
  f.patterns_.push_back("*");
  return f;
}

absl::StatusOr<HookFilter> HookFilter::Parse(absl::string_view patterns,
                                             const std::vector<std::string>& known_hooks) {
  HookFilter f;
  for (absl::string_view raw : absl::StrSplit(patterns, ',', absl::SkipWhitespace())) {
    std::string pattern(absl::StripAsciiWhitespace(raw));
    bool any = false;
    for (const std::string& h : known_hooks) {
      if (GlobMatch(pattern, h)) {
        any = true;
        break;
      }
    }
    if (!any) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hook pattern '", pattern,
          "' matches no hook of this model (try 'memlens hooks' to list them; names follow "
          "TransformerLens, e.g. blocks.0.attn.hook_z)"));
    }
    f.patterns_.push_back(std::move(pattern));
  }
  return f;
}

bool HookFilter::Matches(absl::string_view hook) const {
  for (const std::string& p : patterns_) {
    if (GlobMatch(p, hook)) return true;
  }
  return false;
}

absl::StatusOr<const Tensor*> ActivationStore::Get(absl::string_view hook) const {
  auto it = tensors_.find(std::string(hook));
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat("hook '", hook, "' was not cached in this run"));
  }
  return &it->second;
}

std::vector<std::string> ActivationStore::Names() const {
  std::vector<std::string> names;
  for (const auto& [k, v] : tensors_) names.push_back(k);
  return names;
}

void ActivationStore::RetainOnly(const std::vector<std::string>& keep) {
  for (auto it = tensors_.begin(); it != tensors_.end();) {
    if (std::binary_search(keep.begin(), keep.end(), it->first)) {
      ++it;
    } else {
      it = tensors_.erase(it);
    }
  }
}

size_t ActivationStore::Bytes() const {
  size_t b = 0;
  for (const auto& [k, v] : tensors_) b += v.size() * sizeof(float);
  return b;
}

}  // namespace memlens
