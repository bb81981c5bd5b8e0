#include "core/ops/reference.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace memlens {
namespace ops {
namespace reference {

void MatMul(const float* A, const float* B, const float* bias, float* C, size_t M, size_t K,
            size_t N) {
  std::vector<double> row(N);
  for (size_t i = 0; i < M; ++i) {
    for (size_t j = 0; j < N; ++j) row[j] = bias ? bias[j] : 0.0;
    for (size_t k = 0; k < K; ++k) {
      const double a = A[i * K + k];
      for (size_t j = 0; j < N; ++j) row[j] += a * B[k * N + j];
    }
    for (size_t j = 0; j < N; ++j) C[i * N + j] = static_cast<float>(row[j]);
  }
}

static double Mean(const float* x, size_t d) {
  double sum = 0.0;
  for (size_t i = 0; i < d; ++i) sum += x[i];
  return sum / static_cast<double>(d);
}

void LayerNormScale(const float* x, size_t rows, size_t d, float eps, float* scale) {
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * d;
    const double mean = Mean(row, d);
    double sq = 0.0;
    for (size_t i = 0; i < d; ++i) sq += (row[i] - mean) * (row[i] - mean);
    scale[r] = static_cast<float>(std::sqrt(sq / static_cast<double>(d) + eps));
  }
}

void RMSNormScale(const float* x, size_t rows, size_t d, float eps, float* scale) {
  for (size_t r = 0; r < rows; ++r) {
    double sq = 0.0;
    for (size_t i = 0; i < d; ++i) sq += static_cast<double>(x[r * d + i]) * x[r * d + i];
    scale[r] = static_cast<float>(std::sqrt(sq / static_cast<double>(d) + eps));
  }
}

void LayerNormApply(const float* x, const float* scale, const float* w, const float* b,
                    size_t rows, size_t d, float* out) {
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * d;
    const double mean = Mean(row, d);
    for (size_t i = 0; i < d; ++i) {
      out[r * d + i] =
          static_cast<float>((row[i] - mean) / scale[r] * w[i] + (b ? b[i] : 0.0));
    }
  }
}

void RMSNormApply(const float* x, const float* scale, const float* w, size_t rows, size_t d,
                  float* out) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < d; ++i) {
      out[r * d + i] =
          static_cast<float>(static_cast<double>(x[r * d + i]) / scale[r] * (w ? w[i] : 1.0));
    }
  }
}

double GeluErf(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }

void GeluErf(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(GeluErf(static_cast<double>(x[i])));
}

double GeluTanh(double x) {
  const double kSqrt2OverPi = 0.7978845608028654;
  return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
}

void GeluTanh(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(GeluTanh(static_cast<double>(x[i])));
}

void SwiGLU(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const double g = gate[i];
    gate[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void Rope(float* x, size_t T, size_t n_heads, size_t d_head, size_t pos0, const RotaryParams& rp) {
  const size_t half = rp.rotary_dim / 2;
  for (size_t t = 0; t < T; ++t) {
    for (size_t h = 0; h < n_heads; ++h) {
      float* p = x + (t * n_heads + h) * d_head;
      for (size_t i = 0; i < half; ++i) {
        const double freq = std::pow(static_cast<double>(rp.theta),
                                     -2.0 * static_cast<double>(i) /
                                         static_cast<double>(rp.rotary_dim));
        const double angle = static_cast<double>(pos0 + t) / rp.pos_scale * freq;
        const double c = std::cos(angle), s = std::sin(angle);
        float& a = rp.halves ? p[i] : p[2 * i];
        float& b = rp.halves ? p[i + half] : p[2 * i + 1];
        const double a0 = a, b0 = b;
        a = static_cast<float>(a0 * c - b0 * s);
        b = static_cast<float>(a0 * s + b0 * c);
      }
    }
  }
}

void AttentionScores(const float* q, const float* k, size_t T, size_t n_heads,
                     size_t n_kv_heads, size_t d_head, float scale, size_t window,
                     float* scores) {
  const size_t group = n_heads / n_kv_heads;
  for (size_t h = 0; h < n_heads; ++h) {
    const size_t g = h / group;
    for (size_t i = 0; i < T; ++i) {
      for (size_t j = 0; j < T; ++j) {
        float& out = scores[(h * T + i) * T + j];
        if (j > i || (window > 0 && i - j >= window)) {
          out = -std::numeric_limits<float>::infinity();
          continue;
        }
        double dot = 0.0;
        for (size_t c = 0; c < d_head; ++c) {
          dot += static_cast<double>(q[(i * n_heads + h) * d_head + c]) *
                 k[(j * n_kv_heads + g) * d_head + c];
        }
        out = static_cast<float>(dot / scale);
      }
    }
  }
}

void Softmax(float* x, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    double max = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < n; ++i) max = std::max<double>(max, row[i]);
    if (max == -std::numeric_limits<double>::infinity()) {
      for (size_t i = 0; i < n; ++i) row[i] = 0.0f;
      continue;
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(row[i] - max);
    for (size_t i = 0; i < n; ++i) row[i] = static_cast<float>(std::exp(row[i] - max) / sum);
  }
}

void AttentionMix(const float* pattern, const float* v, size_t T, size_t n_heads,
                  size_t n_kv_heads, size_t d_head, size_t window, float* z) {
  const size_t group = n_heads / n_kv_heads;
  for (size_t h = 0; h < n_heads; ++h) {
    const size_t g = h / group;
    for (size_t i = 0; i < T; ++i) {
      for (size_t c = 0; c < d_head; ++c) {
        double sum = 0.0;
        for (size_t j = window > 0 && i + 1 > window ? i + 1 - window : 0; j <= i; ++j) {
          sum += static_cast<double>(pattern[(h * T + i) * T + j]) *
                 v[(j * n_kv_heads + g) * d_head + c];
        }
        z[(i * n_heads + h) * d_head + c] = static_cast<float>(sum);
      }
    }
  }
}

void Add(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace reference
}  // namespace ops
}  // namespace memlens
