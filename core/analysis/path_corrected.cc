#include "core/analysis/path_corrected.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/ops/ops.h"

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

std::vector<std::string> PathCorrectedHooks(const ModelConfig& config) {
  std::vector<std::string> hooks = {"ln_final.hook_scale"};
  for (int l = 0; l < config.n_layers; ++l) {
    hooks.push_back(absl::StrCat("blocks.", l, ".ln1.hook_scale"));
    hooks.push_back(absl::StrCat("blocks.", l, ".attn.hook_pattern"));
  }
  return hooks;
}

namespace {

// A clean per-position hook ([T, ...]) covering at least `rows` positions.
absl::StatusOr<const Tensor*> GetRows(const ActivationStore& clean, const std::string& name,
                                      int64_t rows) {
  absl::StatusOr<const Tensor*> t = clean.Get(name);
  if (!t.ok()) return t.status();
  if ((*t)->rank() < 1 || (*t)->dim(0) < rows) {
    return absl::InvalidArgumentError(absl::StrCat("path-corrected DLA: ", name, " has shape ",
                                                   ShapeString((*t)->shape), ", need ", rows,
                                                   " positions"));
  }
  return t;
}

}  // namespace

absl::StatusOr<PathCorrector> PathCorrector::Create(const Model& model,
                                                    const ActivationStore& clean,
                                                    std::vector<int64_t> positions,
                                                    std::vector<DlaDirection> dirs,
                                                    ThreadPool& pool) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, HD = static_cast<int64_t>(c.n_heads) * c.d_head;
  if (positions.size() != dirs.size()) {
    return absl::InvalidArgumentError("path-corrected DLA: positions and dirs differ in length");
  }
  PathCorrector pc(model, clean, pool);
  for (int64_t i : positions) {
    if (i < 0) {
      return absl::OutOfRangeError(absl::StrCat("path-corrected DLA: position ", i,
                                                " is outside the prompt"));
    }
    pc.T_ = std::max(pc.T_, i + 1);
  }
  absl::StatusOr<const Tensor*> fscale = GetRows(clean, "ln_final.hook_scale", pc.T_);
  if (!fscale.ok()) return fscale.status();
  const int64_t P = positions.size();
  // Rows u_p = w_lnf * u, centered under LayerNorm (DLA(x) = x . (u - mean u) / s), over s.
  Tensor directions({P, D});
  for (int64_t p = 0; p < P; ++p) {
    const DlaDirection& dir = dirs[p];
    if (static_cast<int64_t>(dir.wu.size()) != D) {
      return absl::InvalidArgumentError("path-corrected DLA: a direction has the wrong size");
    }
    double mean = 0;
    if (dir.center) {
      for (double v : dir.wu) mean += v;
      mean /= D;
    }
    const float s = (*fscale)->data[positions[p]];
    pc.final_scale_.push_back(s);
    for (int64_t d = 0; d < D; ++d) {
      directions.data[p * D + d] = static_cast<float>((dir.wu[d] - mean) / s);
    }
  }
  // readout_[l] = directions @ W_O^T ([D, H * d_head], W_O being [H * d_head, D]).
  Tensor w_o_t({D, HD});
  for (int l = 0; l < c.n_layers; ++l) {
    const Tensor& W_O = model.weights.layers[l].W_O;
    for (int64_t r = 0; r < HD; ++r) {
      for (int64_t d = 0; d < D; ++d) w_o_t.data[d * HD + r] = W_O.data[r * D + d];
    }
    Tensor readout({P, HD});
    if (P > 0) ops::MatMul(directions.ptr(), w_o_t.ptr(), nullptr, readout.ptr(), P, D, HD, pool);
    pc.readout_.push_back(std::move(readout));
  }
  pc.positions_ = std::move(positions);
  pc.dirs_ = std::move(dirs);
  return pc;
}

absl::StatusOr<PathCorrectedDla> PathCorrector::Compute(const Node& writer,
                                                        const Tensor& writer_out) const {
  const Model& model = *model_;
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, KV = c.kv_dim(), H = c.n_heads, dh = c.d_head, T = T_;
  const size_t P = positions_.size();
  if (writer_out.rank() != 2 || writer_out.dim(0) < T || writer_out.dim(1) != D) {
    return absl::InvalidArgumentError(absl::StrCat(
        "path-corrected DLA of ", writer.name, ": output has shape ",
        ShapeString(writer_out.shape), ", need [>= ", T, ", ", D, "]"));
  }
  PathCorrectedDla r;
  r.dla.resize(P);
  r.via_heads.assign(P, {});
  for (size_t p = 0; p < P; ++p) {
    r.dla[p] = Dla(writer_out.row(positions_[p]), final_scale_[p], dirs_[p]);
  }
  Tensor normed({T, D}), vals({T, KV}), z({T, H * dh}), block;
  for (int l = 0; l < c.n_layers && T > 0; ++l) {
    if (2 * l <= writer.WriteStage()) continue;
    const std::string prefix = absl::StrCat("blocks.", l, ".");
    absl::StatusOr<const Tensor*> scale = GetRows(*clean_, prefix + "ln1.hook_scale", T);
    if (!scale.ok()) return scale.status();
    absl::StatusOr<const Tensor*> pattern = clean_->Get(prefix + "attn.hook_pattern");
    if (!pattern.ok()) return pattern.status();
    const int64_t Tp = (*pattern)->rank() == 3 ? (*pattern)->dim(1) : 0;
    if (Tp < T || (*pattern)->dim(0) != H || (*pattern)->dim(2) != Tp) {
      return absl::InvalidArgumentError(absl::StrCat(
          "path-corrected DLA: ", prefix, "attn.hook_pattern has shape ",
          ShapeString((*pattern)->shape), ", need [", H, ", >= ", T, ", >= ", T, "]"));
    }
    // The value input of every later head, from the writer alone: norm_l(h) @ W_V.
    const LayerWeights& w = model.weights.layers[l];
    if (c.norm == NormKind::kLayerNorm) {
      ops::LayerNormApply(writer_out.ptr(), (*scale)->ptr(), w.ln1_w.ptr(), nullptr, T, D,
                          normed.ptr());
    } else {
      ops::RMSNormApply(writer_out.ptr(), (*scale)->ptr(), w.ln1_w.ptr(), T, D, normed.ptr());
    }
    ops::MatMul(normed.ptr(), w.W_V.ptr(), nullptr, vals.ptr(), T, D, KV, *pool_);
    // Mixed by the frozen clean pattern (its top-left [T, T] block when T < the prompt).
    const float* a = (*pattern)->ptr();
    if (Tp != T) {
      block = Tensor({H, T, T});
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t i = 0; i < T; ++i) {
          std::copy(a + (h * Tp + i) * Tp, a + (h * Tp + i) * Tp + T, block.ptr() + (h * T + i) * T);
        }
      }
      a = block.ptr();
    }
    ops::AttentionMix(a, vals.ptr(), T, H, c.n_kv_heads, dh, c.window(l), z.ptr(), *pool_);
    // DLA(c_e(i)) = z_e(i) . W_O[e] (u_i - mean u_i) / s_i.
    const Tensor& readout = readout_[l];
    for (int64_t h = 0; h < H; ++h) {
      r.later_heads.push_back({NodeKind::kHead, l, static_cast<int>(h), absl::StrCat("L", l, "H", h)});
      for (size_t p = 0; p < P; ++p) {
        const float* zi = z.ptr() + positions_[p] * H * dh + h * dh;
        const float* ro = readout.ptr() + p * H * dh + h * dh;
        double acc = 0;
        for (int64_t e = 0; e < dh; ++e) acc += static_cast<double>(zi[e]) * ro[e];
        r.via_heads[p].push_back(acc);
      }
    }
  }
  r.corrected = r.dla;
  for (size_t p = 0; p < P; ++p) {
    for (double v : r.via_heads[p]) r.corrected[p] += v;
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
