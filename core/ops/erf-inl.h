// Vectorized erf and erfc for float32 (Highway 1.0.3's hwy/contrib/math has no Erf).
//
// The approximation is Norbert Juffa's erff (Stack Overflow answer "Implementing a fast and
// accurate erff", 2015; minimax coefficients found with the Remez algorithm):
//  - |x| <= 0.927734375: erf(x) = x + x * P(x^2), P of degree 5. On this interval erf is
//    close to linear, so an odd polynomial loses no accuracy to cancellation.
//  - |x| >  0.927734375: erf(x) = 1 - exp(Q(|x|)), where Q(t) = t * (poly5(t) - 1) fits
//    log(erfc(t)) (which behaves like -t^2 - log(t sqrt(pi))). Q is fitted for erf's error,
//    so exp(Q) is erfc(t) to ~1 ulp(1) in absolute terms only, not relatively.
// The split point 475/512 is where the two pieces' error curves cross.
//
// Measured against std::erf (double) over every float in [0, 5) (tests/ops/erf_test.cc):
// max error 0.99 ulp with libm expf. With Highway's Exp (itself <= 1 ulp) erf_test measures
// 1.03 ulp on AVX2 and 1.15 ulp on the targets without FMA (SSE4, SSSE3, scalar).
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_ERF_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_ERF_INL_H_
#undef MEMLENS_CORE_OPS_ERF_INL_H_
#else
#define MEMLENS_CORE_OPS_ERF_INL_H_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Below this |x| erf uses the odd polynomial, above it the exp-based tail.
constexpr float kErfSplit = 0.927734375f;  // 475/512
// erf(x) rounds to 1.0f for x >= 3.9192 (1 - erf < 2^-25); clamping the tail argument here
// keeps the polynomial inside its fitted range and away from overflow for huge |x|.
constexpr float kErfSaturate = 3.9192059040069580f;

// x + x * P(x^2): erf on |x| <= kErfSplit.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ErfSmall(D d, V x) {
  const V s = hn::Mul(x, x);
  V r = hn::Set(d, -5.96761703e-4f);
  r = hn::MulAdd(r, s, hn::Set(d, 4.99119423e-3f));
  r = hn::MulAdd(r, s, hn::Set(d, -2.67681349e-2f));
  r = hn::MulAdd(r, s, hn::Set(d, 1.12819925e-1f));
  r = hn::MulAdd(r, s, hn::Set(d, -3.76125336e-1f));
  r = hn::MulAdd(r, s, hn::Set(d, 1.28379166e-1f));
  return hn::MulAdd(r, x, x);
}

// erfc(t) ~ exp(Q(t)) for kErfSplit < t <= kErfSaturate (t is clamped to that range), with
// absolute error about 1 ulp of 1 - exp(Q) (see above; not a relatively accurate erfc).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ErfcTail(D d, V t) {
  t = hn::Min(hn::Max(t, hn::Set(d, kErfSplit)), hn::Set(d, kErfSaturate));
  const V s = hn::Mul(t, t);
  V r = hn::MulAdd(hn::Set(d, -1.72853470e-5f), t, hn::Set(d, 3.83197126e-4f));
  const V u = hn::MulAdd(hn::Set(d, -3.88396438e-3f), t, hn::Set(d, 2.42546219e-2f));
  r = hn::MulAdd(r, s, u);
  r = hn::MulAdd(r, t, hn::Set(d, -1.06777877e-1f));
  r = hn::MulAdd(r, t, hn::Set(d, -6.34846687e-1f));
  r = hn::MulAdd(r, t, hn::Set(d, -1.28717512e-1f));
  r = hn::MulSub(r, t, t);  // r * t - t
  return hn::Exp(d, r);
}

// erf(x) for every float x (NaN propagates).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Erf(D d, V x) {
  const V t = hn::Abs(x);
  const V small = ErfSmall(d, x);
  const V tail = hn::CopySignToAbs(hn::Sub(hn::Set(d, 1.0f), ErfcTail(d, t)), x);
  const V r = hn::IfThenElse(hn::Gt(t, hn::Set(d, kErfSplit)), tail, small);
  return hn::IfThenElse(hn::Eq(x, x), r, x);  // NaN in, NaN out
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_ERF_INL_H_
