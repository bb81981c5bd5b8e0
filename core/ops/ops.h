// The kernels of the forward pass. Each entry point dispatches once to the best Highway target
// for this CPU; bodies live in the matching -inl.h files. Each has a scalar twin in
// core/ops/reference.h that the tests compare against on every compiled target.
//
// All matrices are row-major float32.
#ifndef MEMLENS_CORE_OPS_OPS_H_
#define MEMLENS_CORE_OPS_OPS_H_

#include <cstddef>

#include "core/util/thread_pool.h"

namespace memlens {
namespace ops {

// C[M, N] = A[M, K] @ B[K, N] (+ bias[N] broadcast over rows when bias != nullptr).
// Tiled and multithreaded.
void MatMul(const float* A, const float* B, const float* bias, float* C, size_t M, size_t K,
            size_t N, ThreadPool& pool);

// Per-row scale of a norm, as TransformerLens's hook_scale: LayerNorm sqrt(var(x) + eps),
// RMSNorm sqrt(mean(x^2) + eps). x is [rows, d]; scale is [rows].
void LayerNormScale(const float* x, size_t rows, size_t d, float eps, float* scale);
void RMSNormScale(const float* x, size_t rows, size_t d, float eps, float* scale);
// out = (x - mean(x)) / scale * w + b (b may be null). Takes the scale as input so a caller
// can freeze it at another run's value.
void LayerNormApply(const float* x, const float* scale, const float* w, const float* b,
                    size_t rows, size_t d, float* out);
// out = x / scale * w (w may be null: then out = x / scale).
void RMSNormApply(const float* x, const float* scale, const float* w, size_t rows, size_t d,
                  float* out);

// In place, elementwise.
void GeluErf(float* x, size_t n);   // x * Phi(x), exact erf (float32-accurate erf of our own)
void GeluTanh(float* x, size_t n);  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
// gate[i] = silu(gate[i]) * up[i]
void SwiGLU(float* gate, const float* up, size_t n);

// Which pairs rotary rotates and how fast (ModelConfig's rotary fields, resolved).
struct RotaryParams {
  size_t rotary_dim = 0;   // the first rotary_dim (even, <= d_head) elements of each head turn
  bool halves = false;     // pairs (i, i + rotary_dim/2) (HF rotate_half); else (2i, 2i+1)
  float theta = 10000.0f;  // pair i turns by (pos / pos_scale) * theta^(-2i / rotary_dim)
  float pos_scale = 1.0f;  // HF rope_scaling "linear" factor
};
// Rotary embedding in place on x [T, n_heads * d_head] for positions pos0 .. pos0+T-1; each
// pair (a, b) becomes (a cos - b sin, a sin + b cos); elements from rotary_dim on are untouched.
void Rope(float* x, size_t T, size_t n_heads, size_t d_head, size_t pos0, const RotaryParams& rp);

// scores[h, i, j] = q_h[i] . k_{g(h)}[j] / scale for j <= i, -inf for j > i (causal), where
// g(h) = h / (n_heads / n_kv_heads). q is [T, n_heads * d_head], k is [T, n_kv_heads * d_head],
// scores is [n_heads, T, T]. window > 0 also masks j <= i - window (local attention: each query
// sees its last `window` tokens, itself included); 0 = global.
// q_begin > 0 computes only the query rows q_begin .. T-1 (against keys 0 .. T-1): q points at
// row q_begin and scores is [n_heads, T - q_begin, T]. Attention over blocks of queries takes a
// block's scores in memory instead of all of them, with the same numbers bit for bit when
// q_begin is a multiple of the row tile kMR (core/ops/tiling.h).
void AttentionScores(const float* q, const float* k, size_t T, size_t n_heads,
                     size_t n_kv_heads, size_t d_head, float scale, size_t window,
                     float* scores, ThreadPool& pool, size_t q_begin = 0);
// Softmax over the last axis of rows [rows, n], in place; -inf entries become 0.
void Softmax(float* x, size_t rows, size_t n, ThreadPool& pool);
// z[i, h, :] = sum_{j <= i} pattern[h, i, j] v_{g(h)}[j, :]. z is [T, n_heads * d_head].
// Causal: entries with j > i are never read (they are 0 after Softmax of causal scores).
// window > 0 (the scores' window): whole row tiles skip keys before their first row's window,
// so a local layer costs O(T window); entries outside a row's window must be 0 (as Softmax
// leaves them) since some are still read.
// q_begin > 0: only query rows q_begin .. T-1, as in AttentionScores: pattern is
// [n_heads, T - q_begin, T] and z points at row q_begin.
void AttentionMix(const float* pattern, const float* v, size_t T, size_t n_heads,
                  size_t n_kv_heads, size_t d_head, size_t window, float* z, ThreadPool& pool,
                  size_t q_begin = 0);

// y[i] += x[i]
void Add(const float* x, float* y, size_t n);

}  // namespace ops
}  // namespace memlens

#endif  // MEMLENS_CORE_OPS_OPS_H_
