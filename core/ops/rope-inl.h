// Rotary position embedding: llama2.c's adjacent pairs (2i, 2i+1) or HF's rotate_half pairs
// (i, i + rotary_dim/2), over the first rotary_dim elements of each head (see ops.h).
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_ROPE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_ROPE_INL_H_
#undef MEMLENS_CORE_OPS_ROPE_INL_H_
#else
#define MEMLENS_CORE_OPS_ROPE_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <vector>

#include "core/ops/ops.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Angles are computed in double and rounded once to float: at pos ~ 4096 a float angle
// pos * freq would already be off by ~2e-4 rad, far above float32 rounding of the outputs.
// sin/cos per (pos, i) are shared by all heads, so their cost is 1/n_heads of the rotation.
static HWY_NOINLINE void RopeImpl(float* HWY_RESTRICT x, size_t T, size_t n_heads,
                                  size_t d_head, size_t pos0, const RotaryParams& rp) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t half = rp.rotary_dim / 2;
  std::vector<double> inv_freq(half);
  for (size_t i = 0; i < half; ++i) {
    inv_freq[i] = std::pow(static_cast<double>(rp.theta),
                           -2.0 * static_cast<double>(i) / static_cast<double>(rp.rotary_dim)) /
                  static_cast<double>(rp.pos_scale);
  }
  std::vector<float> cos_v(half + N), sin_v(half + N);
  for (size_t t = 0; t < T; ++t) {
    const double pos = static_cast<double>(pos0 + t);
    for (size_t i = 0; i < half; ++i) {
      cos_v[i] = static_cast<float>(std::cos(pos * inv_freq[i]));
      sin_v[i] = static_cast<float>(std::sin(pos * inv_freq[i]));
    }
    for (size_t h = 0; h < n_heads; ++h) {
      float* p = x + (t * n_heads + h) * d_head;
      size_t i = 0;
      if (rp.halves) {  // pair (i, i + half): two contiguous runs
        float* p1 = p + half;
        for (; i + N <= half; i += N) {
          const auto a = hn::LoadU(d, p + i), b = hn::LoadU(d, p1 + i);
          const auto c = hn::LoadU(d, cos_v.data() + i);
          const auto s = hn::LoadU(d, sin_v.data() + i);
          hn::StoreU(hn::MulSub(a, c, hn::Mul(b, s)), d, p + i);   // a c - b s
          hn::StoreU(hn::MulAdd(a, s, hn::Mul(b, c)), d, p1 + i);  // a s + b c
        }
        for (; i < half; ++i) {
          const float a = p[i], b = p1[i];
          p[i] = a * cos_v[i] - b * sin_v[i];
          p1[i] = a * sin_v[i] + b * cos_v[i];
        }
        continue;
      }
      for (; i + N <= half; i += N) {  // pair (2i, 2i + 1)
        hn::Vec<decltype(d)> even, odd;
        hn::LoadInterleaved2(d, p + 2 * i, even, odd);
        const auto c = hn::LoadU(d, cos_v.data() + i);
        const auto s = hn::LoadU(d, sin_v.data() + i);
        const auto new_even = hn::MulSub(even, c, hn::Mul(odd, s));  // e c - o s
        const auto new_odd = hn::MulAdd(even, s, hn::Mul(odd, c));   // e s + o c
        hn::StoreInterleaved2(new_even, new_odd, d, p + 2 * i);
      }
      for (; i < half; ++i) {
        const float e = p[2 * i], o = p[2 * i + 1];
        p[2 * i] = e * cos_v[i] - o * sin_v[i];
        p[2 * i + 1] = e * sin_v[i] + o * cos_v[i];
      }
    }
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_ROPE_INL_H_
