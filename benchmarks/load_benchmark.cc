// Load time and peak memory per model format: each path on the command line is loaded in its
// own child process (so each peak RSS is that format's alone), --repeat times; the table gives
// the fastest load, the child's peak RSS (VmHWM) and that peak over the float32 weights' size.
//
//   bazel run -c opt //benchmarks:load_benchmark -- /tmp/memlens-gelu4l-random
//       /tmp/memlens-gelu4l-random-f16 ...   (one command line)
// (benchmarks/make_random_model.py writes the gelu-4l-shaped model in each format.)
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "benchmarks/gelu4l_shaped.h"
#include "core/model/load/load_model.h"

namespace {

// In the child: loads `path` `repeat` times, prints one table row, exits 0 on success.
int Measure(const std::string& path, int repeat) {
  double best_ms = 1e30;
  size_t params = 0;
  std::string format;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = memlens::ResolveModel(path);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
      std::fflush(stderr);
      return 1;
    }
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
    params = r->model.weights.NumParameters();
    format = r->model.config.format;
  }
  const double weights_mib = params * 4.0 / (1 << 20);
  const double peak = memlens::PeakRssMib();
  std::printf("%-34s %-28s %9.1f %10.0f %10.0f %7.2f\n", path.c_str(), format.c_str(), best_ms,
              weights_mib, peak, peak / weights_mib);
  std::fflush(stdout);  // the child leaves through _exit, which flushes nothing
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  std::printf("%-34s %-28s %9s %10s %10s %7s\n", "model", "format", "load ms", "f32 MiB",
              "peak MiB", "peak/w");
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--repeat=", 0) == 0) {
      repeat = std::max(1, std::atoi(arg.c_str() + 9));
      continue;
    }
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) _exit(Measure(arg, repeat));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "load_benchmark: %s failed\n", arg.c_str());
      return 1;
    }
  }
  return 0;
}
