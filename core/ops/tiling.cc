#include "core/ops/tiling.h"

#include <algorithm>
#include <cstddef>

#include "hwy/aligned_allocator.h"

namespace memlens {
namespace ops {

namespace {
size_t DivCeil(size_t a, size_t b) { return (a + b - 1) / b; }
size_t RoundUp(size_t a, size_t b) { return DivCeil(a, b) * b; }
}  // namespace

MatMulPlan PlanMatMul(size_t M, size_t N, size_t nr, int num_threads) {
  MatMulPlan plan;
  // Aim for >= 4 tasks per thread so that dynamic task claiming evens out both uneven
  // tiles and the noise of other processes on shared cores.
  const size_t want_tasks = 4 * static_cast<size_t>(std::max(1, num_threads));
  size_t col_blocks = DivCeil(N, kNC);
  if (col_blocks < want_tasks) {
    // Narrower column blocks first, down to 4 panels (still 4 x kMC x K x NR flops per packed
    // panel), before splitting rows.
    col_blocks = std::min(want_tasks, std::max<size_t>(1, DivCeil(N, 4 * nr)));
  }
  plan.col_block = RoundUp(DivCeil(N, col_blocks), nr);
  plan.col_blocks = DivCeil(N, plan.col_block);
  size_t row_blocks = 1;
  if (plan.col_blocks < want_tasks) {
    row_blocks = std::min(DivCeil(want_tasks, plan.col_blocks), DivCeil(M, kMC));
    row_blocks = std::max<size_t>(1, row_blocks);
  }
  plan.row_block = RoundUp(DivCeil(M, row_blocks), kMR);
  plan.row_blocks = DivCeil(M, plan.row_block);
  return plan;
}

float* ThreadScratch(int slot, size_t floats) {
  struct Buffer {
    hwy::AlignedFreeUniquePtr<float[]> data;
    size_t capacity = 0;
  };
  thread_local Buffer buffers[4];
  Buffer& b = buffers[slot];
  if (b.capacity < floats) {
    b.data = hwy::AllocateAligned<float>(floats);
    b.capacity = floats;
  }
  return b.data.get();
}

}  // namespace ops
}  // namespace memlens
