// Naming the plugin at fault when its code crashes or ends the process.
//
// A crash in plugin code cannot be contained in-process, but it can be named: while a
// PluginCall is alive, a pre-formatted line "plugin 'X' (file) ... in <stage>" is kept in a
// static buffer, and handlers installed on first use
// - for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (on an alternate stack, so a stack overflow
//   is named too) write it to stderr with async-signal-safe write(2) calls, then let the signal
//   take its default action (the process still dies with that signal);
// - at exit() and quick_exit() (atexit / at_quick_exit) notice that plugin code is running, say
//   "plugin 'X' called exit() in <stage>; the run failed, nothing was written" and end the
//   process with exit code 70 (EX_SOFTWARE) instead of the plugin's code (exit(0) would look
//   like success). A plugin calling _exit() directly cannot be noticed.
#ifndef MEMLENS_CORE_PLUGIN_PLUGIN_CALL_H_
#define MEMLENS_CORE_PLUGIN_PLUGIN_CALL_H_

#include <string>

#include "absl/strings/string_view.h"

namespace memlens {

// The process's exit code when a plugin calls exit() during a call.
inline constexpr int kPluginExitedCode = 70;

class PluginCall {
 public:
  // `stage` says what runs, e.g. "AnalyzePrompt (prompt 12)". Calls do not nest.
  PluginCall(absl::string_view plugin, absl::string_view file, absl::string_view stage);
  ~PluginCall();
  PluginCall(const PluginCall&) = delete;
  PluginCall& operator=(const PluginCall&) = delete;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_PLUGIN_CALL_H_
