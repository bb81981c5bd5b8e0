// Numerically stable row softmax.
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_SOFTMAX_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_SOFTMAX_INL_H_
#undef MEMLENS_CORE_OPS_SOFTMAX_INL_H_
#else
#define MEMLENS_CORE_OPS_SOFTMAX_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <limits>

#include "core/ops/reduce-inl.h"
#include "hwy/contrib/algo/transform-inl.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Softmax of one row in place. Subtracting the row max makes every exponent <= 0, so exp
// cannot overflow and the largest term is exactly 1 (the sum is >= 1: no underflow to 0).
// -inf entries give Exp(-inf) = 0 (Highway's Exp returns 0 below -104). A row that is
// entirely -inf (no finite entry) has no defined softmax; we return zeros, not NaN.
template <class D>
HWY_INLINE void SoftmaxRow(D d, float* HWY_RESTRICT x, size_t n) {
  const float max = MaxOf(d, x, n);
  if (!(max > -std::numeric_limits<float>::infinity())) {  // all -inf, or NaN
    if (std::isnan(max)) return;  // leave NaN rows as they are, visibly wrong
    for (size_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  hn::Transform(d, x, n, [max](const auto dv, const auto v) HWY_ATTR {
    return hn::Exp(dv, hn::Sub(v, hn::Set(dv, max)));
  });
  const float sum = SumOf(d, x, n, [](const auto, const auto v) HWY_ATTR { return v; });
  const float inv = 1.0f / sum;
  hn::Transform(d, x, n,
                [inv](const auto dv, const auto v) HWY_ATTR { return hn::Mul(v, hn::Set(dv, inv)); });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_SOFTMAX_INL_H_
