#include "tests/random_model.h"

#include <cmath>
#include <random>

namespace memlens {

ModelConfig SmallGeluConfig() {
  ModelConfig c;
  c.name = "random-gelu";
  c.norm = NormKind::kLayerNorm;
  c.act = ActKind::kGeluErf;
  c.pos = PosKind::kLearned;
  c.n_layers = 3;
  c.d_model = 24;
  c.n_heads = 3;
  c.n_kv_heads = 3;
  c.d_head = 8;
  c.d_mlp = 40;
  c.d_vocab = 37;
  c.n_ctx = 16;
  c.attn_scale = std::sqrt(8.0f);
  c.SetAllBiases(true);
  return c;
}

ModelConfig SmallLlamaConfig() {
  ModelConfig c;
  c.name = "random-llama";
  c.norm = NormKind::kRMSNorm;
  c.act = ActKind::kSwiGLU;
  c.pos = PosKind::kRotary;
  c.n_layers = 2;
  c.d_model = 32;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_head = 8;
  c.d_mlp = 48;
  c.d_vocab = 29;
  c.n_ctx = 16;
  c.attn_scale = std::sqrt(8.0f);
  c.SetAllBiases(false);
  return c;
}

Model RandomModel(const ModelConfig& c, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  auto rand = [&](std::vector<int64_t> shape) {
    Tensor t(std::move(shape));
    for (float& x : t.data) x = normal(rng);
    return t;
  };
  auto norm_w = [&](int64_t n) {
    Tensor t({n});
    for (float& x : t.data) x = 1.0f + normal(rng);
    return t;
  };
  const int64_t D = c.d_model, Q = c.q_dim(), KV = c.kv_dim(), F = c.d_mlp, V = c.d_vocab;
  const bool ln = c.norm == NormKind::kLayerNorm;
  Model m;
  m.config = c;
  Weights& w = m.weights;
  w.W_E = rand({V, D});
  if (c.pos == PosKind::kLearned) w.W_pos = rand({c.n_ctx, D});
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.ln1_w = norm_w(D);
    if (ln) L.ln1_b = rand({D});
    L.W_Q = rand({D, Q});
    L.W_K = rand({D, KV});
    L.W_V = rand({D, KV});
    if (c.bias_qkv) {
      L.b_Q = rand({Q});
      L.b_K = rand({KV});
      L.b_V = rand({KV});
    }
    if (c.bias_o) L.b_O = rand({D});
    if (c.bias_mlp) {
      L.b_in = rand({F});
      L.b_out = rand({D});
    }
    L.W_O = rand({Q, D});
    L.ln2_w = norm_w(D);
    if (ln) L.ln2_b = rand({D});
    L.W_in = rand({D, F});
    if (c.act == ActKind::kSwiGLU) L.W_gate = rand({D, F});
    L.W_out = rand({F, D});
    w.layers.push_back(std::move(L));
  }
  w.ln_final_w = norm_w(D);
  if (ln) w.ln_final_b = rand({D});
  w.W_U = rand({D, V});
  if (c.bias_unembed) w.b_U = rand({V});
  return m;
}

}  // namespace memlens
