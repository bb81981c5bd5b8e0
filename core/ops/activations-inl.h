// Elementwise kernels: GELU (exact erf and tanh forms), SwiGLU, Add.
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_ACTIVATIONS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_ACTIVATIONS_INL_H_
#undef MEMLENS_CORE_OPS_ACTIVATIONS_INL_H_
#else
#define MEMLENS_CORE_OPS_ACTIVATIONS_INL_H_
#endif

#include <cstddef>

#include "core/ops/erf-inl.h"
#include "hwy/contrib/algo/transform-inl.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// x * Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, as PyTorch computes it in float32,
// except that in the tails Phi is formed from e = erfc(|u|) = exp(Q) directly (Phi = e/2
// below, 1 - e/2 above) instead of rounding erf = 1 - e first: one rounding fewer, for free.
// Note that this does not give GELU *relative* accuracy for x << 0: Q is a minimax fit for
// erf's absolute error, so e is only accurate to ~1 ulp(1) in absolute terms, as with any
// 1 + erf formulation. Below x = -sqrt(2) kErfSaturate ~ -5.54 (Phi < 1.5e-8, less than
// that error) we return 0 rather than extrapolate the fit. Error bound: see ops_test.cc.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V GeluErfVec(D d, V x) {
  const V half = hn::Set(d, 0.5f);
  const V u = hn::Mul(x, hn::Set(d, 0.70710678118654752f));
  const V t = hn::Abs(u);
  const V phi_small = hn::MulAdd(half, ErfSmall(d, u), half);
  const V half_erfc = hn::Mul(half, ErfcTail(d, t));  // Phi(-|x|)
  const auto negative = hn::Lt(u, hn::Zero(d));
  V phi_tail = hn::IfThenElse(negative, half_erfc, hn::Sub(hn::Set(d, 1.0f), half_erfc));
  phi_tail = hn::IfThenZeroElse(hn::Lt(u, hn::Set(d, -kErfSaturate)), phi_tail);
  const V phi = hn::IfThenElse(hn::Gt(t, hn::Set(d, kErfSplit)), phi_tail, phi_small);
  return hn::Mul(x, phi);
}

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the GPT-2 "gelu_new" form, as written.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V GeluTanhVec(D d, V x) {
  const V x2 = hn::Mul(x, x);
  const V inner = hn::Mul(hn::Mul(hn::Set(d, 0.7978845608028654f), x),
                          hn::MulAdd(hn::Set(d, 0.044715f), x2, hn::Set(d, 1.0f)));
  const V half_x = hn::Mul(hn::Set(d, 0.5f), x);
  return hn::MulAdd(half_x, hn::Tanh(d, inner), half_x);
}

// silu(g) * up = g / (1 + exp(-g)) * up.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V SwiGLUVec(D d, V g, V up) {
  // Highway's Exp is valid up to +104 and exp(88.7) overflows; for g < -88 the exact
  // |silu(g)| <= 88 e^-88 = 5.4e-37 (times |up|), so return 0 there.
  const V neg_g = hn::Neg(g);
  const V kLimit = hn::Set(d, 88.0f);
  const V e = hn::Exp(d, hn::Min(neg_g, kLimit));
  const V silu = hn::Div(g, hn::Add(hn::Set(d, 1.0f), e));
  return hn::IfThenZeroElse(hn::Gt(neg_g, kLimit), hn::Mul(silu, up));
}

static HWY_NOINLINE void GeluErfImpl(float* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<float> d;
  hn::Transform(d, x, n, [](const auto d, const auto v) HWY_ATTR { return GeluErfVec(d, v); });
}

static HWY_NOINLINE void GeluTanhImpl(float* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<float> d;
  hn::Transform(d, x, n, [](const auto d, const auto v) HWY_ATTR { return GeluTanhVec(d, v); });
}

static HWY_NOINLINE void SwiGLUImpl(float* HWY_RESTRICT gate, const float* HWY_RESTRICT up,
                                    size_t n) {
  const hn::ScalableTag<float> d;
  hn::Transform1(d, gate, n, up, [](const auto d, const auto g, const auto u)
                                     HWY_ATTR { return SwiGLUVec(d, g, u); });
}

static HWY_NOINLINE void AddImpl(const float* HWY_RESTRICT x, float* HWY_RESTRICT y, size_t n) {
  const hn::ScalableTag<float> d;
  hn::Transform1(d, y, n, x,
                 [](const auto, const auto yv, const auto xv) HWY_ATTR { return hn::Add(yv, xv); });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_ACTIVATIONS_INL_H_
