// Scalar twins of every kernel in ops.h: straightforward loops, accumulating in double, used
// by the tests (tests/ops/) as the ground truth. Same signatures as ops.h minus the thread
// pool. Not for production use (slow).
#ifndef MEMLENS_CORE_OPS_REFERENCE_H_
#define MEMLENS_CORE_OPS_REFERENCE_H_

#include <cstddef>

#include "core/ops/ops.h"

namespace memlens {
namespace ops {
namespace reference {

void MatMul(const float* A, const float* B, const float* bias, float* C, size_t M, size_t K,
            size_t N);
void LayerNormScale(const float* x, size_t rows, size_t d, float eps, float* scale);
void RMSNormScale(const float* x, size_t rows, size_t d, float eps, float* scale);
void LayerNormApply(const float* x, const float* scale, const float* w, const float* b,
                    size_t rows, size_t d, float* out);
void RMSNormApply(const float* x, const float* scale, const float* w, size_t rows, size_t d,
                  float* out);
// Exact GELU: x Phi(x) = x erfc(-x / sqrt 2) / 2 in double (no cancellation for x << 0).
double GeluErf(double x);
void GeluErf(float* x, size_t n);
double GeluTanh(double x);
void GeluTanh(float* x, size_t n);
void SwiGLU(float* gate, const float* up, size_t n);
void Rope(float* x, size_t T, size_t n_heads, size_t d_head, size_t pos0, const RotaryParams& rp);
void AttentionScores(const float* q, const float* k, size_t T, size_t n_heads,
                     size_t n_kv_heads, size_t d_head, float scale, size_t window,
                     float* scores);
void Softmax(float* x, size_t rows, size_t n);
// Reads pattern[h, i, j] only for j <= i (causal), like ops::AttentionMix.
void AttentionMix(const float* pattern, const float* v, size_t T, size_t n_heads,
                  size_t n_kv_heads, size_t d_head, size_t window, float* z);
void Add(const float* x, float* y, size_t n);

}  // namespace reference
}  // namespace ops
}  // namespace memlens

#endif  // MEMLENS_CORE_OPS_REFERENCE_H_
