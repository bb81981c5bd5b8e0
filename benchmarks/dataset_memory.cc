// Peak memory of reading a --dataset of N prompts: the streamed DatasetReader (what the host
// uses) against holding every text (what the host did before). Memory is what is measured, so
// each N runs in its own process:
//   bazel run -c opt //benchmarks:dataset_memory -- 1000 100000 1000000
// prints, per N, the peak RSS (getrusage) after reading every prompt in order and 1000 at
// random, streamed and held.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/io/dataset_reader.h"

namespace {

long PeakRssKb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Reads every prompt, then 1000 at random; returns the characters seen (so nothing is elided).
int64_t Measure(const std::string& path, bool hold) {
  auto reader = memlens::DatasetReader::Open(path);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", std::string(reader.status().message()).c_str());
    std::exit(1);
  }
  std::vector<std::string> held;
  int64_t chars = 0;
  for (int64_t i = 0; i < (*reader)->size(); ++i) {
    auto text = (*reader)->Text(i);
    chars += static_cast<int64_t>(text->size());
    if (hold) held.push_back(*std::move(text));
  }
  std::mt19937_64 rng(1);
  for (int k = 0; k < 1000; ++k) chars += (*reader)->Text(rng() % (*reader)->size())->size();
  return chars + static_cast<int64_t>(held.size());
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");
  std::printf("%10s  %14s  %14s\n", "prompts", "streamed (MB)", "held (MB)");
  for (int a = 1; a < argc; ++a) {
    const long n = std::atol(argv[a]);
    const std::string path = std::string(tmp ? tmp : "/tmp") + "/dataset_memory.txt";
    {
      std::ofstream out(path);
      for (long i = 0; i < n; ++i) {
        out << "The manual page describes how the server writes its log files, line " << i << "\n";
      }
    }
    double mb[2];
    for (int hold = 0; hold < 2; ++hold) {
      int fds[2];
      if (pipe(fds) != 0) return 1;
      const pid_t pid = fork();
      if (pid == 0) {
        Measure(path, hold == 1);
        const long kb = PeakRssKb();
        (void)!write(fds[1], &kb, sizeof(kb));
        _exit(0);
      }
      long kb = 0;
      (void)!read(fds[0], &kb, sizeof(kb));
      waitpid(pid, nullptr, 0);
      close(fds[0]);
      close(fds[1]);
      mb[hold] = kb / 1024.0;
    }
    std::printf("%10ld  %14.1f  %14.1f\n", n, mb[0], mb[1]);
    std::remove(path.c_str());
  }
  return 0;
}
