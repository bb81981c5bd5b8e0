// Ctrl-C (SIGINT), SIGTERM and SIGHUP during a long run: the first one asks the run to stop at
// the next safe point (between prompts), so no partial output file is written, and the command
// then exits with 128 + the signal's number (130, 143, 129); a second one ends the process at
// once (by that signal's default action).
#ifndef MEMLENS_CORE_UTIL_INTERRUPT_H_
#define MEMLENS_CORE_UTIL_INTERRUPT_H_

namespace memlens {

void InstallInterruptHandler();
bool InterruptRequested();
// 128 + the number of the first signal received (130 for SIGINT), or 0 when none was.
int InterruptExitCode();

}  // namespace memlens

#endif  // MEMLENS_CORE_UTIL_INTERRUPT_H_
