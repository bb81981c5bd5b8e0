// Matrix multiplication C = A B (+ bias), row-major float32.
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_MATMUL_INL_H_
#undef MEMLENS_CORE_OPS_MATMUL_INL_H_
#else
#define MEMLENS_CORE_OPS_MATMUL_INL_H_
#endif

#include <algorithm>
#include <cstddef>

#include "core/util/thread_pool.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Computes rows [r0, r0 + kRows) x columns [c0, c0 + 2 Lanes) of C over all of K, reading A
// and B in place (A row stride lda, B row stride ldb).
template <size_t kRows, class D>
HWY_INLINE void SimpleTile(D d, const float* HWY_RESTRICT A, size_t lda,
                           const float* HWY_RESTRICT B, size_t ldb, const float* bias,
                           float* HWY_RESTRICT C, size_t ldc, size_t K) {
  const size_t N = hn::Lanes(d);
  hn::Vec<D> acc0[kRows], acc1[kRows];
  for (size_t r = 0; r < kRows; ++r) {
    acc0[r] = bias ? hn::LoadU(d, bias) : hn::Zero(d);
    acc1[r] = bias ? hn::LoadU(d, bias + N) : hn::Zero(d);
  }
  for (size_t k = 0; k < K; ++k) {
    const auto b0 = hn::LoadU(d, B + k * ldb);
    const auto b1 = hn::LoadU(d, B + k * ldb + N);
    for (size_t r = 0; r < kRows; ++r) {
      const auto a = hn::Set(d, A[r * lda + k]);
      acc0[r] = hn::MulAdd(a, b0, acc0[r]);
      acc1[r] = hn::MulAdd(a, b1, acc1[r]);
    }
  }
  for (size_t r = 0; r < kRows; ++r) {
    hn::StoreU(acc0[r], d, C + r * ldc);
    hn::StoreU(acc1[r], d, C + r * ldc + N);
  }
}

// Rows [r_begin, r_end) of C.
static HWY_INLINE void SimpleMatMulRows(const float* HWY_RESTRICT A, const float* HWY_RESTRICT B,
                                        const float* bias, float* HWY_RESTRICT C, size_t r_begin,
                                        size_t r_end, size_t K, size_t Ncols) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t r = r_begin;
  for (; r + 4 <= r_end; r += 4) {
    size_t c = 0;
    for (; c + 2 * N <= Ncols; c += 2 * N) {
      SimpleTile<4>(d, A + r * K, K, B + c, Ncols, bias ? bias + c : nullptr, C + r * Ncols + c,
                    Ncols, K);
    }
    for (size_t rr = r; rr < r + 4; ++rr) {
      for (size_t cc = c; cc < Ncols; ++cc) {
        float sum = bias ? bias[cc] : 0.0f;
        for (size_t k = 0; k < K; ++k) sum += A[rr * K + k] * B[k * Ncols + cc];
        C[rr * Ncols + cc] = sum;
      }
    }
  }
  for (; r < r_end; ++r) {
    size_t c = 0;
    for (; c + 2 * N <= Ncols; c += 2 * N) {
      SimpleTile<1>(d, A + r * K, K, B + c, Ncols, bias ? bias + c : nullptr, C + r * Ncols + c,
                    Ncols, K);
    }
    for (size_t cc = c; cc < Ncols; ++cc) {
      float sum = bias ? bias[cc] : 0.0f;
      for (size_t k = 0; k < K; ++k) sum += A[r * K + k] * B[k * Ncols + cc];
      C[r * Ncols + cc] = sum;
    }
  }
}

static HWY_NOINLINE void MatMulImpl(const float* HWY_RESTRICT A, const float* HWY_RESTRICT B,
                                    const float* bias, float* HWY_RESTRICT C, size_t M, size_t K,
                                    size_t Ncols, ThreadPool& pool) {
  constexpr size_t kRowsPerTask = 16;
  const size_t tasks = (M + kRowsPerTask - 1) / kRowsPerTask;
  pool.Run(tasks, [&](size_t task, int) HWY_ATTR {
    const size_t r0 = task * kRowsPerTask;
    SimpleMatMulRows(A, B, bias, C, r0, std::min(M, r0 + kRowsPerTask), K, Ncols);
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_MATMUL_INL_H_
