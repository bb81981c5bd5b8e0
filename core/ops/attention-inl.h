// Causal attention scores and mixing, per head (grouped-query: head h reads kv head
// h / (n_heads / n_kv_heads)).
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_ATTENTION_INL_H_
#undef MEMLENS_CORE_OPS_ATTENTION_INL_H_
#else
#define MEMLENS_CORE_OPS_ATTENTION_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <limits>

#include "core/ops/reduce-inl.h"
#include "core/util/thread_pool.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
HWY_INLINE float DotRow(D d, const float* HWY_RESTRICT a, const float* HWY_RESTRICT b,
                        size_t n) {
  const size_t N = hn::Lanes(d);
  auto sum = hn::Zero(d);
  size_t i = 0;
  for (; i + N <= n; i += N) sum = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), sum);
  float result = hn::GetLane(hn::SumOfLanes(d, sum));
  for (; i < n; ++i) result += a[i] * b[i];
  return result;
}

constexpr size_t kAttnRowsPerTask = 32;

static HWY_NOINLINE void AttentionScoresImpl(const float* HWY_RESTRICT q,
                                             const float* HWY_RESTRICT k, size_t T,
                                             size_t n_heads, size_t n_kv_heads, size_t d_head,
                                             float scale, float* HWY_RESTRICT scores,
                                             ThreadPool& pool) {
  const size_t group = n_heads / n_kv_heads;
  const size_t row_blocks = (T + kAttnRowsPerTask - 1) / kAttnRowsPerTask;
  const float inv_scale = 1.0f / scale;
  pool.Run(n_heads * row_blocks, [&](size_t task, int) HWY_ATTR {
    const hn::ScalableTag<float> d;
    const size_t h = task / row_blocks;
    const size_t g = h / group;
    const size_t i0 = (task % row_blocks) * kAttnRowsPerTask;
    const size_t i1 = std::min(T, i0 + kAttnRowsPerTask);
    for (size_t i = i0; i < i1; ++i) {
      const float* qi = q + (i * n_heads + h) * d_head;
      float* out = scores + (h * T + i) * T;
      for (size_t j = 0; j <= i; ++j) {
        out[j] = DotRow(d, qi, k + (j * n_kv_heads + g) * d_head, d_head) * inv_scale;
      }
      for (size_t j = i + 1; j < T; ++j) out[j] = -std::numeric_limits<float>::infinity();
    }
  });
}

static HWY_NOINLINE void AttentionMixImpl(const float* HWY_RESTRICT pattern,
                                          const float* HWY_RESTRICT v, size_t T, size_t n_heads,
                                          size_t n_kv_heads, size_t d_head,
                                          float* HWY_RESTRICT z, ThreadPool& pool) {
  const size_t group = n_heads / n_kv_heads;
  const size_t row_blocks = (T + kAttnRowsPerTask - 1) / kAttnRowsPerTask;
  pool.Run(n_heads * row_blocks, [&](size_t task, int) HWY_ATTR {
    const hn::ScalableTag<float> d;
    const size_t N = hn::Lanes(d);
    const size_t h = task / row_blocks;
    const size_t g = h / group;
    const size_t i0 = (task % row_blocks) * kAttnRowsPerTask;
    const size_t i1 = std::min(T, i0 + kAttnRowsPerTask);
    for (size_t i = i0; i < i1; ++i) {
      const float* p = pattern + (h * T + i) * T;
      float* zi = z + (i * n_heads + h) * d_head;
      std::fill(zi, zi + d_head, 0.0f);
      for (size_t j = 0; j <= i; ++j) {
        const float* vj = v + (j * n_kv_heads + g) * d_head;
        const auto pj = hn::Set(d, p[j]);
        size_t c = 0;
        for (; c + N <= d_head; c += N) {
          hn::StoreU(hn::MulAdd(pj, hn::LoadU(d, vj + c), hn::LoadU(d, zi + c)), d, zi + c);
        }
        for (; c < d_head; ++c) zi[c] += p[j] * vj[c];
      }
    }
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_ATTENTION_INL_H_
