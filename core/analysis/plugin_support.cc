#include "core/analysis/plugin_support.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace memlens {

absl::StatusOr<PositionSpec> ParsePositionSpec(absl::string_view spec, absl::string_view flag) {
  PositionSpec out;
  spec = absl::StripAsciiWhitespace(spec);
  if (spec.empty() || spec == "all") return out;
  if (spec == "last") {
    out.kind = PositionSpec::Kind::kLast;
    return out;
  }
  out.kind = PositionSpec::Kind::kList;
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, "=", spec, ": '", part,
                       "' is not a position (expected all, last or integers like 1,5,-1)"));
    }
    out.list.push_back(v);
  }
  return out;
}

std::vector<int64_t> SelectPositions(const PositionSpec& spec, int64_t T,
                                     absl::Span<const int> targets, bool include_bos) {
  auto has_target = [&](int64_t i) {
    return i >= 0 && i < T && (targets.empty() || targets[i] >= 0);
  };
  std::vector<int64_t> out;
  switch (spec.kind) {
    case PositionSpec::Kind::kAll:
      for (int64_t i = include_bos ? 0 : 1; i < T; ++i) {
        if (has_target(i)) out.push_back(i);
      }
      break;
    case PositionSpec::Kind::kLast:
      for (int64_t i = T - 1; i >= (include_bos ? 0 : 1); --i) {
        if (has_target(i)) {
          out.push_back(i);
          break;
        }
      }
      break;
    case PositionSpec::Kind::kList:
      for (int64_t p : spec.list) {
        const int64_t i = p < 0 ? T + p : p;
        if ((i > 0 || (i == 0 && include_bos)) && has_target(i)) out.push_back(i);
      }
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
      break;
  }
  return out;
}

absl::StatusOr<std::vector<int>> ParseNodeList(absl::string_view spec,
                                               const std::vector<Node>& nodes,
                                               absl::string_view flag,
                                               const std::vector<int>& fallback) {
  spec = absl::StripAsciiWhitespace(spec);
  if (spec.empty() || spec == "auto") return fallback;
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    absl::StatusOr<int> n = FindNode(nodes, absl::StripAsciiWhitespace(part));
    if (!n.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", n.status().message()));
    }
    if (std::find(out.begin(), out.end(), *n) == out.end()) out.push_back(*n);
  }
  return out;
}

std::vector<int> ComponentNodes(const std::vector<Node>& nodes) {
  std::vector<int> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].kind == NodeKind::kHead || nodes[i].kind == NodeKind::kMlp) {
      out.push_back(static_cast<int>(i));
    }
  }
  return out;
}

namespace {
uint64_t SplitMix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

uint64_t MixSeed(uint64_t seed, absl::string_view salt) {
  uint64_t h = SplitMix(seed);
  for (char c : salt) h = SplitMix(h ^ static_cast<unsigned char>(c));
  return h;
}

}  // namespace memlens
