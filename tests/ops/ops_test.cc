// Every kernel of core/ops/ops.h against its scalar twin in core/ops/reference.h, on every
// Highway target compiled in and supported by this CPU (hwy::TestWithParamTarget switches the
// dispatch target), at odd and even shapes.
//
// Tolerances are a-priori rounding-error bounds, not fitted numbers. u = 2^-24 is the unit
// roundoff of float32 and gamma(n) = n u / (1 - n u) (Higham, "Accuracy and Stability of
// Numerical Algorithms", 2nd ed., Sec. 3.1). A sum of n float products evaluated in any order
// (with FMA or not) has |error| <= gamma(n) * sum |terms| (Higham Thm 3.1, eq. 3.5); the
// reference is exact to double and then rounded once (u |ref|), so we add u |ref|.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/ops/ops.h"
#include "core/ops/tiling.h"
#include "core/ops/reference.h"
#include "core/util/thread_pool.h"
#include "gtest/gtest.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

namespace memlens {
namespace ops {
namespace {

constexpr double kU = 1.0 / (1 << 24);  // unit roundoff of float32
double Gamma(double n) { return n * kU / (1.0 - n * kU); }

const size_t kSizes[] = {1, 3, 8, 17, 63, 64, 65, 257, 1024};

std::vector<float> Random(size_t n, unsigned seed, float scale = 1.0f, float offset = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = offset + scale * dist(rng);
  return v;
}

std::vector<float> Abs(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

// Compares element-wise against per-element tolerances; prints the worst offender.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::vector<double>& tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  size_t bad = 0, first_bad = 0;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const bool same = got[i] == want[i];  // also covers +-inf
    if (!same && !(err <= tol[i])) {
      if (bad++ == 0) first_bad = i;
    }
    if (!same && tol[i] > 0) worst_ratio = std::max(worst_ratio, err / tol[i]);
  }
  EXPECT_EQ(bad, 0u) << what << ": first mismatch at " << first_bad << " got "
                     << got[first_bad] << " want " << want[first_bad] << " tol "
                     << tol[first_bad];
  ::testing::Test::RecordProperty(what, std::to_string(worst_ratio));
}

class OpsTest : public hwy::TestWithParamTarget {
 protected:
  ThreadPool pool_{3};  // more threads than cores is fine and exercises the partitioning
};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(OpsTest);

// C = A B + bias: each output is a sum of K products plus the bias; any evaluation order has
// |error| <= gamma(K + 1) (|bias| + sum_k |a_ik| |b_kj|); the rounded reference adds u |c|.
void CheckMatMul(size_t M, size_t K, size_t N, bool with_bias, ThreadPool& pool) {
  const auto A = Random(M * K, 1 + M), B = Random(K * N, 2 + N), bias = Random(N, 3);
  std::vector<float> C(M * N, -7.0f), want(M * N);
  const float* b = with_bias ? bias.data() : nullptr;
  MatMul(A.data(), B.data(), b, C.data(), M, K, N, pool);
  reference::MatMul(A.data(), B.data(), b, want.data(), M, K, N);
  std::vector<float> bound(M * N);
  const auto abs_bias = Abs(bias);
  reference::MatMul(Abs(A).data(), Abs(B).data(), with_bias ? abs_bias.data() : nullptr,
                    bound.data(), M, K, N);
  std::vector<double> tol(M * N);
  for (size_t i = 0; i < M * N; ++i) {
    // (1 + u) covers the rounding of the bound itself to float.
    tol[i] = (Gamma(K + 1) + kU) * bound[i] * (1 + kU) + 1e-30;
  }
  ExpectClose(C, want, tol,
              "MatMul M" + std::to_string(M) + " K" + std::to_string(K) + " N" +
                  std::to_string(N) + (with_bias ? " bias" : ""));
}

TEST_P(OpsTest, MatMulOddShapes) {
  for (size_t M : {1, 3, 5, 6, 7, 17, 65}) {
    for (size_t K : {1, 3, 17, 64, 257}) {
      for (size_t N : {1, 3, 8, 17, 63, 65, 257}) {
        CheckMatMul(M, K, N, /*with_bias=*/(M + K + N) % 2 == 0, pool_);
      }
    }
  }
}

TEST_P(OpsTest, MatMulModelShapes) {
  // Blocks larger than the cache tiles: M and N not multiples of the register tile.
  CheckMatMul(131, 512, 520, true, pool_);
  CheckMatMul(64, 2048, 96, false, pool_);
  CheckMatMul(7, 700, 1300, true, pool_);
}

// LayerNormScale: mean m has |dm| <= gamma(d) mean|x|. Centered squares then carry relative
// error 3u (sub, square, accumulate step) and the sum gamma(d); a mean error adds only
// d dm^2 to the sum of squares because sum (x - m) = 0. sqrt halves relative errors and adds
// u; the division by d and + eps add 2u. So |dscale| <= (gamma(d + 3)/2 + 3u) scale +
// dm^2 / (2 scale) (first order), plus u scale for the rounded reference.
TEST_P(OpsTest, LayerNormScaleAndApply) {
  for (size_t d : kSizes) {
    const size_t rows = 5;
    // A large offset (|mean| >> std) is the hard case for variance.
    const auto x = Random(rows * d, 10 + d, 1.5f, 20.0f);
    const auto w = Random(d, 11), b = Random(d, 12);
    const float eps = 1e-5f;
    std::vector<float> scale(rows), want_scale(rows);
    LayerNormScale(x.data(), rows, d, eps, scale.data());
    reference::LayerNormScale(x.data(), rows, d, eps, want_scale.data());
    std::vector<double> tol(rows);
    std::vector<double> mean_abs(rows), dm(rows);
    for (size_t r = 0; r < rows; ++r) {
      for (size_t i = 0; i < d; ++i) mean_abs[r] += std::fabs(x[r * d + i]) / d;
      dm[r] = Gamma(d) * mean_abs[r];
      tol[r] = (Gamma(d + 3) / 2 + 4 * kU) * want_scale[r] +
               d * dm[r] * dm[r] / (2 * want_scale[r] * want_scale[r]) * want_scale[r];
    }
    ExpectClose(scale, want_scale, tol, "LayerNormScale d" + std::to_string(d));

    // Apply with the reference scale (so this tests Apply alone):
    // out = (x - m) * (1/s) * w + b. A mean error dm moves every output by |dm w / s|; the
    // sub, reciprocal, two multiplies and the add contribute 5u relative to the terms.
    for (bool with_b : {false, true}) {
      std::vector<float> out(rows * d), want(rows * d);
      const float* bp = with_b ? b.data() : nullptr;
      LayerNormApply(x.data(), want_scale.data(), w.data(), bp, rows, d, out.data());
      reference::LayerNormApply(x.data(), want_scale.data(), w.data(), bp, rows, d,
                                want.data());
      std::vector<double> tol_out(rows * d);
      for (size_t r = 0; r < rows; ++r) {
        double mean = 0;
        for (size_t i = 0; i < d; ++i) mean += static_cast<double>(x[r * d + i]) / d;
        for (size_t i = 0; i < d; ++i) {
          const double term = std::fabs((x[r * d + i] - mean) / want_scale[r] * w[i]);
          tol_out[r * d + i] = 6 * kU * (term + (with_b ? std::fabs(b[i]) : 0.0)) +
                               dm[r] * std::fabs(w[i]) / want_scale[r] + 1e-30;
        }
      }
      ExpectClose(out, want, tol_out,
                  "LayerNormApply d" + std::to_string(d) + (with_b ? " b" : ""));
    }
  }
}

// RMSNormScale: a sum of d positive squares, |rel err| <= gamma(d + 1); / d, + eps: 2u;
// sqrt halves the relative error and adds u. RMSNormApply: reciprocal and two multiplies, 3u,
// plus u for the reference.
TEST_P(OpsTest, RMSNormScaleAndApply) {
  for (size_t d : kSizes) {
    const size_t rows = 4;
    const auto x = Random(rows * d, 20 + d, 2.0f, 0.5f);
    const auto w = Random(d, 21);
    const float eps = 1e-6f;
    std::vector<float> scale(rows), want_scale(rows);
    RMSNormScale(x.data(), rows, d, eps, scale.data());
    reference::RMSNormScale(x.data(), rows, d, eps, want_scale.data());
    std::vector<double> tol(rows);
    for (size_t r = 0; r < rows; ++r) {
      tol[r] = ((Gamma(d + 1) + 2 * kU) / 2 + 2 * kU) * want_scale[r];
    }
    ExpectClose(scale, want_scale, tol, "RMSNormScale d" + std::to_string(d));
    for (bool with_w : {false, true}) {
      std::vector<float> out(rows * d), want(rows * d);
      const float* wp = with_w ? w.data() : nullptr;
      RMSNormApply(x.data(), want_scale.data(), wp, rows, d, out.data());
      reference::RMSNormApply(x.data(), want_scale.data(), wp, rows, d, want.data());
      std::vector<double> tol_out(rows * d);
      for (size_t i = 0; i < rows * d; ++i) tol_out[i] = 4 * kU * std::fabs(want[i]) + 1e-30;
      ExpectClose(out, want, tol_out,
                  "RMSNormApply d" + std::to_string(d) + (with_w ? " w" : ""));
    }
  }
}

// Inputs for the activations: a dense grid over [-12, 12] (all branches, both tails, and
// the saturation points) followed by special values; the length is odd so the remainder
// path runs too.
std::vector<float> ActivationInputs() {
  std::vector<float> x;
  for (int i = -120000; i <= 120000; ++i) x.push_back(i * 1e-4f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 100.0f, -100.0f, 1e4f, -1e4f})
    x.push_back(v);
  x.push_back(0.5f);
  return x;
}

// GeluErf = x Phi(x), Phi = (1 + erf(v)) / 2 with v = x / sqrt 2. Budget:
//  - erf is within 1.25 ulp (tests/ops/erf_test.cc), and ulp(y) <= 2^-23 |y| = 2u |y|, so
//    |d erf| <= 2.5u |erf(v)| and |d Phi| <= 1.25u |erf(v)| (also covers the tails, where Phi
//    is formed from e = 1 - |erf| with the same absolute error, and x < -5.54, where we return
//    0 and Phi < 1.5e-8 < 1.25u |erf|).
//  - v is rounded twice (the float constant 1/sqrt 2 and the product): 2u relative, moving
//    Phi by phi(x) |x| 2u, phi the normal density.
//  - forming Phi (FMA or 1 - e/2) and x * Phi: 2u |Phi|; the reference's rounding: u |ref|.
// |err| <= |x| (1.25u |erf(v)| + 2u |x| phi(x) + 2u Phi(x)) + u |ref|.
TEST_P(OpsTest, GeluErf) {
  auto x = ActivationInputs();
  auto want = x;
  GeluErf(x.data(), x.size());
  reference::GeluErf(want.data(), want.size());
  std::vector<double> tol(x.size());
  const auto in = ActivationInputs();
  double max_rel_ulps = 0;
  double worst = 0;  // max |err| / tol
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = in[i];
    const double phi = std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
    const double Phi = 0.5 * std::erfc(-v / std::sqrt(2.0));
    tol[i] = std::fabs(v) * (1.25 * kU * std::fabs(std::erf(v / std::sqrt(2.0))) +
                             2 * kU * std::fabs(v) * phi + 2 * kU * Phi) +
             kU * std::fabs(want[i]) + 1e-45;
    if (v >= 0) max_rel_ulps = std::max(max_rel_ulps, std::fabs(x[i] - want[i]) / std::fabs(want[i] + 1e-45) / kU);
    worst = std::max(worst, std::fabs(x[i] - want[i]) / tol[i]);
  }
  ExpectClose(x, want, tol, "GeluErf");
  std::printf("%s: GeluErf max relative error for x >= 0: %.2f u; max |err| / bound: %.3f\n",
              hwy::TargetName(GetParam()), max_rel_ulps, worst);
  // For n not a multiple of the vector length, the tail must be processed and nothing after.
  for (size_t n : kSizes) {
    std::vector<float> v(n + 1, 1.0f);
    v[n] = 123.0f;
    GeluErf(v.data(), n);
    EXPECT_EQ(v[n], 123.0f);
    EXPECT_NEAR(v[0], 0.8413447460685429, 1e-7);
  }
}

// GeluTanh = 0.5 x (1 + tanh(z)), z = sqrt(2/pi) (x + 0.044715 x^3). z carries 4u relative
// error (three multiplies and an FMA), which moves tanh by (1 - tanh^2) 4u |z|; Highway's
// Tanh is within 4 ulp (documented in hwy/contrib/math/math-inl.h), i.e. 4u |tanh| absolute.
// 1 + tanh cancels for z << 0, so the bound is absolute in (1 + tanh):
// |err| <= 0.5 |x| (4u |tanh| + 4u |z| (1 - tanh^2) + 2u (1 + tanh)) + u |result|.
TEST_P(OpsTest, GeluTanh) {
  auto x = ActivationInputs();
  auto want = x;
  GeluTanh(x.data(), x.size());
  reference::GeluTanh(want.data(), want.size());
  const auto in = ActivationInputs();
  std::vector<double> tol(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = in[i];
    const double z = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    const double th = std::tanh(z);
    tol[i] = 0.5 * std::fabs(v) *
                 (4 * kU * std::fabs(th) + 4 * kU * std::fabs(z) * (1 - th * th) +
                  2 * kU * (1 + th)) +
             kU * std::fabs(want[i]) + 1e-45;
  }
  ExpectClose(x, want, tol, "GeluTanh");
}

// SwiGLU = g / (1 + exp(-g)) * up. Exp is within 1 ulp; 1 + e, the division and the
// multiply add 3u; relative error of 1 + e from e's error is <= 2u. Total 6u relative, plus
// the reference's u. For g < -88 the kernel returns 0; the exact value is below
// 88 e^-88 |up| = 5.4e-37 |up| there.
TEST_P(OpsTest, SwiGLU) {
  auto g = ActivationInputs();
  const auto up = Random(g.size(), 30);
  auto want = g;
  SwiGLU(g.data(), up.data(), g.size());
  reference::SwiGLU(want.data(), up.data(), want.size());
  std::vector<double> tol(g.size());
  const auto in = ActivationInputs();
  for (size_t i = 0; i < g.size(); ++i) {
    tol[i] = 7 * kU * std::fabs(want[i]) + (in[i] < -88 ? 5.4e-37 * std::fabs(up[i]) : 1e-45);
  }
  ExpectClose(g, want, tol, "SwiGLU");
}

TEST_P(OpsTest, AddIsExact) {
  for (size_t n : kSizes) {
    const auto x = Random(n + 1, 40);
    auto y = Random(n + 1, 41), want = y;
    Add(x.data(), y.data(), n);
    reference::Add(x.data(), want.data(), n);
    for (size_t i = 0; i < n + 1; ++i) ASSERT_EQ(y[i], want[i]) << i;
  }
}

// Rope: cos and sin of the same double angle are each rounded once (u); a c - b s with FMA
// adds 2u of the larger term. |err| <= 3u (|a| + |b|) + u |result|; elements past rotary_dim
// must come out bit-identical.
void CheckRope(size_t d_head, size_t pos0, const RotaryParams& rp) {
  const std::string what = "Rope d_head " + std::to_string(d_head) + " rotary_dim " +
                           std::to_string(rp.rotary_dim) + (rp.halves ? " halves" : " pairs") +
                           " pos0 " + std::to_string(pos0) + " scale " +
                           std::to_string(rp.pos_scale);
  const size_t T = 9, n_heads = 3, half = rp.rotary_dim / 2;
  auto x = Random(T * n_heads * d_head, 50 + d_head);
  const auto in = x;
  auto want = x;
  Rope(x.data(), T, n_heads, d_head, pos0, rp);
  reference::Rope(want.data(), T, n_heads, d_head, pos0, rp);
  std::vector<double> tol(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t e = i % d_head, head = i - e;
    if (e >= rp.rotary_dim) {
      tol[i] = 0;
      ASSERT_EQ(x[i], in[i]) << what << ": element " << e << " is past rotary_dim";
      continue;
    }
    const size_t a = rp.halves ? e % half : e & ~size_t{1};
    const size_t b = rp.halves ? a + half : a + 1;
    tol[i] = 3 * kU * (std::fabs(in[head + a]) + std::fabs(in[head + b])) +
             kU * std::fabs(want[i]) + 1e-45;
  }
  ExpectClose(x, want, tol, what);
}

TEST_P(OpsTest, Rope) {
  for (size_t d_head : {2, 6, 16, 34, 64, 128}) {
    for (size_t pos0 : {0, 5, 1000}) {
      for (bool halves : {false, true}) {
        CheckRope(d_head, pos0, {d_head, halves, 10000.0f, 1.0f});
        // partial rotary (GPT-NeoX rotary_pct 0.25 and 0.5), linear scaling
        if (d_head >= 8) CheckRope(d_head, pos0, {d_head / 4 & ~size_t{1}, halves, 10000.0f, 1.0f});
        CheckRope(d_head, pos0, {d_head / 2 & ~size_t{1}, halves, 500000.0f, 4.0f});
      }
    }
  }
}

// The reference's conventions, checked against definitions that do not share its code:
// rotate_half is the interleaved rotation of the de-interleaved head; linear scaling by s at
// position p is position p / s unscaled; a rotation keeps each pair's norm.
TEST(RopeReference, ConventionsAgree) {
  const size_t dh = 8, T = 1;
  auto x = Random(dh, 91);
  // halves: pairs (i, i + 4). Gather them as (2i, 2i + 1), rotate interleaved, scatter back.
  std::vector<float> gathered(dh), halves = x;
  for (size_t i = 0; i < dh / 2; ++i) {
    gathered[2 * i] = x[i];
    gathered[2 * i + 1] = x[i + dh / 2];
  }
  reference::Rope(gathered.data(), T, 1, dh, 7, {dh, false, 100.0f, 1.0f});
  reference::Rope(halves.data(), T, 1, dh, 7, {dh, true, 100.0f, 1.0f});
  for (size_t i = 0; i < dh / 2; ++i) {
    EXPECT_EQ(halves[i], gathered[2 * i]);
    EXPECT_EQ(halves[i + dh / 2], gathered[2 * i + 1]);
  }
  auto scaled = x, plain = x;
  reference::Rope(scaled.data(), T, 1, dh, 12, {dh, true, 100.0f, 4.0f});
  reference::Rope(plain.data(), T, 1, dh, 3, {dh, true, 100.0f, 1.0f});
  for (size_t i = 0; i < dh; ++i) EXPECT_FLOAT_EQ(scaled[i], plain[i]);
  // First pair at position 1 turns by exactly 1 radian (theta^0), by hand:
  auto one = x;
  reference::Rope(one.data(), T, 1, dh, 1, {dh, true, 100.0f, 1.0f});
  EXPECT_NEAR(one[0], x[0] * std::cos(1.0) - x[4] * std::sin(1.0), 1e-6);
  EXPECT_NEAR(one[4], x[0] * std::sin(1.0) + x[4] * std::cos(1.0), 1e-6);
  // Pair 1 of a rotary_dim-4 rotation turns by theta^(-2/4) = 0.1 rad per position.
  auto part = x;
  reference::Rope(part.data(), T, 1, dh, 1, {4, true, 100.0f, 1.0f});
  EXPECT_NEAR(part[1], x[1] * std::cos(0.1) - x[3] * std::sin(0.1), 1e-6);
  EXPECT_NEAR(part[3], x[1] * std::sin(0.1) + x[3] * std::cos(0.1), 1e-6);
  for (size_t i = 4; i < dh; ++i) EXPECT_EQ(part[i], x[i]);
}

// Scores: a dot product of d_head terms then / scale (u): gamma(d_head + 1) sum|q||k| / scale
// plus u for the reference. Masked entries must be exactly -inf.
void CheckAttention(size_t T, size_t n_heads, size_t n_kv_heads, size_t d_head,
                    ThreadPool& pool, size_t window = 0) {
  const std::string shape = " T" + std::to_string(T) + " H" + std::to_string(n_heads) + " KV" +
                            std::to_string(n_kv_heads) + " dh" + std::to_string(d_head) +
                            " window " + std::to_string(window);
  const auto q = Random(T * n_heads * d_head, 60 + T), k = Random(T * n_kv_heads * d_head, 61);
  const auto v = Random(T * n_kv_heads * d_head, 62);
  const float scale = std::sqrt(static_cast<float>(d_head));
  std::vector<float> scores(n_heads * T * T, 1.0f), want(n_heads * T * T);
  AttentionScores(q.data(), k.data(), T, n_heads, n_kv_heads, d_head, scale, window,
                  scores.data(), pool);
  reference::AttentionScores(q.data(), k.data(), T, n_heads, n_kv_heads, d_head, scale, window,
                             want.data());
  std::vector<float> abs_scores(n_heads * T * T);
  reference::AttentionScores(Abs(q).data(), Abs(k).data(), T, n_heads, n_kv_heads, d_head,
                             scale, window, abs_scores.data());
  // The mask by its definition (ops.h), not by the reference: -inf exactly where j > i or
  // i - j >= window.
  for (size_t h = 0; h < n_heads; ++h) {
    for (size_t i = 0; i < T; ++i) {
      for (size_t j = 0; j < T; ++j) {
        const bool masked = j > i || (window > 0 && i - j >= window);
        ASSERT_EQ(std::isinf(scores[(h * T + i) * T + j]), masked)
            << shape << " h" << h << " i" << i << " j" << j;
      }
    }
  }
  std::vector<double> tol(scores.size());
  for (size_t i = 0; i < tol.size(); ++i) {
    tol[i] = std::isinf(want[i]) ? 0.0 : (Gamma(d_head + 1) + kU) * abs_scores[i] * (1 + kU);
  }
  ExpectClose(scores, want, tol, "AttentionScores" + shape);

  // Softmax of each row: x - max is rounded (u |x - max|, which exp turns into a relative
  // error), Exp is within 1 ulp, the sum of n positive terms gamma(n), the reciprocal and
  // the multiply 2u: relative error <= (4 + |x - max|) u + gamma(n), plus u for the reference.
  auto pattern = want;
  std::vector<float> want_pattern = want;
  Softmax(pattern.data(), n_heads * T, T, pool);
  reference::Softmax(want_pattern.data(), n_heads * T, T);
  std::vector<double> tol_p(pattern.size());
  for (size_t r = 0; r < n_heads * T; ++r) {
    float max = -std::numeric_limits<float>::infinity();
    for (size_t j = 0; j < T; ++j) max = std::max(max, want[r * T + j]);
    for (size_t j = 0; j < T; ++j) {
      const double dx = std::isinf(want[r * T + j]) ? 0.0 : std::fabs(want[r * T + j] - max);
      tol_p[r * T + j] = ((5 + dx) * kU + Gamma(T)) * want_pattern[r * T + j] + 1e-45;
    }
  }
  ExpectClose(pattern, want_pattern, tol_p, "Softmax" + shape);
  for (size_t h = 0; h < n_heads; ++h) {
    for (size_t i = 0; i < T; ++i) {
      for (size_t j = i + 1; j < T; ++j) ASSERT_EQ(pattern[(h * T + i) * T + j], 0.0f);
    }
  }

  // Mix: z = sum_{j <= i} p_ij v_j: gamma(i + 1) sum |p||v| + u for the reference. Poison the
  // upper triangle: the kernel must not read it (ops.h: causal).
  auto poisoned = want_pattern;
  for (size_t h = 0; h < n_heads; ++h) {
    for (size_t i = 0; i < T; ++i) {
      for (size_t j = i + 1; j < T; ++j) {
        poisoned[(h * T + i) * T + j] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
  std::vector<float> z(T * n_heads * d_head, -3.0f), want_z(z.size()), bound_z(z.size());
  AttentionMix(poisoned.data(), v.data(), T, n_heads, n_kv_heads, d_head, window, z.data(), pool);
  reference::AttentionMix(want_pattern.data(), v.data(), T, n_heads, n_kv_heads, d_head, window,
                          want_z.data());
  reference::AttentionMix(Abs(want_pattern).data(), Abs(v).data(), T, n_heads, n_kv_heads,
                          d_head, window, bound_z.data());
  std::vector<double> tol_z(z.size());
  for (size_t i = 0; i < z.size(); ++i) {
    const size_t row = i / (n_heads * d_head);
    tol_z[i] = (Gamma(row + 1) + kU) * bound_z[i] * (1 + kU) + 1e-45;
  }
  ExpectClose(z, want_z, tol_z, "AttentionMix" + shape);
}

TEST_P(OpsTest, Attention) {
  for (size_t T : {1, 3, 17, 65}) {
    for (size_t d_head : {1, 3, 16, 64}) {
      CheckAttention(T, 2, 2, d_head, pool_);
      CheckAttention(T, 4, 2, d_head, pool_);  // grouped-query
    }
  }
  CheckAttention(257, 8, 8, 64, pool_);  // gelu-4l head shape
  CheckAttention(130, 6, 1, 32, pool_);  // multi-query
  // Local attention (GPT-Neo local layers, Mistral sliding window), windows around tile sizes.
  for (size_t window : {1, 2, 5, 16, 33, 200}) {
    CheckAttention(97, 4, 2, 16, pool_, window);
  }
  CheckAttention(257, 8, 8, 64, pool_, 64);
}

// Attention over a block of queries [q0, q1) (q_begin = q0, keys 0 .. q1-1): the block's rows
// of the scores, pattern and z are those of one call over all rows, bit for bit, when q0 is a
// multiple of the row tile kMR (what the forward pass relies on); at any other q0 they are still
// the same attention (the reference's tolerance).
void CheckAttentionQueryBlock(size_t T, size_t n_heads, size_t n_kv_heads, size_t d_head,
                              size_t window, size_t q0, size_t q1, ThreadPool& pool) {
  SCOPED_TRACE("T" + std::to_string(T) + " H" + std::to_string(n_heads) + " KV" +
               std::to_string(n_kv_heads) + " window " + std::to_string(window) + " rows [" +
               std::to_string(q0) + ", " + std::to_string(q1) + ")");
  const size_t ldq = n_heads * d_head, R = q1 - q0;
  const auto q = Random(T * ldq, 70 + T), k = Random(T * n_kv_heads * d_head, 71);
  const auto v = Random(T * n_kv_heads * d_head, 72);
  const float scale = std::sqrt(static_cast<float>(d_head));
  std::vector<float> full(n_heads * T * T), z_full(T * ldq);
  AttentionScores(q.data(), k.data(), T, n_heads, n_kv_heads, d_head, scale, window, full.data(),
                  pool);
  Softmax(full.data(), n_heads * T, T, pool);
  AttentionMix(full.data(), v.data(), T, n_heads, n_kv_heads, d_head, window, z_full.data(), pool);

  std::vector<float> block(n_heads * R * q1, 7.0f), z(R * ldq, -3.0f);
  AttentionScores(q.data() + q0 * ldq, k.data(), q1, n_heads, n_kv_heads, d_head, scale, window,
                  block.data(), pool, q0);
  Softmax(block.data(), n_heads * R, q1, pool);
  AttentionMix(block.data(), v.data(), q1, n_heads, n_kv_heads, d_head, window, z.data(), pool,
               q0);
  const bool exact = q0 % kMR == 0;
  for (size_t h = 0; h < n_heads; ++h) {
    for (size_t r = 0; r < R; ++r) {
      for (size_t j = 0; j < q1; ++j) {
        const float want = full[(h * T + q0 + r) * T + j], got = block[(h * R + r) * q1 + j];
        if (exact) {
          ASSERT_EQ(got, want) << "pattern h" << h << " i" << q0 + r << " j" << j;
        } else {
          ASSERT_NEAR(got, want, 1e-6) << "pattern h" << h << " i" << q0 + r << " j" << j;
        }
      }
    }
  }
  for (size_t r = 0; r < R; ++r) {
    for (size_t c = 0; c < ldq; ++c) {
      const float want = z_full[(q0 + r) * ldq + c], got = z[r * ldq + c];
      if (exact) {
        ASSERT_EQ(got, want) << "z i" << q0 + r << " c" << c;
      } else {
        ASSERT_NEAR(got, want, 1e-5) << "z i" << q0 + r << " c" << c;
      }
    }
  }
}

TEST_P(OpsTest, AttentionOverBlocksOfQueries) {
  for (size_t window : {0, 16}) {
    CheckAttentionQueryBlock(300, 4, 2, 16, window, 0, 192, pool_);    // the first block
    CheckAttentionQueryBlock(300, 4, 2, 16, window, 192, 300, pool_);  // the last, short one
    CheckAttentionQueryBlock(257, 8, 8, 64, window, 96, 200, pool_);   // gelu-4l heads
    CheckAttentionQueryBlock(130, 6, 1, 32, window, 48, 130, pool_);   // multi-query
    CheckAttentionQueryBlock(100, 2, 2, 8, window, 6, 7, pool_);       // one row
    CheckAttentionQueryBlock(100, 2, 2, 8, window, 49, 90, pool_);     // off the row tile
  }
}

TEST_P(OpsTest, SoftmaxEdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {-inf, -inf, -inf,  // no finite entry: zeros, not NaN
                          1.0f, -inf, -inf,  // one finite entry: exactly 1
                          1e30f, 1e30f, -1e30f};
  Softmax(x.data(), 3, 3, pool_);
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_EQ(x[2], 0.0f);
  EXPECT_EQ(x[3], 1.0f);
  EXPECT_EQ(x[4], 0.0f);
  EXPECT_EQ(x[5], 0.0f);
  EXPECT_EQ(x[6], 0.5f);
  EXPECT_EQ(x[7], 0.5f);
  EXPECT_EQ(x[8], 0.0f);
  for (size_t n : kSizes) {
    auto row = Random(3 * n, 70 + n, 30.0f);
    auto want = row;
    Softmax(row.data(), 3, n, pool_);
    reference::Softmax(want.data(), 3, n);
    for (size_t r = 0; r < 3; ++r) {
      double sum = 0;
      for (size_t j = 0; j < n; ++j) sum += row[r * n + j];
      EXPECT_NEAR(sum, 1.0, Gamma(n + 5)) << n;
    }
  }
}

}  // namespace
}  // namespace ops
}  // namespace memlens
