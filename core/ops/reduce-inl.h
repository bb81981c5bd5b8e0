// Row reductions shared by the norm and softmax kernels.
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_REDUCE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_REDUCE_INL_H_
#undef MEMLENS_CORE_OPS_REDUCE_INL_H_
#else
#define MEMLENS_CORE_OPS_REDUCE_INL_H_
#endif

#include <cstddef>
#include <limits>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum_i f(x[i]) for a vector functor f. Two independent accumulators hide the FMA/add latency
// (4 cycles) half-way; more buys nothing for rows of a few thousand that are load-bound.
// Error: each lane sums ~n / (2 Lanes) terms sequentially, then a log-depth lane reduction,
// so |err| <= (n / Lanes + log2(2 Lanes) + 1) * eps * sum |f(x_i)| (Higham, Thm 4.3).
template <class D, class F>
HWY_INLINE float SumOf(D d, const float* HWY_RESTRICT x, size_t n, const F& f) {
  const size_t N = hn::Lanes(d);
  auto sum0 = hn::Zero(d);
  auto sum1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    sum0 = hn::Add(sum0, f(d, hn::LoadU(d, x + i)));
    sum1 = hn::Add(sum1, f(d, hn::LoadU(d, x + i + N)));
  }
  if (i + N <= n) {
    sum0 = hn::Add(sum0, f(d, hn::LoadU(d, x + i)));
    i += N;
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1)));
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) sum += hn::GetLane(f(d1, hn::LoadU(d1, x + i)));
  return sum;
}

template <class D>
HWY_INLINE float MaxOf(D d, const float* HWY_RESTRICT x, size_t n) {
  const size_t N = hn::Lanes(d);
  auto m = hn::Set(d, -std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + N <= n; i += N) m = hn::Max(m, hn::LoadU(d, x + i));
  float result = hn::GetLane(hn::MaxOfLanes(d, m));
  for (; i < n; ++i) result = x[i] > result ? x[i] : result;
  return result;
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_REDUCE_INL_H_
