#include "core/model/processing.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace memlens {
namespace {

// Sums and means accumulate in double: d_vocab is up to 4M, and float accumulation over that
// many terms would lose the mean's low bits that centering is meant to remove.

bool AllZero(const Tensor& t) {
  return std::all_of(t.data.begin(), t.data.end(), [](float x) { return x == 0.0f; });
}

Tensor Filled(int64_t n, float value) {
  Tensor t({n});
  std::fill(t.data.begin(), t.data.end(), value);
  return t;
}

// Folds a norm (w [D], b [D] or empty) into a reader W [D, N] with bias bias [N] (or empty:
// then b must be all zero, checked by the caller), then optionally centers W's columns.
void FoldInto(const Tensor& w, const Tensor& b, Tensor& W, Tensor* bias, bool center) {
  const int64_t D = W.dim(0), N = W.dim(1);
  if (bias != nullptr && !bias->empty() && !b.empty()) {
    std::vector<double> acc(N, 0.0);
    for (int64_t d = 0; d < D; ++d) {
      const double bd = b.data[d];
      const float* row = W.row(d);
      for (int64_t n = 0; n < N; ++n) acc[n] += bd * row[n];
    }
    for (int64_t n = 0; n < N; ++n) bias->data[n] = static_cast<float>(bias->data[n] + acc[n]);
  }
  for (int64_t d = 0; d < D; ++d) {
    const float wd = w.data[d];
    float* row = W.row(d);
    for (int64_t n = 0; n < N; ++n) row[n] *= wd;
  }
  if (center) {
    std::vector<double> mean(N, 0.0);
    for (int64_t d = 0; d < D; ++d) {
      const float* row = W.row(d);
      for (int64_t n = 0; n < N; ++n) mean[n] += row[n];
    }
    for (int64_t n = 0; n < N; ++n) mean[n] /= static_cast<double>(D);
    for (int64_t d = 0; d < D; ++d) {
      float* row = W.row(d);
      for (int64_t n = 0; n < N; ++n) row[n] = static_cast<float>(row[n] - mean[n]);
    }
  }
}

// Subtracts from each row of a [R, C] tensor (or the single row of a [C] vector) its mean.
void CenterRows(Tensor& t) {
  if (t.empty()) return;
  const int64_t C = t.shape.back();
  const int64_t R = static_cast<int64_t>(t.data.size()) / C;
  for (int64_t r = 0; r < R; ++r) {
    float* row = t.data.data() + r * C;
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += row[c];
    const double mean = sum / static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) row[c] = static_cast<float>(row[c] - mean);
  }
}

}  // namespace

absl::Status ProcessWeights(Model* model, const ProcessingOptions& options,
                            std::vector<std::string>* notes) {
  ModelConfig& c = model->config;
  Weights& W = model->weights;
  if (!model->processing.empty() && model->processing != "none") {
    return absl::FailedPreconditionError(
        absl::StrCat(c.name, ": the weights are already processed (", model->processing, ")"));
  }
  if (absl::Status s = W.Validate(c); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(c.name, ": cannot process invalid weights: ", s.message()));
  }
  const bool ln = c.norm == NormKind::kLayerNorm;
  const bool gated = c.act == ActKind::kSwiGLU;
  std::vector<std::string> done, skipped, local_notes;

  // ---- Preconditions, checked before anything changes. ----
  // Norm biases fold into the readers' biases; a reader without one gets zeros first (below).
  bool need_qkv = false, need_mlp = false, need_unembed = false;
  if (options.fold_ln && ln) {
    for (size_t l = 0; l < W.layers.size(); ++l) {
      if (gated && !AllZero(W.layers[l].ln2_b)) {
        return absl::UnimplementedError(absl::StrCat(
            c.name, ": cannot fold blocks.", l, ".ln2.b: this LayerNorm model has a gated MLP, "
            "and W_gate has no bias to absorb ln2.b @ W_gate (run with fold_ln off)"));
      }
    }
    for (const LayerWeights& L : W.layers) {
      need_qkv = need_qkv || (!c.bias_qkv && !AllZero(L.ln1_b));
      need_mlp = need_mlp || (!c.bias_mlp && !AllZero(L.ln2_b));
    }
    need_unembed = !c.bias_unembed && !AllZero(W.ln_final_b);
  }

  // ---- fold_ln ----
  if (need_qkv || need_mlp || need_unembed) {
    std::vector<std::string> added;
    for (LayerWeights& L : W.layers) {
      if (need_qkv) {
        L.b_Q = Filled(c.q_dim(), 0);
        L.b_K = Filled(c.kv_dim(), 0);
        L.b_V = Filled(c.kv_dim(), 0);
      }
      if (need_mlp) {
        L.b_in = Filled(c.d_mlp, 0);
        L.b_out = Filled(c.d_model, 0);
      }
    }
    if (need_qkv) added.push_back("b_Q, b_K, b_V");
    if (need_mlp) added.push_back("b_in, b_out");
    if (need_unembed) {
      W.b_U = Filled(c.d_vocab, 0);
      added.push_back("b_U");
    }
    c.bias_qkv = c.bias_qkv || need_qkv;
    c.bias_mlp = c.bias_mlp || need_mlp;
    c.bias_unembed = c.bias_unembed || need_unembed;
    local_notes.push_back(absl::StrCat(
        "the model had no ", absl::StrJoin(added, "; "),
        " but nonzero LayerNorm biases: zero biases were added there so fold_ln could fold the "
        "norm biases into them"));
  }
  if (options.fold_ln) {
    for (LayerWeights& L : W.layers) {
      FoldInto(L.ln1_w, L.ln1_b, L.W_Q, &L.b_Q, ln);
      FoldInto(L.ln1_w, L.ln1_b, L.W_K, &L.b_K, ln);
      FoldInto(L.ln1_w, L.ln1_b, L.W_V, &L.b_V, ln);
      FoldInto(L.ln2_w, L.ln2_b, L.W_in, &L.b_in, ln);
      // W_gate: scaled only (ln2.b is zero here, checked above) and, as TransformerLens,
      // not centered.
      if (gated) FoldInto(L.ln2_w, Tensor(), L.W_gate, nullptr, false);
      L.ln1_w = Filled(c.d_model, 1);
      L.ln2_w = Filled(c.d_model, 1);
      if (ln) {
        L.ln1_b = Filled(c.d_model, 0);
        L.ln2_b = Filled(c.d_model, 0);
      }
    }
    FoldInto(W.ln_final_w, W.ln_final_b, W.W_U, &W.b_U, ln);
    W.ln_final_w = Filled(c.d_model, 1);
    if (ln) W.ln_final_b = Filled(c.d_model, 0);
    done.push_back("fold_ln");
    if (!ln) {
      local_notes.push_back(
          "fold_ln on an RMSNorm model folds the norm weights only (RMSNorm has no bias and "
          "does not remove the mean, so the reading weights are not centered)");
    }
  }

  // ---- center_writing_weights ----
  if (options.center_writing_weights) {
    if (ln) {
      CenterRows(W.W_E);
      CenterRows(W.W_pos);  // empty for rotary models
      for (LayerWeights& L : W.layers) {
        CenterRows(L.W_O);
        CenterRows(L.b_O);
        CenterRows(L.W_out);
        CenterRows(L.b_out);
      }
      done.push_back("center_writing");
    } else {
      skipped.push_back("center_writing (RMSNorm does not remove the mean)");
      local_notes.push_back(
          "center_writing_weights skipped: RMSNorm does not remove the mean of the residual "
          "stream, so centering the writing weights would change the model's outputs");
    }
  }

  // ---- center_unembed ----
  if (options.center_unembed) {
    CenterRows(W.W_U);
    CenterRows(W.b_U);
    done.push_back("center_unembed");
  }

  // ---- fold_value_biases ----
  if (options.fold_value_biases) {
    if (c.bias_qkv) {
      const int64_t D = c.d_model, dh = c.d_head;
      if (!c.bias_o) {  // e.g. Qwen2: b_V but no b_O; TransformerLens's b_O is zeros
        for (LayerWeights& L : W.layers) L.b_O = Filled(D, 0);
        c.bias_o = true;
      }
      const int group = c.n_heads / c.n_kv_heads;
      for (LayerWeights& L : W.layers) {
        std::vector<double> acc(D, 0.0);
        for (int h = 0; h < c.n_heads; ++h) {
          const int kvh = h / group;
          for (int64_t e = 0; e < dh; ++e) {
            const double bv = L.b_V.data[kvh * dh + e];
            if (bv == 0.0) continue;
            const float* row = L.W_O.row(h * dh + e);
            for (int64_t d = 0; d < D; ++d) acc[d] += bv * row[d];
          }
        }
        for (int64_t d = 0; d < D; ++d) L.b_O.data[d] = static_cast<float>(L.b_O.data[d] + acc[d]);
        std::fill(L.b_V.data.begin(), L.b_V.data.end(), 0.0f);
      }
      done.push_back("fold_value_biases");
    } else {
      skipped.push_back("fold_value_biases (no value biases)");
    }
  }

  model->processing = done.empty() ? "none" : absl::StrJoin(done, "+");
  if (!skipped.empty()) {
    absl::StrAppend(&model->processing, "; skipped ", absl::StrJoin(skipped, ", "));
  }
  if (notes != nullptr) notes->insert(notes->end(), local_notes.begin(), local_notes.end());
  return absl::OkStatus();
}

}  // namespace memlens
