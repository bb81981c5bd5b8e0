// Accuracy of the vectorized erf (core/ops/erf-inl.h) against std::erf in double, on every
// compiled Highway target this CPU supports.
//
// By default the grid is every 256th float in [0, 6] (~4e6 points, 32768 per binade; erf is
// odd and the code sign-symmetric, checked separately). MEMLENS_ERF_FULL=1 tests every float
// in [0, 6] (1.09e9, a minute per target with -c opt).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/erf_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

#include "core/ops/erf-inl.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

static float FloatFromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Error in units of the last place of the correctly rounded result.
static double UlpError(float got, double exact) {
  const float rounded = static_cast<float>(exact);
  const double ulp = rounded == 0.0f ? std::ldexp(1.0, -149)
                                     : std::nextafter(std::fabs(rounded), 1e30f) -
                                           std::fabs(rounded);
  return std::fabs(static_cast<double>(got) - exact) / ulp;
}

HWY_NOINLINE void TestErfAccuracy() {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const char* full = std::getenv("MEMLENS_ERF_FULL");
  const uint32_t step = (full && full[0] == '1') ? 1 : 256;
  uint32_t end_bits;
  const float kEnd = 6.0f;
  std::memcpy(&end_bits, &kEnd, 4);

  std::vector<float> in(N), out(N), neg(N);
  double max_ulp = 0.0;
  float worst = 0.0f;
  for (uint32_t bits = 0; bits <= end_bits;) {
    for (size_t i = 0; i < N; ++i, bits += step) in[i] = FloatFromBits(bits);
    const auto v = hn::LoadU(d, in.data());
    hn::StoreU(Erf(d, v), d, out.data());
    // Sign symmetry: erf(-x) == -erf(x) exactly (the code works on |x| and copies the sign).
    hn::StoreU(hn::Neg(Erf(d, hn::Neg(v))), d, neg.data());
    for (size_t i = 0; i < N; ++i) {
      const double e = UlpError(out[i], std::erf(static_cast<double>(in[i])));
      if (e > max_ulp) {
        max_ulp = e;
        worst = in[i];
      }
      ASSERT_EQ(neg[i], out[i]) << in[i];
    }
  }
  std::printf("%s: erf max error %.4f ulp at x = %.9g (step %u)\n",
              hwy::TargetName(HWY_TARGET), max_ulp, worst, step);
  // Bound: Juffa's approximation is 0.99 ulp with a correctly rounded expf (FMA Horner).
  // Highway's Exp adds at most 1 ulp of exp's result; in the tail exp(Q) = erfc(x) < 0.19
  // while erf > 0.81, so that is < 2^-26 / 2^-24 = 0.25 ulp of erf. Total < 1.25 ulp. (Targets
  // without FMA round each Horner step twice; they measure 1.15, inside the same bound.)
  EXPECT_LT(max_ulp, 1.25);
}

HWY_NOINLINE void TestErfSpecialValues() {
  const hn::CappedTag<float, 1> d;
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(hn::GetLane(Erf(d, hn::Set(d, 0.0f))), 0.0f);
  EXPECT_EQ(hn::GetLane(Erf(d, hn::Set(d, inf))), 1.0f);
  EXPECT_EQ(hn::GetLane(Erf(d, hn::Set(d, -inf))), -1.0f);
  EXPECT_EQ(hn::GetLane(Erf(d, hn::Set(d, 1e30f))), 1.0f);
  EXPECT_TRUE(std::isnan(hn::GetLane(Erf(d, hn::Set(d, std::nanf(""))))));
  // Tiny x: erf(x) = 2x/sqrt(pi) to float precision, no underflow to zero.
  const float tiny = 1e-30f;
  EXPECT_NEAR(hn::GetLane(Erf(d, hn::Set(d, tiny))), 1.1283791670955126 * tiny, 1e-37);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace memlens {
namespace ops {
HWY_BEFORE_TEST(ErfTest);
HWY_EXPORT_AND_TEST_P(ErfTest, TestErfAccuracy);
HWY_EXPORT_AND_TEST_P(ErfTest, TestErfSpecialValues);
}  // namespace ops
}  // namespace memlens
#endif  // HWY_ONCE
