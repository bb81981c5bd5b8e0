#include "core/analysis/path_corrected.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

// norm_e(h_j) for j < T: [T, D] with the frozen ln1 scale of `layer`.
absl::StatusOr<Tensor> NormalizeWithFrozenScale(const Model& model, const ActivationStore& clean,
                                                int layer, const Tensor& h, int64_t T) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model;
  absl::StatusOr<const Tensor*> scale = clean.Get(absl::StrCat("blocks.", layer, ".ln1.hook_scale"));
  if (!scale.ok()) return scale.status();
  if ((*scale)->dim(0) < T || h.dim(0) < T) {
    return absl::InvalidArgumentError(absl::StrCat(
        "path-corrected DLA: the writer's output has ", h.dim(0), " positions and blocks.",
        layer, ".ln1.hook_scale ", (*scale)->dim(0), ", need ", T));
  }
  const Tensor& w = model.weights.layers[layer].ln1_w;
  Tensor n({T, D});
  for (int64_t j = 0; j < T; ++j) {
    const float* x = h.row(j);
    double mean = 0;
    if (c.norm == NormKind::kLayerNorm) {
      for (int64_t d = 0; d < D; ++d) mean += x[d];
      mean /= D;
    }
    const double s = (*scale)->data[j];
    for (int64_t d = 0; d < D; ++d) {
      n.data[j * D + d] = static_cast<float>((x[d] - mean) / s * w.data[d]);
    }
  }
  return n;
}

// e's output from values vals [T, kv_dim] at query i: sum_j A[e,i,j] vals[j, g] @ W_O[e].
void HeadOutput(const Model& model, const Tensor& pattern, const Tensor& vals, int layer,
                int head, int64_t i, std::vector<double>& z, std::vector<float>& out) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, dh = c.d_head, KV = c.kv_dim(), Tp = pattern.dim(1);
  const int64_t g = head / (c.n_heads / c.n_kv_heads);
  z.assign(dh, 0.0);
  const float* a = pattern.ptr() + (head * Tp + i) * Tp;
  for (int64_t j = 0; j <= i; ++j) {
    if (a[j] == 0) continue;
    const float* v = vals.ptr() + j * KV + g * dh;
    for (int64_t e = 0; e < dh; ++e) z[e] += static_cast<double>(a[j]) * v[e];
  }
  const float* W_O = model.weights.layers[layer].W_O.ptr() + head * dh * D;
  out.assign(D, 0.0f);
  for (int64_t d = 0; d < D; ++d) {
    double acc = 0;
    for (int64_t e = 0; e < dh; ++e) acc += z[e] * W_O[e * D + d];
    out[d] = static_cast<float>(acc);
  }
}

}  // namespace

std::vector<std::string> PathCorrectedHooks(const ModelConfig& config, const Node& writer) {
  std::vector<std::string> hooks;
  for (int l = 0; l < config.n_layers; ++l) {
    if (2 * l > writer.WriteStage()) {
      hooks.push_back(absl::StrCat("blocks.", l, ".ln1.hook_scale"));
      hooks.push_back(absl::StrCat("blocks.", l, ".attn.hook_pattern"));
    }
  }
  return hooks;
}

absl::StatusOr<PathCorrectedDla> ComputePathCorrectedDla(
    const Model& model, const ActivationStore& clean, const Node& writer,
    const Tensor& writer_out, absl::Span<const int64_t> positions, const PositionDla& dla,
    ThreadPool& pool) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, KV = c.kv_dim();
  PathCorrectedDla r;
  int64_t T = 0;
  for (int64_t p : positions) {
    if (p < 0 || p >= writer_out.dim(0)) {
      return absl::OutOfRangeError(absl::StrCat("path-corrected DLA: position ", p,
                                                " is outside the prompt"));
    }
    T = std::max(T, p + 1);
  }
  r.dla.resize(positions.size());
  r.via_heads.assign(positions.size(), {});
  for (size_t k = 0; k < positions.size(); ++k) {
    r.dla[k] = dla(positions[k], writer_out.row(positions[k]));
  }
  std::vector<double> z;
  std::vector<float> out;
  for (int l = 0; l < c.n_layers && T > 0; ++l) {
    if (2 * l <= writer.WriteStage()) continue;
    absl::StatusOr<Tensor> n = NormalizeWithFrozenScale(model, clean, l, writer_out, T);
    if (!n.ok()) return n.status();
    Tensor vals({T, KV});
    const Tensor& W_V = model.weights.layers[l].W_V;
    // vals = n @ W_V, rows in parallel (plain loops: plugins link no core kernels).
    pool.Run(static_cast<size_t>(T), [&](size_t j, int) {
      float* out = vals.ptr() + j * KV;
      std::fill(out, out + KV, 0.0f);
      const float* x = n->ptr() + j * D;
      for (int64_t d = 0; d < D; ++d) {
        const float xd = x[d];
        if (xd == 0) continue;
        const float* w = W_V.ptr() + d * KV;
        for (int64_t o = 0; o < KV; ++o) out[o] += xd * w[o];
      }
    });
    absl::StatusOr<const Tensor*> pattern =
        clean.Get(absl::StrCat("blocks.", l, ".attn.hook_pattern"));
    if (!pattern.ok()) return pattern.status();
    for (int h = 0; h < c.n_heads; ++h) {
      r.later_heads.push_back({NodeKind::kHead, l, h, absl::StrCat("L", l, "H", h)});
      for (size_t k = 0; k < positions.size(); ++k) {
        HeadOutput(model, **pattern, vals, l, h, positions[k], z, out);
        r.via_heads[k].push_back(dla(positions[k], out.data()));
      }
    }
  }
  r.corrected = r.dla;
  for (size_t k = 0; k < positions.size(); ++k) {
    for (double v : r.via_heads[k]) r.corrected[k] += v;
  }
  return r;
}

absl::StatusOr<std::vector<float>> ValuePathContribution(const Model& model,
                                                         const ActivationStore& clean,
                                                         int layer, int head,
                                                         const Tensor& writer_out,
                                                         int64_t position) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, KV = c.kv_dim(), T = position + 1;
  absl::StatusOr<Tensor> n = NormalizeWithFrozenScale(model, clean, layer, writer_out, T);
  if (!n.ok()) return n.status();
  Tensor vals({T, KV});
  const Tensor& W_V = model.weights.layers[layer].W_V;
  for (int64_t j = 0; j < T; ++j) {
    for (int64_t o = 0; o < KV; ++o) {
      double acc = 0;
      for (int64_t d = 0; d < D; ++d) acc += static_cast<double>(n->data[j * D + d]) * W_V.data[d * KV + o];
      vals.data[j * KV + o] = static_cast<float>(acc);
    }
  }
  absl::StatusOr<const Tensor*> pattern =
      clean.Get(absl::StrCat("blocks.", layer, ".attn.hook_pattern"));
  if (!pattern.ok()) return pattern.status();
  std::vector<double> z;
  std::vector<float> out;
  HeadOutput(model, **pattern, vals, layer, head, position, z, out);
  return out;
}

}  // namespace memlens
