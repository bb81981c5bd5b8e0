// Matrix multiplication C = A B (+ bias), row-major float32: packed B panels, a register-
// blocked FMA micro-kernel and cache blocking (Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", TOMS 2008; BLIS). Tile sizes and the task split
// are in tiling.h. The micro-kernel and packing are reused by attention-inl.h.
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
#include <cstring>

#include "core/ops/tiling.h"
#include "core/util/thread_pool.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Columns of one micro-tile / packed panel.
HWY_INLINE size_t PanelWidth() { return kNRVecs * hn::Lanes(DF()); }

// How a micro-tile's accumulators start.
enum class TileInit {
  kZero,        // C = A B
  kBias,        // C = bias + A B (bias: one row of the tile's columns)
  kAccumulate,  // C += A B (later K blocks)
};

// A row of up to 2 vectors where only `cols` floats are valid (edge tiles).
HWY_INLINE void LoadPartialRow(const float* HWY_RESTRICT p, size_t cols, VF& v0, VF& v1) {
  const DF d;
  const size_t N = hn::Lanes(d);
  HWY_ALIGN float buf[2 * HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buf, p, cols * sizeof(float));
  v0 = hn::Load(d, buf);
  v1 = hn::Load(d, buf + N);
}

HWY_INLINE void StorePartialRow(VF v0, VF v1, size_t cols, float* HWY_RESTRICT p) {
  const DF d;
  const size_t N = hn::Lanes(d);
  HWY_ALIGN float buf[2 * HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v0, d, buf);
  hn::Store(v1, d, buf + N);
  std::memcpy(p, buf, cols * sizeof(float));
}

HWY_INLINE void InitRow(TileInit init, const float* HWY_RESTRICT bias,
                        const float* HWY_RESTRICT c_row, size_t cols, VF& v0, VF& v1) {
  const DF d;
  const size_t N = hn::Lanes(d);
  if (init == TileInit::kZero) {
    v0 = hn::Zero(d);
    v1 = hn::Zero(d);
    return;
  }
  const float* src = init == TileInit::kBias ? bias : c_row;
  if (cols == 2 * N) {
    v0 = hn::LoadU(d, src);
    v1 = hn::LoadU(d, src + N);
  } else {
    LoadPartialRow(src, cols, v0, v1);
  }
}

// v += C row (cols valid).
HWY_INLINE void AddRow(const float* HWY_RESTRICT c_row, size_t cols, VF& v0, VF& v1) {
  VF c0, c1;
  InitRow(TileInit::kAccumulate, nullptr, c_row, cols, c0, c1);
  v0 = hn::Add(v0, c0);
  v1 = hn::Add(v1, c1);
}

HWY_INLINE void StoreRow(VF v0, VF v1, size_t cols, float* HWY_RESTRICT c_row) {
  const DF d;
  const size_t N = hn::Lanes(d);
  if (cols == 2 * N) {
    hn::StoreU(v0, d, c_row);
    hn::StoreU(v1, d, c_row + N);
  } else {
    StorePartialRow(v0, v1, cols, c_row);
  }
}

// The micro-kernel: C[kRows x cols] (init) + A[kRows x kc] B[kc x NR]. A is read in place
// (row stride lda; each row is a contiguous run of kc floats, so 6 prefetch streams), B is a
// panel of NR floats per k with row stride ldb (NR when packed). cols <= NR; B columns beyond
// cols must be readable (packing zero-pads them). kRows <= kMR. With alpha != 1 the result is
// alpha (init + A B) (attention's 1 / scale; only meaningful with TileInit::kZero).
template <size_t kRows>
HWY_INLINE void MicroKernel(const float* HWY_RESTRICT A, size_t lda,
                            const float* HWY_RESTRICT B, size_t ldb, size_t kc,
                            float* HWY_RESTRICT C, size_t ldc, size_t cols, TileInit init,
                            const float* HWY_RESTRICT bias, float alpha) {
  static_assert(kRows >= 1 && kRows <= kMR && kMR == 6 && kNRVecs == 2, "tile shape");
  const DF d;
  const size_t N = hn::Lanes(d);
  // When accumulating onto C (K blocks after the first), the accumulators start at zero and
  // C is added after the FMA loop, with its lines prefetched here: for a C much larger than
  // L3 (the unembedding's is 198 MB) loading C first would stall every tile for a DRAM
  // round trip (~300 cycles of a ~1500-cycle tile) before its first FMA.
  const bool accumulate = init == TileInit::kAccumulate;
  if (accumulate) {
    for (size_t r = 0; r < kRows; ++r) {
      hwy::Prefetch(C + r * ldc);
      hwy::Prefetch(C + r * ldc + 2 * N - 1);
    }
    init = TileInit::kZero;
  }
  VF c00 = hn::Zero(d), c01 = hn::Zero(d), c10 = hn::Zero(d), c11 = hn::Zero(d);
  VF c20 = hn::Zero(d), c21 = hn::Zero(d), c30 = hn::Zero(d), c31 = hn::Zero(d);
  VF c40 = hn::Zero(d), c41 = hn::Zero(d), c50 = hn::Zero(d), c51 = hn::Zero(d);
  InitRow(init, bias, C, cols, c00, c01);
  if (kRows > 1) InitRow(init, bias, C + 1 * ldc, cols, c10, c11);
  if (kRows > 2) InitRow(init, bias, C + 2 * ldc, cols, c20, c21);
  if (kRows > 3) InitRow(init, bias, C + 3 * ldc, cols, c30, c31);
  if (kRows > 4) InitRow(init, bias, C + 4 * ldc, cols, c40, c41);
  if (kRows > 5) InitRow(init, bias, C + 5 * ldc, cols, c50, c51);

  const float* HWY_RESTRICT a0 = A;
  const float* HWY_RESTRICT a1 = A + (kRows > 1 ? 1 : 0) * lda;
  const float* HWY_RESTRICT a2 = A + (kRows > 2 ? 2 : 0) * lda;
  const float* HWY_RESTRICT a3 = A + (kRows > 3 ? 3 : 0) * lda;
  const float* HWY_RESTRICT a4 = A + (kRows > 4 ? 4 : 0) * lda;
  const float* HWY_RESTRICT a5 = A + (kRows > 5 ? 5 : 0) * lda;
  for (size_t k = 0; k < kc; ++k) {
    const VF b0 = hn::LoadU(d, B);
    const VF b1 = hn::LoadU(d, B + N);
    B += ldb;
    VF a = hn::Set(d, a0[k]);
    c00 = hn::MulAdd(a, b0, c00);
    c01 = hn::MulAdd(a, b1, c01);
    if (kRows > 1) {
      a = hn::Set(d, a1[k]);
      c10 = hn::MulAdd(a, b0, c10);
      c11 = hn::MulAdd(a, b1, c11);
    }
    if (kRows > 2) {
      a = hn::Set(d, a2[k]);
      c20 = hn::MulAdd(a, b0, c20);
      c21 = hn::MulAdd(a, b1, c21);
    }
    if (kRows > 3) {
      a = hn::Set(d, a3[k]);
      c30 = hn::MulAdd(a, b0, c30);
      c31 = hn::MulAdd(a, b1, c31);
    }
    if (kRows > 4) {
      a = hn::Set(d, a4[k]);
      c40 = hn::MulAdd(a, b0, c40);
      c41 = hn::MulAdd(a, b1, c41);
    }
    if (kRows > 5) {
      a = hn::Set(d, a5[k]);
      c50 = hn::MulAdd(a, b0, c50);
      c51 = hn::MulAdd(a, b1, c51);
    }
  }

  if (alpha != 1.0f) {
    const VF va = hn::Set(d, alpha);
    c00 = hn::Mul(c00, va), c01 = hn::Mul(c01, va), c10 = hn::Mul(c10, va);
    c11 = hn::Mul(c11, va), c20 = hn::Mul(c20, va), c21 = hn::Mul(c21, va);
    c30 = hn::Mul(c30, va), c31 = hn::Mul(c31, va), c40 = hn::Mul(c40, va);
    c41 = hn::Mul(c41, va), c50 = hn::Mul(c50, va), c51 = hn::Mul(c51, va);
  }
  if (accumulate) {
    AddRow(C, cols, c00, c01);
    if (kRows > 1) AddRow(C + 1 * ldc, cols, c10, c11);
    if (kRows > 2) AddRow(C + 2 * ldc, cols, c20, c21);
    if (kRows > 3) AddRow(C + 3 * ldc, cols, c30, c31);
    if (kRows > 4) AddRow(C + 4 * ldc, cols, c40, c41);
    if (kRows > 5) AddRow(C + 5 * ldc, cols, c50, c51);
  }
  StoreRow(c00, c01, cols, C);
  if (kRows > 1) StoreRow(c10, c11, cols, C + 1 * ldc);
  if (kRows > 2) StoreRow(c20, c21, cols, C + 2 * ldc);
  if (kRows > 3) StoreRow(c30, c31, cols, C + 3 * ldc);
  if (kRows > 4) StoreRow(c40, c41, cols, C + 4 * ldc);
  if (kRows > 5) StoreRow(c50, c51, cols, C + 5 * ldc);
}

// MicroKernel for a runtime row count 1..kMR.
HWY_INLINE void MicroKernelRows(size_t rows, const float* HWY_RESTRICT A, size_t lda,
                                const float* HWY_RESTRICT B, size_t ldb, size_t kc,
                                float* HWY_RESTRICT C, size_t ldc, size_t cols, TileInit init,
                                const float* HWY_RESTRICT bias, float alpha = 1.0f) {
  switch (rows) {
    case 6: return MicroKernel<6>(A, lda, B, ldb, kc, C, ldc, cols, init, bias, alpha);
    case 5: return MicroKernel<5>(A, lda, B, ldb, kc, C, ldc, cols, init, bias, alpha);
    case 4: return MicroKernel<4>(A, lda, B, ldb, kc, C, ldc, cols, init, bias, alpha);
    case 3: return MicroKernel<3>(A, lda, B, ldb, kc, C, ldc, cols, init, bias, alpha);
    case 2: return MicroKernel<2>(A, lda, B, ldb, kc, C, ldc, cols, init, bias, alpha);
    case 1: return MicroKernel<1>(A, lda, B, ldb, kc, C, ldc, cols, init, bias, alpha);
    default: HWY_ASSERT(false);
  }
}

// Packs the kc x cols block of a matrix whose element (k, n) is at src[k * rs + n * cs]
// into one panel: dst[k * NR + c], zero-padded to NR columns. cs == 1 is the row-major
// copy (vector loads); cs != 1 gathers (attention's K^T, which is small).
HWY_INLINE void PackPanel(const float* HWY_RESTRICT src, size_t rs, size_t cs, size_t kc,
                          size_t cols, float* HWY_RESTRICT dst) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t nr = 2 * N;
  if (cs == 1 && cols == nr) {
    for (size_t k = 0; k < kc; ++k) {
      hn::Store(hn::LoadU(d, src + k * rs), d, dst + k * nr);
      hn::Store(hn::LoadU(d, src + k * rs + N), d, dst + k * nr + N);
    }
    return;
  }
  for (size_t k = 0; k < kc; ++k) {
    float* HWY_RESTRICT row = dst + k * nr;
    for (size_t c = 0; c < cols; ++c) row[c] = src[k * rs + c * cs];
    for (size_t c = cols; c < nr; ++c) row[c] = 0.0f;
  }
}

// Packs columns [0, n) of rows [0, kc) (element (k, n) at src[k * rs + n * cs]) into
// consecutive panels of kc x NR floats: panel p starts at dst + p * kc * NR.
HWY_INLINE void PackPanels(const float* HWY_RESTRICT src, size_t rs, size_t cs, size_t kc,
                           size_t n, float* HWY_RESTRICT dst) {
  const size_t nr = PanelWidth();
  for (size_t p = 0; p * nr < n; ++p) {
    PackPanel(src + p * nr * cs, rs, cs, kc, std::min(nr, n - p * nr), dst + p * kc * nr);
  }
}

// C[m0:m1, n0:n1] of C = A B + bias, for one task.
static HWY_INLINE void MatMulBlock(const float* HWY_RESTRICT A, const float* HWY_RESTRICT B,
                                   const float* HWY_RESTRICT bias, float* HWY_RESTRICT C,
                                   size_t K, size_t N, size_t m0, size_t m1, size_t n0,
                                   size_t n1) {
  const size_t nr = PanelWidth();
  const size_t width = n1 - n0;
  const size_t panels = (width + nr - 1) / nr;
  // Packed B block: kKC x width, rounded up to whole panels.
  float* HWY_RESTRICT packed = ThreadScratch(0, kKC * panels * nr);
  for (size_t pc = 0; pc < K; pc += kKC) {
    const size_t kc = std::min(kKC, K - pc);
    PackPanels(B + pc * N + n0, N, 1, kc, width, packed);
    const TileInit init =
        pc != 0 ? TileInit::kAccumulate : (bias ? TileInit::kBias : TileInit::kZero);
    for (size_t ic = m0; ic < m1; ic += kMC) {
      const size_t ic_end = std::min(m1, ic + kMC);
      for (size_t p = 0; p < panels; ++p) {
        const size_t col = n0 + p * nr;
        const size_t cols = std::min(nr, n1 - col);
        const float* panel = packed + p * kc * nr;
        for (size_t ir = ic; ir < ic_end; ir += kMR) {
          MicroKernelRows(std::min(kMR, ic_end - ir), A + ir * K + pc, K, panel, nr, kc,
                          C + ir * N + col, N, cols, init, bias ? bias + col : nullptr);
        }
      }
    }
  }
}

// The same for M < kSmallM (see tiling.h): C rows [0, M) x [n0, n1) accumulate in scratch
// (M x width floats, in L1) while B streams through row by row.
static HWY_INLINE void MatMulSmallM(const float* HWY_RESTRICT A, const float* HWY_RESTRICT B,
                                    const float* HWY_RESTRICT bias, float* HWY_RESTRICT C,
                                    size_t M, size_t K, size_t N, size_t n0, size_t n1) {
  const DF d;
  const size_t N_lanes = hn::Lanes(d);
  const size_t width = n1 - n0;
  float* HWY_RESTRICT acc = ThreadScratch(0, M * width);
  for (size_t i = 0; i < M; ++i) {
    for (size_t c = 0; c < width; ++c) acc[i * width + c] = bias ? bias[n0 + c] : 0.0f;
  }
  for (size_t k = 0; k < K; ++k) {
    const float* HWY_RESTRICT b_row = B + k * N + n0;
    for (size_t i = 0; i < M; ++i) {
      const float a = A[i * K + k];
      const auto va = hn::Set(d, a);
      float* HWY_RESTRICT acc_row = acc + i * width;
      size_t c = 0;
      for (; c + N_lanes <= width; c += N_lanes) {
        hn::StoreU(hn::MulAdd(va, hn::LoadU(d, b_row + c), hn::LoadU(d, acc_row + c)), d,
                   acc_row + c);
      }
      for (; c < width; ++c) acc_row[c] += a * b_row[c];
    }
  }
  for (size_t i = 0; i < M; ++i) {
    std::memcpy(C + i * N + n0, acc + i * width, width * sizeof(float));
  }
}

static HWY_NOINLINE void MatMulImpl(const float* HWY_RESTRICT A, const float* HWY_RESTRICT B,
                                    const float* bias, float* HWY_RESTRICT C, size_t M, size_t K,
                                    size_t N, ThreadPool& pool) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // empty sum: C = bias (or 0)
    for (size_t i = 0; i < M; ++i) {
      for (size_t j = 0; j < N; ++j) C[i * N + j] = bias ? bias[j] : 0.0f;
    }
    return;
  }
  const MatMulPlan plan = PlanMatMul(M, N, PanelWidth(), pool.NumThreads());
  pool.Run(plan.NumTasks(), [&](size_t task, int) HWY_ATTR {
    const size_t rb = task / plan.col_blocks;
    const size_t cb = task % plan.col_blocks;
    const size_t m0 = rb * plan.row_block;
    const size_t n0 = cb * plan.col_block;
    const size_t n1 = std::min(N, n0 + plan.col_block);
    if (M < kSmallM) {
      MatMulSmallM(A, B, bias, C, M, K, N, n0, n1);
    } else {
      MatMulBlock(A, B, bias, C, K, N, m0, std::min(M, m0 + plan.row_block), n0, n1);
    }
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_MATMUL_INL_H_
