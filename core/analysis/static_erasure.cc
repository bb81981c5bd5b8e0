#include "core/analysis/static_erasure.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

// Small dense double matrix, row-major.
struct Mat {
  int64_t r = 0, c = 0;
  std::vector<double> v;
  Mat() = default;
  Mat(int64_t rows, int64_t cols) : r(rows), c(cols), v(rows * cols, 0.0) {}
  double& operator()(int64_t i, int64_t j) { return v[i * c + j]; }
  double operator()(int64_t i, int64_t j) const { return v[i * c + j]; }
};

Mat MatMulT(const Mat& a, const Mat& b) {  // a @ b
  Mat out(a.r, b.c);
  for (int64_t i = 0; i < a.r; ++i) {
    for (int64_t k = 0; k < a.c; ++k) {
      const double x = a(i, k);
      if (x == 0) continue;
      for (int64_t j = 0; j < b.c; ++j) out(i, j) += x * b(k, j);
    }
  }
  return out;
}

Mat Transpose(const Mat& a) {
  Mat t(a.c, a.r);
  for (int64_t i = 0; i < a.r; ++i) {
    for (int64_t j = 0; j < a.c; ++j) t(j, i) = a(i, j);
  }
  return t;
}

double Trace(const Mat& a) {
  double t = 0;
  for (int64_t i = 0; i < a.r; ++i) t += a(i, i);
  return t;
}

struct HeadOV {
  Mat A, B;    // [D, dh], [dh, D]
  Mat GA, GB;  // A^T A, B B^T  [dh, dh]
  double norm = 0;
};

HeadOV MakeHeadOV(const Model& model, int l, int h) {
  const ModelConfig& c = model.config;
  const LayerWeights& L = model.weights.layers[l];
  const int64_t D = c.d_model, dh = c.d_head, KV = c.kv_dim();
  const int64_t g = h / (c.n_heads / c.n_kv_heads);
  HeadOV ov;
  ov.A = Mat(D, dh);
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t e = 0; e < dh; ++e) {
      ov.A(d, e) = static_cast<double>(L.ln1_w.data[d]) * L.W_V.data[d * KV + g * dh + e];
    }
  }
  if (c.norm == NormKind::kLayerNorm) {  // center each column: (I - 11^T/D) A
    for (int64_t e = 0; e < dh; ++e) {
      double mean = 0;
      for (int64_t d = 0; d < D; ++d) mean += ov.A(d, e);
      mean /= D;
      for (int64_t d = 0; d < D; ++d) ov.A(d, e) -= mean;
    }
  }
  ov.B = Mat(dh, D);
  for (int64_t e = 0; e < dh; ++e) {
    for (int64_t d = 0; d < D; ++d) ov.B(e, d) = L.W_O.data[(h * dh + e) * D + d];
  }
  ov.GA = MatMulT(Transpose(ov.A), ov.A);
  ov.GB = MatMulT(ov.B, Transpose(ov.B));
  ov.norm = std::sqrt(std::max(0.0, Trace(MatMulT(ov.GA, ov.GB))));
  return ov;
}

}  // namespace

std::vector<HeadPairScore> StaticHeadPairs(const Model& model, ThreadPool& pool) {
  const ModelConfig& c = model.config;
  std::vector<std::vector<HeadOV>> ov(c.n_layers, std::vector<HeadOV>(c.n_heads));
  pool.Run(static_cast<size_t>(c.n_layers) * c.n_heads, [&](size_t task, int) {
    ov[task / c.n_heads][task % c.n_heads] =
        MakeHeadOV(model, static_cast<int>(task / c.n_heads), static_cast<int>(task % c.n_heads));
  });
  std::vector<HeadPairScore> out;
  for (int lw = 0; lw < c.n_layers; ++lw) {
    for (int hw = 0; hw < c.n_heads; ++hw) {
      for (int le = lw + 1; le < c.n_layers; ++le) {
        for (int he = 0; he < c.n_heads; ++he) {
          HeadPairScore s;
          s.writer_layer = lw;
          s.writer_head = hw;
          s.eraser_layer = le;
          s.eraser_head = he;
          s.writer = absl::StrCat("L", lw, "H", hw);
          s.eraser = absl::StrCat("L", le, "H", he);
          out.push_back(std::move(s));
        }
      }
    }
  }
  pool.Run(out.size(), [&](size_t k, int) {
    HeadPairScore& s = out[k];
    const HeadOV& w = ov[s.writer_layer][s.writer_head];
    const HeadOV& e = ov[s.eraser_layer][s.eraser_head];
    const Mat M = MatMulT(w.B, e.A);  // [dh, dh]
    // ||A_w M B_e||_F^2 = tr(M^T GA_w M GB_e)
    const double prod2 = Trace(MatMulT(MatMulT(MatMulT(Transpose(M), w.GA), M), e.GB));
    const double prod = std::sqrt(std::max(0.0, prod2));
    // <W_w W_e, W_w>_F = tr(A_w M B_e B_w^T A_w^T) = tr(M (B_e B_w^T) GA_w)
    const double inner = Trace(MatMulT(MatMulT(M, MatMulT(e.B, Transpose(w.B))), w.GA));
    if (w.norm > 0 && e.norm > 0) {
      s.composition = prod / (w.norm * e.norm);
      s.signed_gain = inner / (w.norm * w.norm);
      s.signed_composition = inner / (w.norm * w.norm * e.norm);
      // A product below float noise has no direction.
      if (prod > 1e-9 * w.norm * e.norm) s.signed_cos = inner / (prod * w.norm);
    }
  });
  std::stable_sort(out.begin(), out.end(), [](const HeadPairScore& a, const HeadPairScore& b) {
    return a.signed_composition < b.signed_composition;
  });
  return out;
}

std::vector<AntiAlignedNeuron> AntiAlignedNeurons(const Model& model, double threshold) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, F = c.d_mlp;
  std::vector<AntiAlignedNeuron> out;
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = model.weights.layers[l];
    for (int64_t n = 0; n < F; ++n) {
      double dot = 0, a2 = 0, b2 = 0;
      for (int64_t d = 0; d < D; ++d) {
        const double a = L.W_in.data[d * F + n], b = L.W_out.data[n * D + d];
        dot += a * b;
        a2 += a * a;
        b2 += b * b;
      }
      if (a2 == 0 || b2 == 0) continue;
      const double cs = dot / std::sqrt(a2 * b2);
      if (cs < threshold) out.push_back({l, static_cast<int>(n), cs});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const AntiAlignedNeuron& a, const AntiAlignedNeuron& b) { return a.cos < b.cos; });
  return out;
}

}  // namespace memlens
