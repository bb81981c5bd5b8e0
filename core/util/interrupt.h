// Ctrl-C during a long run: the first SIGINT asks the run to stop at the next safe point
// (between prompts), so no partial output file is written; a second one ends the process.
#ifndef MEMLENS_CORE_UTIL_INTERRUPT_H_
#define MEMLENS_CORE_UTIL_INTERRUPT_H_

namespace memlens {

void InstallInterruptHandler();
bool InterruptRequested();

}  // namespace memlens

#endif  // MEMLENS_CORE_UTIL_INTERRUPT_H_
