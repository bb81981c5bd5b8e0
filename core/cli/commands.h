// The memlens subcommands. Each returns the process exit code and prints its own errors.
#ifndef MEMLENS_CORE_CLI_COMMANDS_H_
#define MEMLENS_CORE_CLI_COMMANDS_H_

namespace memlens {

int RunInfo();    // memlens info: architecture, parameter count, tensors
int RunHooks();   // memlens hooks: every hook name with its shape
int RunModel();   // memlens run: next-token predictions and continuation
int RunCache();   // memlens cache: dump activations to files

}  // namespace memlens

#endif  // MEMLENS_CORE_CLI_COMMANDS_H_
