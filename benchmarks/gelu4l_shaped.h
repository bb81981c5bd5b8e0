// The benchmarks' model: gelu-4l's shape (method.md: 4 layers, d_model 512, 8 heads of 64,
// d_mlp 2048, vocab 48262, n_ctx 1024) with seeded N(0, 0.02) weights, or the model folder
// named by $MEMLENS_BENCH_MODEL (benchmarks/make_random_model.py writes one that
// benchmarks/compare_pytorch.py and full_report_pytorch.py load into PyTorch too), and the
// environment and measurements the benchmark binaries share.
#ifndef MEMLENS_BENCHMARKS_GELU4L_SHAPED_H_
#define MEMLENS_BENCHMARKS_GELU4L_SHAPED_H_

#include <cstdint>

#include "core/model/weights.h"

namespace memlens {

// Exits with a message naming the folder when $MEMLENS_BENCH_MODEL does not load.
Model BenchmarkModel();

// $MEMLENS_THREADS, or 0 (one per hardware thread) when unset.
int BenchmarkThreads();

// $name as an integer, or `fallback` when it is unset or empty.
int64_t BenchmarkEnvInt(const char* name, int64_t fallback);

// This process's peak resident memory in MiB: VmHWM of /proc/self/status (getrusage's
// ru_maxrss would carry the peak of a launching process over exec, e.g. a Python driver's).
double PeakRssMib();

}  // namespace memlens

#endif  // MEMLENS_BENCHMARKS_GELU4L_SHAPED_H_
