// Causal attention scores and mixing, per head (grouped-query: head h reads kv head
// g = h / (n_heads / n_kv_heads)). Both are matrix products per head, run on the MatMul
// micro-kernel (matmul-inl.h) over packed K^T / V panels, skipping the masked half:
//   scores_h = Q_h K_g^T / scale   (T x d_head) (d_head x T), only tiles touching j <= i
//   z_h      = P_h V_g             (T x T) (T x d_head), only k = j < tile start, plus the
//                                  tile's own triangle j in [tile start, i] done separately
//                                  (so j > i entries of P are never read).
//
// Per-target include guard (this file is compiled once per Highway target).
#if defined(MEMLENS_CORE_OPS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MEMLENS_CORE_OPS_ATTENTION_INL_H_
#undef MEMLENS_CORE_OPS_ATTENTION_INL_H_
#else
#define MEMLENS_CORE_OPS_ATTENTION_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <limits>

#include "core/ops/matmul-inl.h"
#include "core/ops/tiling.h"
#include "core/util/thread_pool.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace memlens {
namespace ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Query rows per task: a multiple of kMR; T = 1024 with 8 heads gives ~170 tasks, enough for
// the triangle's uneven rows to balance over the threads.
constexpr size_t kAttnRowBlock = 8 * kMR;

// Tasks are numbered so that the largest (bottom) row blocks start first: the dynamic task
// queue then ends on small tasks, which keeps the threads' finishing times close. Query rows
// run from q_begin to T; blocks start at q_begin + multiples of kAttnRowBlock.
HWY_INLINE void AttnTask(size_t task, size_t row_blocks, size_t q_begin, size_t T, size_t& h,
                         size_t& i0, size_t& i1) {
  h = task / row_blocks;
  const size_t block = row_blocks - 1 - task % row_blocks;
  i0 = q_begin + block * kAttnRowBlock;
  i1 = std::min(T, i0 + kAttnRowBlock);
}

static HWY_NOINLINE void AttentionScoresImpl(const float* HWY_RESTRICT q,
                                             const float* HWY_RESTRICT k, size_t T,
                                             size_t n_heads, size_t n_kv_heads, size_t d_head,
                                             float scale, size_t window,
                                             float* HWY_RESTRICT scores, ThreadPool& pool,
                                             size_t q_begin) {
  if (q_begin >= T || n_heads == 0) return;
  const size_t R = T - q_begin;  // query rows; q and scores start at row q_begin
  const size_t group = n_heads / n_kv_heads;
  const size_t nr = PanelWidth();
  const size_t panels = (T + nr - 1) / nr;
  const size_t per_kv = panels * d_head * nr;  // packed K_g^T: panels of d_head x nr
  float* HWY_RESTRICT packed = ThreadScratch(1, n_kv_heads * per_kv);
  // K_g^T element (c, j) is k[(j n_kv + g) d_head + c]: row stride 1, column stride n_kv d_head.
  pool.Run(n_kv_heads, [&](size_t g, int) HWY_ATTR {
    PackPanels(k + g * d_head, 1, n_kv_heads * d_head, d_head, T, packed + g * per_kv);
  });

  const size_t row_blocks = (R + kAttnRowBlock - 1) / kAttnRowBlock;
  const size_t ldq = n_heads * d_head;
  const float inv_scale = 1.0f / scale;
  pool.Run(n_heads * row_blocks, [&](size_t task, int) HWY_ATTR {
    size_t h, i0, i1;
    AttnTask(task, row_blocks, q_begin, T, h, i0, i1);
    const float* packed_g = packed + (h / group) * per_kv;
    // Panel outer, row tiles inner: the panel (d_head x nr floats) stays in L1 across the
    // row tiles; the block's Q rows (kAttnRowBlock x d_head) stay in L1/L2.
    for (size_t p = 0; p * nr < i1; ++p) {
      const size_t j0 = p * nr;
      for (size_t ir = i0; ir < i1; ir += kMR) {
        const size_t rows = std::min(kMR, i1 - ir);
        if (j0 > ir + rows - 1) continue;  // the whole tile is above the diagonal
        // ... or wholly before every row's window (its last column j0 + nr - 1 <= ir - window).
        if (window > 0 && j0 + nr - 1 + window <= ir) continue;
        MicroKernelRows(rows, q + (ir - q_begin) * ldq + h * d_head, ldq,
                        packed_g + p * d_head * nr, nr, d_head,
                        scores + (h * R + ir - q_begin) * T + j0, T, std::min(nr, T - j0),
                        TileInit::kZero, nullptr, inv_scale);
      }
    }
    // Diagonal tiles also wrote some j > i; the mask overwrites them (and, for a local
    // window, everything before it, skipped tiles included).
    constexpr float kMasked = -std::numeric_limits<float>::infinity();
    for (size_t i = i0; i < i1; ++i) {
      float* HWY_RESTRICT row = scores + (h * R + i - q_begin) * T;
      std::fill(row + i + 1, row + T, kMasked);
      if (window > 0 && i >= window) std::fill(row, row + (i + 1 - window), kMasked);
    }
  });
}

static HWY_NOINLINE void AttentionMixImpl(const float* HWY_RESTRICT pattern,
                                          const float* HWY_RESTRICT v, size_t T, size_t n_heads,
                                          size_t n_kv_heads, size_t d_head, size_t window,
                                          float* HWY_RESTRICT z, ThreadPool& pool,
                                          size_t q_begin) {
  if (q_begin >= T || n_heads == 0 || d_head == 0) return;
  const size_t R = T - q_begin;  // query rows; pattern and z start at row q_begin
  const size_t group = n_heads / n_kv_heads;
  const size_t nr = PanelWidth();
  const size_t panels = (d_head + nr - 1) / nr;
  const size_t per_kv = panels * T * nr;  // packed V_g: panels of T x nr
  const size_t ldv = n_kv_heads * d_head;
  float* HWY_RESTRICT packed = ThreadScratch(1, n_kv_heads * per_kv);
  pool.Run(n_kv_heads, [&](size_t g, int) HWY_ATTR {
    PackPanels(v + g * d_head, ldv, 1, T, d_head, packed + g * per_kv);
  });

  const size_t row_blocks = (R + kAttnRowBlock - 1) / kAttnRowBlock;
  const size_t ldz = n_heads * d_head;
  pool.Run(n_heads * row_blocks, [&](size_t task, int) HWY_ATTR {
    const DF d;
    const size_t N = hn::Lanes(d);
    size_t h, i0, i1;
    AttnTask(task, row_blocks, q_begin, T, h, i0, i1);
    const size_t g = h / group;
    const float* packed_g = packed + g * per_kv;
    // Rows [ir, ir + rows) all have i >= ir, so every j < ir is in the causal past of all of
    // them: one micro-kernel call over k in [0, ir). (Blocking k by kKC to keep V panel blocks
    // in L1 measured no different here: the panel streams from L2 fast enough.)
    // A local window lets the tile start at k0 = ir + 1 - window: every row i >= ir sees no
    // key before it (the rows' own earlier limits hold zeros in the pattern).
    for (size_t p = 0; p < panels; ++p) {
      for (size_t ir = i0; ir < i1; ir += kMR) {
        const size_t k0 = window > 0 && ir + 1 > window ? ir + 1 - window : 0;
        MicroKernelRows(std::min(kMR, i1 - ir), pattern + (h * R + ir - q_begin) * T + k0, T,
                        packed_g + p * T * nr + k0 * nr, nr, ir - k0,
                        z + (ir - q_begin) * ldz + h * d_head + p * nr, ldz,
                        std::min(nr, d_head - p * nr), TileInit::kZero, nullptr);
      }
    }
    // The triangle inside each row tile: j in [tile start, i].
    for (size_t i = i0; i < i1; ++i) {
      const size_t tile_start = i0 + (i - i0) / kMR * kMR;
      const float* HWY_RESTRICT p_row = pattern + (h * R + i - q_begin) * T;
      float* HWY_RESTRICT zi = z + (i - q_begin) * ldz + h * d_head;
      for (size_t j = tile_start; j <= i; ++j) {
        const float* HWY_RESTRICT vj = v + j * ldv + g * d_head;
        const auto pj = hn::Set(d, p_row[j]);
        size_t c = 0;
        for (; c + N <= d_head; c += N) {
          hn::StoreU(hn::MulAdd(pj, hn::LoadU(d, vj + c), hn::LoadU(d, zi + c)), d, zi + c);
        }
        for (; c < d_head; ++c) zi[c] += p_row[j] * vj[c];
      }
    }
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace ops
}  // namespace memlens
HWY_AFTER_NAMESPACE();

#endif  // MEMLENS_CORE_OPS_ATTENTION_INL_H_
