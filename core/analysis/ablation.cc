#include "core/analysis/ablation.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace memlens {

absl::StatusOr<AblationMode> ParseAblationMode(absl::string_view name) {
  if (name == "resample") return AblationMode::kResample;
  if (name == "zero") return AblationMode::kZero;
  if (name == "mean") return AblationMode::kMean;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ablation '", name, "' (expected resample, zero or mean)"));
}

const char* AblationModeName(AblationMode mode) {
  switch (mode) {
    case AblationMode::kResample:
      return "resample";
    case AblationMode::kZero:
      return "zero";
    case AblationMode::kMean:
      return "mean";
  }
  return "?";
}

size_t PickDonor(uint64_t seed, size_t prompt, size_t n) {
  if (n <= 1) return 0;
  // SplitMix64 of (seed, prompt).
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (prompt + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  size_t d = z % (n - 1);
  return d >= prompt ? d + 1 : d;
}

absl::Status AddAblation(const Model& model, const Node& node, const Tensor& replacement,
                         RunOptions& options) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, H = c.n_heads;
  if (replacement.rank() != 2 || replacement.dim(1) != D) {
    return absl::InvalidArgumentError(absl::StrCat("ablation of ", node.name,
                                                   ": replacement has shape ",
                                                   ShapeString(replacement.shape), ", need [T, ",
                                                   D, "]"));
  }
  const Tensor* rep = &replacement;
  switch (node.kind) {
    case NodeKind::kEmbed:
    case NodeKind::kPosEmbed:
    case NodeKind::kMlp: {
      std::string hook = node.kind == NodeKind::kEmbed      ? "hook_embed"
                         : node.kind == NodeKind::kPosEmbed ? "hook_pos_embed"
                                                            : absl::StrCat("blocks.", node.layer,
                                                                           ".hook_mlp_out");
      options.interventions[hook] = [rep, D](Tensor& t) {
        const int64_t n = std::min(t.dim(0), rep->dim(0));
        std::copy(rep->ptr(), rep->ptr() + n * D, t.ptr());
      };
      break;
    }
    case NodeKind::kHead: {
      const int h = node.head;
      options.interventions[absl::StrCat("blocks.", node.layer, ".attn.hook_result")] =
          [rep, D, H, h](Tensor& t) {
            const int64_t n = std::min(t.dim(0), rep->dim(0));
            for (int64_t i = 0; i < n; ++i) {
              std::copy(rep->row(i), rep->row(i) + D, t.ptr() + (i * H + h) * D);
            }
          };
      break;
    }
    case NodeKind::kAttnBias: {
      const Tensor* b = &model.weights.layers[node.layer].b_O;
      options.interventions[absl::StrCat("blocks.", node.layer, ".hook_attn_out")] =
          [rep, b, D](Tensor& t) {
            const int64_t n = std::min(t.dim(0), rep->dim(0));
            for (int64_t i = 0; i < n; ++i) {
              for (int64_t d = 0; d < D; ++d) t.data[i * D + d] += rep->data[i * D + d] - b->data[d];
            }
          };
      break;
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> TotalEffectHooks(const ModelConfig& config) {
  std::vector<std::string> hooks = NodeHooks(config);
  for (int l = 0; l < config.n_layers; ++l) {
    hooks.push_back(absl::StrCat("blocks.", l, ".hook_resid_pre"));
    if (!config.parallel_residual) hooks.push_back(absl::StrCat("blocks.", l, ".hook_resid_mid"));
  }
  hooks.push_back(absl::StrCat("blocks.", config.n_layers - 1, ".hook_resid_post"));
  hooks.push_back("ln_final.hook_scale");
  return hooks;
}

namespace {

// Dla(final residual, final scale) at each position: the logit (difference) minus its bias
// terms. `final_resid`: the last layer's hook_resid_post, or null to read it from `store`.
absl::StatusOr<std::vector<double>> FinalDla(const ActivationStore& store, const ModelConfig& c,
                                             const Tensor* final_resid,
                                             absl::Span<const int64_t> positions,
                                             absl::Span<const DlaDirection> dirs) {
  if (final_resid == nullptr) {
    absl::StatusOr<const Tensor*> x =
        store.Get(absl::StrCat("blocks.", c.n_layers - 1, ".hook_resid_post"));
    if (!x.ok()) return x.status();
    final_resid = *x;
  }
  absl::StatusOr<const Tensor*> s = store.Get("ln_final.hook_scale");
  if (!s.ok()) return s.status();
  std::vector<double> out(positions.size());
  for (size_t k = 0; k < positions.size(); ++k) {
    const int64_t i = positions[k];
    if (i < 0 || i >= final_resid->dim(0) || i >= (*s)->dim(0)) {
      return absl::OutOfRangeError(absl::StrCat("total effect: position ", i,
                                                " is outside the prompt"));
    }
    out[k] = Dla(final_resid->row(i), (*s)->data[i], dirs[k]);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<double>> TotalEffect(const Transformer& tf,
                                                absl::Span<const int> tokens, const Node& node,
                                                const Tensor& replacement,
                                                const ActivationStore& clean,
                                                absl::Span<const int64_t> positions,
                                                absl::Span<const DlaDirection> dirs,
                                                RunResult& scratch) {
  if (positions.size() != dirs.size()) {
    return absl::InvalidArgumentError("TotalEffect: positions and dirs differ in length");
  }
  const ModelConfig& c = tf.model().config;
  const int64_t D = c.d_model;
  if (replacement.rank() != 2 || replacement.dim(1) != D) {
    return absl::InvalidArgumentError(absl::StrCat("ablation of ", node.name,
                                                   ": replacement has shape ",
                                                   ShapeString(replacement.shape), ", need [T, ",
                                                   D, "]"));
  }
  // The first residual point after the node writes, with the node's clean output swapped for
  // the replacement; the rerun starts there (nothing before it can change).
  RunOptions o;
  std::string point;
  switch (node.kind) {
    case NodeKind::kEmbed:
    case NodeKind::kPosEmbed:
      point = "blocks.0.hook_resid_pre";
      break;
    case NodeKind::kHead:
    case NodeKind::kAttnBias:
      if (!c.parallel_residual) {
        point = absl::StrCat("blocks.", node.layer, ".hook_resid_mid");
        o.start_layer = node.layer;
        o.start_at_mid = true;
        break;
      }
      // A parallel block's MLP does not read its attention: restart after the block.
      [[fallthrough]];
    case NodeKind::kMlp:
      point = node.layer + 1 < c.n_layers
                  ? absl::StrCat("blocks.", node.layer + 1, ".hook_resid_pre")
                  : absl::StrCat("blocks.", node.layer, ".hook_resid_post");
      o.start_layer = node.layer + 1;
      break;
  }
  absl::StatusOr<const Tensor*> clean_resid = clean.Get(point);
  if (!clean_resid.ok()) return clean_resid.status();
  absl::StatusOr<Tensor> clean_out = NodeOutputAll(clean, tf.model(), node);
  if (!clean_out.ok()) return clean_out.status();
  Tensor resid = **clean_resid;
  const int64_t rows = std::min({resid.dim(0), replacement.dim(0), clean_out->dim(0)});
  for (int64_t i = 0; i < rows * D; ++i) resid.data[i] += replacement.data[i] - clean_out->data[i];
  o.start_resid = &resid;
  o.logits = RunOptions::Logits::kNone;
  absl::StatusOr<HookFilter> cache = HookFilter::Parse(
      absl::StrCat("blocks.", c.n_layers - 1, ".hook_resid_post,ln_final.hook_scale"),
      AllHookNames(c));
  if (!cache.ok()) return cache.status();
  o.cache = *cache;
  if (absl::Status s = tf.RunInto(tokens, o, scratch); !s.ok()) return s;
  // Restarting after the last MLP, the start residual is the final one.
  absl::StatusOr<std::vector<double>> ablated = FinalDla(
      scratch.store, c, o.start_layer == c.n_layers ? &resid : nullptr, positions, dirs);
  if (!ablated.ok()) return ablated.status();
  absl::StatusOr<std::vector<double>> base = FinalDla(clean, c, nullptr, positions, dirs);
  if (!base.ok()) return base.status();
  for (size_t k = 0; k < positions.size(); ++k) (*base)[k] -= (*ablated)[k];
  return base;
}

NodeMean::NodeMean(int64_t n_ctx, int64_t d_model)
    : D_(d_model), sum_(n_ctx * d_model, 0.0), count_(n_ctx, 0) {}

void NodeMean::Add(const Tensor& output) {
  const int64_t T = std::min<int64_t>(output.dim(0), count_.size());
  for (int64_t t = 0; t < T; ++t) {
    ++count_[t];
    for (int64_t d = 0; d < D_; ++d) sum_[t * D_ + d] += output.data[t * D_ + d];
  }
}

Tensor NodeMean::Mean(int64_t T) const {
  Tensor m({T, D_});
  for (int64_t t = 0; t < T && t < static_cast<int64_t>(count_.size()); ++t) {
    if (count_[t] == 0) continue;
    for (int64_t d = 0; d < D_; ++d) {
      m.data[t * D_ + d] = static_cast<float>(sum_[t * D_ + d] / count_[t]);
    }
  }
  return m;
}

absl::StatusOr<ActivationStore> RunDonor(const Transformer& tf, absl::Span<const int> tokens) {
  const ModelConfig& c = tf.model().config;
  RunOptions o;
  o.logits = RunOptions::Logits::kNone;
  absl::StatusOr<HookFilter> f =
      HookFilter::Parse(absl::StrJoin(NodeHooks(c), ","), AllHookNames(c));
  if (!f.ok()) return f.status();
  o.cache = *f;
  absl::StatusOr<RunResult> r = tf.Run(tokens, o);
  if (!r.ok()) return r.status();
  return std::move(r->store);
}

absl::StatusOr<Tensor> AblationReplacement(AblationMode mode, const NodeMean* mean,
                                           const ActivationStore& donor, const Model& model,
                                           const Node& node, int64_t T) {
  switch (mode) {
    case AblationMode::kMean:
      if (mean == nullptr) return absl::InternalError("mean ablation without a running mean");
      return mean->Mean(T);
    case AblationMode::kResample:
      return NodeOutputAll(donor, model, node);
    case AblationMode::kZero:
      break;
  }
  return Tensor({T, static_cast<int64_t>(model.config.d_model)});
}

}  // namespace memlens
