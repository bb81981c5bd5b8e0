// Our MatMul against OpenBLAS cblas_sgemm at the shapes of a gelu-4l forward pass over 1024
// tokens, same thread count, timed alternately in one process (the machine is shared and
// noisy: a ratio from one interleaved run means more than absolute numbers from two runs).
//
//   bazel run -c opt //benchmarks:matmul_vs_openblas -- [--threads=N] [--reps=R]
//
// Prints a markdown table: GFLOP/s (median over reps) of each and ours / OpenBLAS.
// With --threads=1 both run on the calling thread, and the times are that thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), which does not count time the thread spent descheduled: the most
// load-robust comparison of the kernels themselves. Otherwise wall-clock time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <ctime>
#include <vector>

#include "cblas.h"
#include "core/ops/ops.h"
#include "core/util/thread_pool.h"
#include "hwy/aligned_allocator.h"

namespace {

struct Shape {
  const char* name;
  size_t M, K, N;
};

bool use_thread_cpu_time = false;

double Seconds() {
  if (use_thread_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int ArgInt(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return std::atoi(argv[i] + prefix.size());
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = ArgInt(argc, argv, "threads", 0);
  const int reps = std::max(1, ArgInt(argc, argv, "reps", 7));
  memlens::ThreadPool pool(threads);
  openblas_set_num_threads(pool.NumThreads());
  use_thread_cpu_time = pool.NumThreads() == 1;

  const Shape shapes[] = {
      {"attn QKV (fused)", 1024, 512, 1536}, {"attn O / per-proj", 1024, 512, 512},
      {"mlp in", 1024, 512, 2048},           {"mlp out", 1024, 2048, 512},
      {"unembed", 1024, 512, 48262},
  };
  std::printf("threads: memlens %d, OpenBLAS %d; median of %d reps; %s\n\n", pool.NumThreads(),
              openblas_get_num_threads(), reps,
              use_thread_cpu_time ? "thread CPU time" : "wall-clock time");
  std::printf("| shape | M | K | N | memlens GFLOP/s | OpenBLAS GFLOP/s | ratio |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  double log_ratio_sum = 0;
  for (const Shape& s : shapes) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    auto A = hwy::AllocateAligned<float>(s.M * s.K);
    auto B = hwy::AllocateAligned<float>(s.K * s.N);
    auto C = hwy::AllocateAligned<float>(s.M * s.N);
    auto bias = hwy::AllocateAligned<float>(s.N);
    for (size_t i = 0; i < s.M * s.K; ++i) A[i] = dist(rng);
    for (size_t i = 0; i < s.K * s.N; ++i) B[i] = dist(rng);
    for (size_t i = 0; i < s.N; ++i) bias[i] = dist(rng);
    const double flops = 2.0 * s.M * s.K * s.N;

    auto ours = [&] {
      memlens::ops::MatMul(A.get(), B.get(), bias.get(), C.get(), s.M, s.K, s.N, pool);
    };
    auto theirs = [&] {
      // Bias as the initial C (beta = 1), the same work as ours.
      for (size_t i = 0; i < s.M; ++i) std::memcpy(&C[i * s.N], bias.get(), s.N * 4);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.M),
                  static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, A.get(),
                  static_cast<int>(s.K), B.get(), static_cast<int>(s.N), 1.0f, C.get(),
                  static_cast<int>(s.N));
    };
    ours();  // warm up: page faults, scratch allocation, OpenBLAS thread start
    theirs();
    std::vector<double> t_ours, t_theirs;
    for (int r = 0; r < reps; ++r) {
      double t0 = Seconds();
      ours();
      t_ours.push_back(Seconds() - t0);
      t0 = Seconds();
      theirs();
      t_theirs.push_back(Seconds() - t0);
    }
    const double g_ours = flops / Median(t_ours) * 1e-9;
    const double g_theirs = flops / Median(t_theirs) * 1e-9;
    log_ratio_sum += std::log(g_ours / g_theirs);
    std::printf("| %s | %zu | %zu | %zu | %.1f | %.1f | %.2f |\n", s.name, s.M, s.K, s.N, g_ours,
                g_theirs, g_ours / g_theirs);
    std::fflush(stdout);
  }
  std::printf("\ngeometric mean ratio: %.2f\n",
              std::exp(log_ratio_sum / (sizeof(shapes) / sizeof(shapes[0]))));
  return 0;
}
