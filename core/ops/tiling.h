// The non-SIMD half of the matrix kernels: tile sizes (with the reasons), how a product is
// cut into thread-pool tasks, and per-thread scratch memory for packed panels. The SIMD
// bodies that use them are in matmul-inl.h and attention-inl.h.
#ifndef MEMLENS_CORE_OPS_TILING_H_
#define MEMLENS_CORE_OPS_TILING_H_

#include <cstddef>

namespace memlens {
namespace ops {

// Register tile: kMR rows of C by kNRVecs vectors (AVX2: 6 x 16 floats). The micro-kernel
// keeps kMR * kNRVecs = 12 accumulators live, plus kNRVecs B vectors and one broadcast A
// value: 15 of the 16 AVX2/SSE registers. 12 independent FMA chains cover the FMA latency
// (4-5 cycles on Zen 3/Haswell) times its throughput (2 per cycle) = 8-10 chains. Per k step
// it loads 2 B vectors and broadcasts 6 A values for 12 FMAs, under the 2-3 loads per cycle
// these cores sustain (4 x 24 would need 3 + 4 loads; equal, but 6 x 16 keeps a B panel row
// in one 64-byte cache line). This is the BLIS Haswell sgemm shape.
constexpr size_t kMR = 6;
constexpr size_t kNRVecs = 2;

// Depth of one packed B panel: kKC x NR floats = 256 x 16 x 4 B = 16 KiB, half of the
// 32 KiB L1d, so the panel stays in L1 while it is reused by every row tile of an A block,
// with room left for the 6 x kKC A rows being streamed (6 KiB).
constexpr size_t kKC = 256;
// Rows of A per block: kMC x kKC x 4 B = 96 KiB, a fifth of the 512 KiB L2 (Zen 3), so the A
// block stays in L2 while all B panels of a column block stream past it. Multiple of kMR.
constexpr size_t kMC = 96;
// Columns of B per task: the packed B block kKC x kNC x 4 B = 512 KiB streams from L2/L3
// once per A block; wide enough that its packing (K x kNC copies) is < 1% of the
// 2 x kMC x K x kNC flops it serves.
constexpr size_t kNC = 512;

// Below this many rows (fewer than one register tile: decoding a token, a short prompt)
// MatMul streams B row by row into rows of C held in L1 (axpy form): packing B would cost as
// much as the product, and reading B in panels down its columns strides over pages, which
// defeats the hardware prefetchers (measured: 3x slower than streaming for M = 1).
constexpr size_t kSmallM = kMR;

// How MatMul splits C into tasks: blocks of row_block x col_block (col_block a multiple of
// nr, row_block of kMR). Columns are split first (tasks then share no packed B); rows only
// when there are too few column blocks to keep every thread busy with some slack for load
// balancing (each extra row split re-packs its B block, which is cheap; see kNC).
struct MatMulPlan {
  size_t row_block, col_block;
  size_t row_blocks, col_blocks;
  size_t NumTasks() const { return row_blocks * col_blocks; }
};
MatMulPlan PlanMatMul(size_t M, size_t N, size_t nr, int num_threads);

// A per-thread, reusable, 64-byte aligned buffer of at least `floats` floats. `slot`
// (0..3) lets one thread hold several buffers at once. Contents are unspecified. Valid until
// the next call with the same slot on the same thread; pool threads live as long as their
// pool, so steady-state calls do not allocate.
float* ThreadScratch(int slot, size_t floats);

}  // namespace ops
}  // namespace memlens

#endif  // MEMLENS_CORE_OPS_TILING_H_
