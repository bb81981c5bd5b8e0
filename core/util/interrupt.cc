#include "core/util/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace memlens {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) {
  if (g_interrupted.exchange(true)) {
    signal(SIGINT, SIG_DFL);  // second Ctrl-C: stop now
    raise(SIGINT);
    return;
  }
  // Only async-signal-safe calls here.
  static const char kMessage[] =
      "\nmemlens: interrupted; stopping after the current prompt (Ctrl-C again to abort now)\n";
  (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

}  // namespace

void InstallInterruptHandler() {
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
}

bool InterruptRequested() { return g_interrupted.load(); }

}  // namespace memlens
