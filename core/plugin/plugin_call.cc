#include "core/plugin/plugin_call.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

// Written outside handlers only; handlers read it while g_active is set.
char g_who[1024];  // "plugin 'X' (file)"
char g_stage[512];
std::atomic<bool> g_active{false};

void WriteAll(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    const ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

const char* SignalName(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic error)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort)";
    default: return "a signal";
  }
}

void OnCrash(int sig) {
  if (g_active.load()) {
    WriteAll("\nmemlens: ");
    WriteAll(g_who);
    WriteAll(" crashed with ");
    WriteAll(SignalName(sig));
    WriteAll(" in ");
    WriteAll(g_stage);
    WriteAll("; nothing was written\n");
  }
  // The default action again, so the process dies of the same signal.
  signal(sig, SIG_DFL);
  raise(sig);  // also for a signal the plugin raised itself, which would not recur
}

void OnExit() {
  if (!g_active.load()) return;
  WriteAll("memlens: ");
  WriteAll(g_who);
  WriteAll(" called exit() in ");
  WriteAll(g_stage);
  WriteAll("; the run failed, nothing was written\n");
  _exit(kPluginExitedCode);
}

void Install() {
  static char alt_stack[1 << 16];
  stack_t ss = {};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof(alt_stack);
  sigaltstack(&ss, nullptr);
  struct sigaction action = {};
  action.sa_handler = OnCrash;
  action.sa_flags = SA_RESETHAND | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  for (int sig : kSignals) sigaction(sig, &action, nullptr);
  std::atexit(OnExit);
  std::at_quick_exit(OnExit);
}

void Copy(char* dest, size_t size, const std::string& s) {
  const size_t n = s.size() < size - 1 ? s.size() : size - 1;
  std::memcpy(dest, s.data(), n);
  dest[n] = '\0';
}

}  // namespace

PluginCall::PluginCall(absl::string_view plugin, absl::string_view file, absl::string_view stage) {
  static const bool installed = (Install(), true);
  (void)installed;
  Copy(g_who, sizeof(g_who), absl::StrCat("plugin '", plugin, "' (", file, ")"));
  Copy(g_stage, sizeof(g_stage), std::string(stage));
  g_active.store(true);
}

PluginCall::~PluginCall() { g_active.store(false); }

}  // namespace memlens
