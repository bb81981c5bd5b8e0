#include "core/model/weights.h"

#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

using Shape = std::vector<int64_t>;

// Visits every tensor with its TransformerLens name and the shape the config requires
// (an empty required shape means the tensor must be absent).
void ForEachTensor(const Weights& w, const ModelConfig& c,
                   const std::function<void(const std::string&, const Tensor&, Shape)>& fn) {
  const int64_t D = c.d_model, V = c.d_vocab, Q = c.q_dim(), KV = c.kv_dim(), F = c.d_mlp;
  const bool ln = c.norm == NormKind::kLayerNorm;
  auto if_ = [](bool present, Shape s) { return present ? s : Shape{}; };
  fn("embed.W_E", w.W_E, {V, D});
  fn("pos_embed.W_pos", w.W_pos, if_(c.pos == PosKind::kLearned, {c.n_ctx, D}));
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = absl::StrCat("blocks.", l, ".");
    fn(p + "ln1.w", L.ln1_w, {D});
    fn(p + "ln1.b", L.ln1_b, if_(ln, {D}));
    fn(p + "attn.W_Q", L.W_Q, {D, Q});
    fn(p + "attn.W_K", L.W_K, {D, KV});
    fn(p + "attn.W_V", L.W_V, {D, KV});
    fn(p + "attn.b_Q", L.b_Q, if_(c.bias_qkv, {Q}));
    fn(p + "attn.b_K", L.b_K, if_(c.bias_qkv, {KV}));
    fn(p + "attn.b_V", L.b_V, if_(c.bias_qkv, {KV}));
    fn(p + "attn.W_O", L.W_O, {Q, D});
    fn(p + "attn.b_O", L.b_O, if_(c.bias_o, {D}));
    fn(p + "ln2.w", L.ln2_w, {D});
    fn(p + "ln2.b", L.ln2_b, if_(ln, {D}));
    fn(p + "mlp.W_in", L.W_in, {D, F});
    fn(p + "mlp.W_gate", L.W_gate, if_(c.act == ActKind::kSwiGLU, {D, F}));
    fn(p + "mlp.b_in", L.b_in, if_(c.bias_mlp, {F}));
    fn(p + "mlp.W_out", L.W_out, {F, D});
    fn(p + "mlp.b_out", L.b_out, if_(c.bias_mlp, {D}));
  }
  fn("ln_final.w", w.ln_final_w, {D});
  fn("ln_final.b", w.ln_final_b, if_(ln, {D}));
  fn("unembed.W_U", w.W_U, {D, V});
  fn("unembed.b_U", w.b_U, if_(c.bias_unembed, {V}));
}

}  // namespace

absl::Status Weights::Validate(const ModelConfig& config) const {
  if (auto s = config.Validate(); !s.ok()) return s;
  if (layers.size() != static_cast<size_t>(config.n_layers)) {
    return absl::InvalidArgumentError(absl::StrCat("weights have ", layers.size(),
                                                   " layers but the config says ",
                                                   config.n_layers));
  }
  absl::Status status;
  ForEachTensor(*this, config, [&](const std::string& name, const Tensor& t, Shape want) {
    if (!status.ok()) return;
    if (want.empty()) {
      if (!t.empty()) {
        status = absl::InvalidArgumentError(
            absl::StrCat(name, " is present but this architecture has no such tensor"));
      }
      return;
    }
    if (t.shape != want || t.data.size() != Tensor::NumElements(want)) {
      status = absl::InvalidArgumentError(absl::StrCat(name, " has shape ", ShapeString(t.shape),
                                                       " but the config needs ",
                                                       ShapeString(want)));
      return;
    }
    for (size_t i = 0; i < t.data.size(); ++i) {
      if (!std::isfinite(t.data[i])) {
        status = absl::InvalidArgumentError(absl::StrCat(name, " holds a non-finite value (",
                                                         t.data[i], ") at flat index ", i));
        return;
      }
    }
  });
  return status;
}

void ForEachWeight(const Model& model,
                   const std::function<void(const std::string& name, const Tensor& t)>& fn) {
  ForEachTensor(model.weights, model.config,
                [&](const std::string& name, const Tensor& t, const Shape& want) {
                  if (!want.empty()) fn(name, t);
                });
}

void ForEachWeightShape(
    const ModelConfig& config,
    const std::function<void(const std::string& name, const std::vector<int64_t>& shape)>& fn) {
  Weights none;
  none.layers.resize(config.n_layers);
  ForEachTensor(none, config, [&](const std::string& name, const Tensor&, const Shape& want) {
    if (!want.empty()) fn(name, want);
  });
}

size_t Weights::NumParameters() const {
  size_t n = W_E.size() + W_pos.size() + ln_final_w.size() + ln_final_b.size() + W_U.size() +
             b_U.size();
  for (const LayerWeights& L : layers) {
    for (const Tensor* t : {&L.ln1_w, &L.ln1_b, &L.W_Q, &L.W_K, &L.W_V, &L.b_Q, &L.b_K, &L.b_V,
                            &L.W_O, &L.b_O, &L.ln2_w, &L.ln2_b, &L.W_in, &L.W_gate, &L.b_in,
                            &L.W_out, &L.b_out}) {
      n += t->size();
    }
  }
  return n;
}

}  // namespace memlens
