#include "core/model/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

int NextToken(absl::Span<const float> logits, double temperature, int top_k,
              std::mt19937_64& rng) {
  if (temperature <= 0) return std::max_element(logits.begin(), logits.end()) - logits.begin();
  const std::vector<double> p = Probabilities(logits, temperature);
  std::vector<int> ids(p.size());
  std::iota(ids.begin(), ids.end(), 0);
  if (top_k > 0 && top_k < static_cast<int>(ids.size())) {
    std::partial_sort(ids.begin(), ids.begin() + top_k, ids.end(),
                      [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    ids.resize(top_k);
  }
  double total = 0;
  for (int id : ids) total += p[id];
  double r = std::uniform_real_distribution<double>(0.0, total)(rng);
  for (int id : ids) {
    if ((r -= p[id]) <= 0) return id;
  }
  return ids.back();
}

absl::Status CheckFinite(const Tensor& logits) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits.data[i])) {
      return absl::InternalError(absl::StrCat("the model produced a non-finite logit (",
                                              logits.data[i], ") for token id ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<double> Probabilities(absl::Span<const float> logits, double temperature) {
  const double t = temperature > 0 ? temperature : 1.0;
  const float max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logits[i] - max) / t);
  for (double& x : p) x /= sum;
  return p;
}

absl::StatusOr<Generation> Generate(const Transformer& transformer, absl::Span<const int> prompt,
                                    const SamplingOptions& options) {
  if (options.max_new_tokens < 0 || options.top_k < 0 || !(options.temperature >= 0) ||
      std::isinf(options.temperature)) {
    return absl::InvalidArgumentError(
        "generation needs max_new_tokens >= 0, top_k >= 0 and a finite temperature >= 0");
  }
  RunOptions run;
  run.logits = RunOptions::Logits::kLastPosition;
  auto first = transformer.Run(prompt, run);
  if (!first.ok()) return first.status();
  if (auto s = CheckFinite(first->logits); !s.ok()) return s;
  Generation g;
  g.next_logits = std::move(first->logits);
  std::mt19937_64 rng(options.seed);
  std::vector<int> sequence(prompt.begin(), prompt.end());
  Tensor logits = g.next_logits;
  const int n_ctx = transformer.model().config.n_ctx;
  for (int step = 0; step < options.max_new_tokens; ++step) {
    const int id = NextToken(logits.data, options.temperature, options.top_k, rng);
    g.tokens.push_back(id);
    sequence.push_back(id);
    if (step + 1 == options.max_new_tokens) break;
    if (static_cast<int>(sequence.size()) >= n_ctx) {
      g.context_full = true;
      break;
    }
    auto r = transformer.Run(sequence, run);
    if (!r.ok()) return r.status();
    if (auto s = CheckFinite(r->logits); !s.ok()) return s;
    logits = std::move(r->logits);
  }
  return g;
}

}  // namespace memlens
