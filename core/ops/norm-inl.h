// LayerNorm and RMSNorm, split as TransformerLens does: the per-row scale (hook_scale) and
// its application, so a caller can freeze the scale.
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_NORM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_NORM_INL_H_
#undef MEMLENS_CORE_OPS_NORM_INL_H_
#else
#define MEMLENS_CORE_OPS_NORM_INL_H_
#endif

#include <cmath>
#include <cstddef>

#include "core/ops/reduce-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
HWY_INLINE float RowMean(D d, const float* HWY_RESTRICT x, size_t n) {
  return SumOf(d, x, n, [](const auto, const auto v) HWY_ATTR { return v; }) /
         static_cast<float>(n);
}

static HWY_NOINLINE void LayerNormScaleImpl(const float* HWY_RESTRICT x, size_t rows, size_t d,
                                            float eps, float* HWY_RESTRICT scale) {
  const hn::ScalableTag<float> df;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * d;
    // Two passes (mean, then centered squares): the one-pass E[x^2] - E[x]^2 cancels badly
    // when |mean| >> std, which residual streams with large constant directions do show.
    const float mean = RowMean(df, row, d);
    const float sq = SumOf(df, row, d, [mean](const auto dv, const auto v) HWY_ATTR {
      const auto c = hn::Sub(v, hn::Set(dv, mean));
      return hn::Mul(c, c);
    });
    scale[r] = std::sqrt(sq / static_cast<float>(d) + eps);
  }
}

static HWY_NOINLINE void RMSNormScaleImpl(const float* HWY_RESTRICT x, size_t rows, size_t d,
                                          float eps, float* HWY_RESTRICT scale) {
  const hn::ScalableTag<float> df;
  for (size_t r = 0; r < rows; ++r) {
    const float sq = SumOf(df, x + r * d, d,
                           [](const auto, const auto v) HWY_ATTR { return hn::Mul(v, v); });
    scale[r] = std::sqrt(sq / static_cast<float>(d) + eps);
  }
}

static HWY_NOINLINE void LayerNormApplyImpl(const float* HWY_RESTRICT x,
                                            const float* HWY_RESTRICT scale,
                                            const float* HWY_RESTRICT w,
                                            const float* HWY_RESTRICT b, size_t rows, size_t d,
                                            float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * d;
    float* o = out + r * d;
    const float mean = RowMean(df, row, d);
    const float inv = 1.0f / scale[r];
    const auto vmean = hn::Set(df, mean);
    const auto vinv = hn::Set(df, inv);
    size_t i = 0;
    for (; i + N <= d; i += N) {
      const auto c = hn::Mul(hn::Sub(hn::LoadU(df, row + i), vmean), vinv);
      const auto bias = b ? hn::LoadU(df, b + i) : hn::Zero(df);
      hn::StoreU(hn::MulAdd(c, hn::LoadU(df, w + i), bias), df, o + i);
    }
    for (; i < d; ++i) o[i] = (row[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
  }
}

static HWY_NOINLINE void RMSNormApplyImpl(const float* HWY_RESTRICT x,
                                          const float* HWY_RESTRICT scale,
                                          const float* HWY_RESTRICT w, size_t rows, size_t d,
                                          float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * d;
    float* o = out + r * d;
    const float inv = 1.0f / scale[r];
    const auto vinv = hn::Set(df, inv);
    size_t i = 0;
    for (; i + N <= d; i += N) {
      auto v = hn::Mul(hn::LoadU(df, row + i), vinv);
      if (w) v = hn::Mul(v, hn::LoadU(df, w + i));
      hn::StoreU(v, df, o + i);
    }
    for (; i < d; ++i) o[i] = row[i] * inv * (w ? w[i] : 1.0f);
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_NORM_INL_H_
