// Public entry points of the kernels: each dispatches once, here, to the best Highway target
// for this CPU; everything below runs inside that target's code (HWY_NAMESPACE).

#include "core/ops/ops.h"

#include <algorithm>
#include <cstddef>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/ops/ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "core/ops/activations-inl.h"
#include "core/ops/attention-inl.h"
#include "core/ops/matmul-inl.h"
#include "core/ops/norm-inl.h"
#include "core/ops/rope-inl.h"
#include "core/ops/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {

static HWY_NOINLINE void SoftmaxImpl(float* HWY_RESTRICT x, size_t rows, size_t n,
                                     ThreadPool& pool) {
  // Enough rows per task to amortize the task hand-off (~1 us) against ~n ns of work per row.
  const size_t rows_per_task = std::max<size_t>(1, 16384 / std::max<size_t>(n, 1));
  const size_t tasks = (rows + rows_per_task - 1) / rows_per_task;
  pool.Run(tasks, [&](size_t task, int) HWY_ATTR {
    const hwy::HWY_NAMESPACE::ScalableTag<float> d;
    const size_t r1 = std::min(rows, (task + 1) * rows_per_task);
    for (size_t r = task * rows_per_task; r < r1; ++r) SoftmaxRow(d, x + r * n, n);
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace memlens {
namespace ops {

HWY_EXPORT(MatMulImpl);
HWY_EXPORT(LayerNormScaleImpl);
HWY_EXPORT(RMSNormScaleImpl);
HWY_EXPORT(LayerNormApplyImpl);
HWY_EXPORT(RMSNormApplyImpl);
HWY_EXPORT(GeluErfImpl);
HWY_EXPORT(GeluTanhImpl);
HWY_EXPORT(SwiGLUImpl);
HWY_EXPORT(RopeImpl);
HWY_EXPORT(AttentionScoresImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(AttentionMixImpl);
HWY_EXPORT(AddImpl);

void MatMul(const float* A, const float* B, const float* bias, float* C, size_t M, size_t K,
            size_t N, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatMulImpl)(A, B, bias, C, M, K, N, pool);
}

void LayerNormScale(const float* x, size_t rows, size_t d, float eps, float* scale) {
  HWY_DYNAMIC_DISPATCH(LayerNormScaleImpl)(x, rows, d, eps, scale);
}

void RMSNormScale(const float* x, size_t rows, size_t d, float eps, float* scale) {
  HWY_DYNAMIC_DISPATCH(RMSNormScaleImpl)(x, rows, d, eps, scale);
}

void LayerNormApply(const float* x, const float* scale, const float* w, const float* b,
                    size_t rows, size_t d, float* out) {
  HWY_DYNAMIC_DISPATCH(LayerNormApplyImpl)(x, scale, w, b, rows, d, out);
}

void RMSNormApply(const float* x, const float* scale, const float* w, size_t rows, size_t d,
                  float* out) {
  HWY_DYNAMIC_DISPATCH(RMSNormApplyImpl)(x, scale, w, rows, d, out);
}

void GeluErf(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(GeluErfImpl)(x, n); }

void GeluTanh(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(GeluTanhImpl)(x, n); }

void SwiGLU(float* gate, const float* up, size_t n) {
  HWY_DYNAMIC_DISPATCH(SwiGLUImpl)(gate, up, n);
}

void Rope(float* x, size_t T, size_t n_heads, size_t d_head, size_t pos0,
          const RotaryParams& rp) {
  HWY_DYNAMIC_DISPATCH(RopeImpl)(x, T, n_heads, d_head, pos0, rp);
}

void AttentionScores(const float* q, const float* k, size_t T, size_t n_heads,
                     size_t n_kv_heads, size_t d_head, float scale, size_t window,
                     float* scores, ThreadPool& pool, size_t q_begin) {
  HWY_DYNAMIC_DISPATCH(AttentionScoresImpl)(q, k, T, n_heads, n_kv_heads, d_head, scale, window,
                                            scores, pool, q_begin);
}

void Softmax(float* x, size_t rows, size_t n, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, rows, n, pool);
}

void AttentionMix(const float* pattern, const float* v, size_t T, size_t n_heads,
                  size_t n_kv_heads, size_t d_head, size_t window, float* z, ThreadPool& pool,
                  size_t q_begin) {
  HWY_DYNAMIC_DISPATCH(AttentionMixImpl)(pattern, v, T, n_heads, n_kv_heads, d_head, window, z,
                                         pool, q_begin);
}

void Add(const float* x, float* y, size_t n) { HWY_DYNAMIC_DISPATCH(AddImpl)(x, y, n); }

}  // namespace ops
}  // namespace memlens
#endif  // HWY_ONCE
