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
#include <algorithm>
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

// Length of x without its trailing run of -inf entries. Causal attention rows end in T - i - 1
// masked entries; skipping them saves Exp on half of all scores.
template <class D>
HWY_INLINE size_t LengthWithoutTrailingNegInf(D d, const float* HWY_RESTRICT x, size_t n) {
  const size_t N = hn::Lanes(d);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const auto vneg_inf = hn::Set(d, neg_inf);
  while (n >= N && hn::AllTrue(d, hn::Eq(hn::LoadU(d, x + n - N), vneg_inf))) n -= N;
  while (n > 0 && x[n - 1] == neg_inf) --n;
  return n;
}

// Softmax of one row in place. Subtracting the row max makes every exponent <= 0, so exp
// cannot overflow and the largest term is exactly 1 (the sum is >= 1: no underflow to 0).
// -inf entries give Exp(-inf) = 0 (Highway's Exp returns 0 below -104). A row that is
// entirely -inf (no finite entry) has no defined softmax; we return zeros, not NaN.
template <class D>
HWY_INLINE void SoftmaxRow(D d, float* HWY_RESTRICT x, size_t n) {
  const size_t n_finite = LengthWithoutTrailingNegInf(d, x, n);
  std::fill(x + n_finite, x + n, 0.0f);
  n = n_finite;
  if (n == 0) return;  // no finite entry: no defined softmax; zeros, not NaN
  const float max = MaxOf(d, x, n);
  if (std::isnan(max)) return;  // leave NaN rows as they are, visibly wrong
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
