#include "tests/analysis/planted_model.h"

#include <cmath>
#include <random>

namespace memlens {
namespace {

constexpr int kD = 32, kH = 2, kDh = 4, kF = 8, kV = 20, kCtx = 12;

// (e_i - e_j) / sqrt(2)
std::vector<float> Pair(int i, int j) {
  std::vector<float> v(kD, 0.0f);
  v[i] = static_cast<float>(M_SQRT1_2);
  v[j] = -static_cast<float>(M_SQRT1_2);
  return v;
}

// A unit vector in dims 0..7 with zero sum.
std::vector<float> EmbedDir(std::mt19937_64& rng) {
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(kD, 0.0f);
  double mean = 0, norm = 0;
  for (int i = 0; i < 8; ++i) mean += (v[i] = n(rng));
  for (int i = 0; i < 8; ++i) norm += (v[i] -= mean / 8) * v[i];
  for (int i = 0; i < 8; ++i) v[i] /= std::sqrt(norm);
  return v;
}

Tensor Zeros(std::vector<int64_t> shape) { return Tensor(std::move(shape)); }
Tensor Ones(int64_t n) {
  Tensor t({n});
  for (float& x : t.data) x = 1;
  return t;
}

// W[:, col] = v (W is [D, N]).
void SetColumn(Tensor& W, int col, const std::vector<float>& v, float gain) {
  const int64_t N = W.dim(1);
  for (int d = 0; d < kD; ++d) W.data[d * N + col] = gain * v[d];
}
// W[row, :] = v (W is [N, D]).
void SetRow(Tensor& W, int row, const std::vector<float>& v, float gain) {
  for (int d = 0; d < kD; ++d) W.data[row * kD + d] = gain * v[d];
}

}  // namespace

Model PlantedModel(bool with_eraser) {
  ModelConfig c;
  c.name = with_eraser ? "planted-eraser" : "planted-control";
  c.format = "test";
  c.norm = NormKind::kLayerNorm;
  c.act = ActKind::kGeluErf;
  c.pos = PosKind::kLearned;
  c.n_layers = 2;
  c.d_model = kD;
  c.n_heads = kH;
  c.n_kv_heads = kH;
  c.d_head = kDh;
  c.d_mlp = kF;
  c.d_vocab = kV;
  c.n_ctx = kCtx;
  c.attn_scale = 2.0f;
  c.SetAllBiases(true);

  std::mt19937_64 rng(2310);
  const float R = 10, P = 10;
  const std::vector<float> a = Pair(8, 9), b = Pair(10, 11), d = Pair(12, 13), m = Pair(14, 15),
                           g = Pair(18, 19);
  const std::vector<float> r1 = EmbedDir(rng), r2 = EmbedDir(rng), r3 = EmbedDir(rng);

  Model model;
  model.config = c;
  Weights& w = model.weights;
  w.W_E = Zeros({kV, kD});
  for (int t = 0; t < kV; ++t) {
    const std::vector<float> e = EmbedDir(rng);
    for (int i = 0; i < kD; ++i) w.W_E.data[t * kD + i] = R * e[i];
  }
  w.W_pos = Zeros({kCtx, kD});
  for (int p = 0; p < kCtx; ++p) {
    const double th = p * M_PI / 12;
    for (int i = 0; i < kD; ++i) {
      w.W_pos.data[p * kD + i] = static_cast<float>(P * (std::cos(th) * a[i] + std::sin(th) * b[i]));
    }
  }
  // The typical ln1 scale of layer 1: sqrt(mean square of a residual of norm ~ sqrt(R^2 + P^2)).
  const float s_ref = std::sqrt((R * R + P * P + 1.0f) / kD);
  for (int l = 0; l < 2; ++l) {
    LayerWeights L;
    L.ln1_w = Ones(kD);
    L.ln1_b = Zeros({kD});
    L.ln2_w = Ones(kD);
    L.ln2_b = Zeros({kD});
    L.W_Q = Zeros({kD, kH * kDh});
    L.W_K = Zeros({kD, kH * kDh});
    L.W_V = Zeros({kD, kH * kDh});
    L.b_Q = Zeros({kH * kDh});
    L.b_K = Zeros({kH * kDh});
    L.b_V = Zeros({kH * kDh});
    L.W_O = Zeros({kH * kDh, kD});
    L.b_O = Zeros({kD});
    L.W_in = Zeros({kD, kF});
    L.b_in = Zeros({kF});
    L.W_out = Zeros({kF, kD});
    L.b_out = Zeros({kD});
    if (l == 0) {
      // L0H1, the writer: head 1's first value dim reads r1, writes d.
      SetColumn(L.W_V, kDh, r1, 1.0f);
      SetRow(L.W_O, kDh, d, 1.0f);
    } else {
      // L1H0, the eraser: self-attention on the position circle; value reads d, writes -d.
      const float gq = 12;
      SetColumn(L.W_Q, 0, a, gq);
      SetColumn(L.W_Q, 1, b, gq);
      SetColumn(L.W_K, 0, a, gq);
      SetColumn(L.W_K, 1, b, gq);
      SetColumn(L.W_V, 0, d, 1.0f);
      if (with_eraser) SetRow(L.W_O, 0, d, -s_ref);
      // L1H1: uniform attention, reads r2, writes m.
      SetColumn(L.W_V, kDh, r2, 1.0f);
      SetRow(L.W_O, kDh, m, 1.0f);
      // M1: one neuron reading r3, writing g.
      SetColumn(L.W_in, 0, r3, 2.0f);
      SetRow(L.W_out, 0, g, 1.0f);
    }
    w.layers.push_back(std::move(L));
  }
  w.ln_final_w = Ones(kD);
  w.ln_final_b = Zeros({kD});
  w.W_U = Zeros({kD, kV});
  std::normal_distribution<float> n(0, 1);
  for (float& x : w.W_U.data) x = n(rng);
  w.b_U = Zeros({kV});
  return model;
}

std::vector<std::vector<int>> PlantedPrompts(int count, int length, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> tok(0, kV - 1);
  std::vector<std::vector<int>> prompts(count);
  for (auto& p : prompts) {
    for (int i = 0; i < length; ++i) p.push_back(tok(rng));
  }
  return prompts;
}

}  // namespace memlens
