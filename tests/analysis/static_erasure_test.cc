// The static detector's factored computations against dense W_OV matrices.
#include "core/analysis/static_erasure.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/random_model.h"

namespace memlens {
namespace {

using Dense = std::vector<double>;  // [D, D] row-major

Dense DenseOV(const Model& m, int l, int h) {
  const ModelConfig& c = m.config;
  const LayerWeights& L = m.weights.layers[l];
  const int64_t D = c.d_model, dh = c.d_head, KV = c.kv_dim(), g = h / (c.n_heads / c.n_kv_heads);
  Dense A(D * dh);
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t e = 0; e < dh; ++e) A[d * dh + e] = L.ln1_w.data[d] * L.W_V.data[d * KV + g * dh + e];
  }
  if (c.norm == NormKind::kLayerNorm) {
    for (int64_t e = 0; e < dh; ++e) {
      double mean = 0;
      for (int64_t d = 0; d < D; ++d) mean += A[d * dh + e];
      for (int64_t d = 0; d < D; ++d) A[d * dh + e] -= mean / D;
    }
  }
  Dense W(D * D, 0);
  for (int64_t i = 0; i < D; ++i) {
    for (int64_t e = 0; e < dh; ++e) {
      for (int64_t j = 0; j < D; ++j) W[i * D + j] += A[i * dh + e] * L.W_O.data[(h * dh + e) * D + j];
    }
  }
  return W;
}

Dense Mul(const Dense& a, const Dense& b, int64_t D) {
  Dense c(D * D, 0);
  for (int64_t i = 0; i < D; ++i)
    for (int64_t k = 0; k < D; ++k)
      for (int64_t j = 0; j < D; ++j) c[i * D + j] += a[i * D + k] * b[k * D + j];
  return c;
}

double Dot(const Dense& a, const Dense& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

TEST(StaticErasure, MatchesDenseMatrices) {
  for (bool llama : {false, true}) {
    Model m = RandomModel(llama ? SmallLlamaConfig() : SmallGeluConfig(), 3);
    const int64_t D = m.config.d_model;
    ThreadPool pool(2);
    const auto pairs = StaticHeadPairs(m, pool);
    ThreadPool one(1);
    const auto serial = StaticHeadPairs(m, one);
    ASSERT_EQ(serial.size(), pairs.size());
    for (size_t k = 0; k < pairs.size(); ++k) {  // the thread count changes nothing
      EXPECT_EQ(serial[k].writer, pairs[k].writer);
      EXPECT_EQ(serial[k].eraser, pairs[k].eraser);
      EXPECT_EQ(serial[k].signed_composition, pairs[k].signed_composition);
    }
    const int H = m.config.n_heads, L = m.config.n_layers;
    EXPECT_EQ(pairs.size(), static_cast<size_t>(H * H * L * (L - 1) / 2));
    for (size_t k = 1; k < pairs.size(); ++k) {
      EXPECT_LE(pairs[k - 1].signed_composition, pairs[k].signed_composition);
    }
    for (const HeadPairScore& s : pairs) {
      const Dense w = DenseOV(m, s.writer_layer, s.writer_head);
      const Dense e = DenseOV(m, s.eraser_layer, s.eraser_head);
      const Dense we = Mul(w, e, D);
      const double nw = std::sqrt(Dot(w, w)), ne = std::sqrt(Dot(e, e)), nwe = std::sqrt(Dot(we, we));
      const double inner = Dot(we, w);
      EXPECT_NEAR(s.composition, nwe / (nw * ne), 1e-6);
      EXPECT_NEAR(s.signed_gain, inner / (nw * nw), 1e-6 * (1 + std::fabs(s.signed_gain)));
      EXPECT_NEAR(s.signed_cos, inner / (nwe * nw), 1e-6);
      EXPECT_NEAR(s.signed_composition, inner / (nw * nw * ne), 1e-6);
      EXPECT_GE(s.signed_cos, -1 - 1e-9);
      EXPECT_LE(s.signed_cos, 1 + 1e-9);
    }
  }
}

TEST(StaticErasure, AntiAlignedNeurons) {
  Model m = RandomModel(SmallGeluConfig(), 3);
  const int64_t D = m.config.d_model, F = m.config.d_mlp;
  LayerWeights& L = m.weights.layers[1];
  // Neuron 5 writes back exactly the negative of what it reads.
  for (int64_t d = 0; d < D; ++d) L.W_out.data[5 * D + d] = -2 * L.W_in.data[d * F + 5];
  const auto neurons = AntiAlignedNeurons(m, -0.3);
  ASSERT_FALSE(neurons.empty());
  EXPECT_EQ(neurons[0].layer, 1);
  EXPECT_EQ(neurons[0].neuron, 5);
  EXPECT_NEAR(neurons[0].cos, -1, 1e-6);
  for (const auto& n : neurons) EXPECT_LT(n.cos, -0.3);
}

}  // namespace
}  // namespace memlens
