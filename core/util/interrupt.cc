#include "core/util/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace memlens {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
std::atomic<int> g_signal{0};  // the first signal received

void OnInterrupt(int sig) {
  int none = 0;
  if (!g_signal.compare_exchange_strong(none, sig)) {
    signal(sig, SIG_DFL);  // a second signal: stop now
    raise(sig);
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
  for (int sig : kSignals) sigaction(sig, &action, nullptr);
}

bool InterruptRequested() { return g_signal.load() != 0; }

int InterruptExitCode() {
  const int sig = g_signal.load();
  return sig == 0 ? 0 : 128 + sig;
}

}  // namespace memlens
