// The memlens subcommands. Each returns the process exit code and prints its own errors.
#ifndef MEMLENS_CORE_CLI_COMMANDS_H_
#define MEMLENS_CORE_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/plugin/loader.h"
#include "core/report/render.h"

namespace memlens {

int RunInfo();    // memlens info: architecture, parameter count, tensors
int RunHooks();   // memlens hooks: every hook name with its shape
int RunModel();   // memlens run: next-token predictions and continuation
int RunCache();   // memlens cache: dump activations to files
// The plugins were loaded before the command line was parsed (their flags must exist then).
int RunPluginsList(const absl::StatusOr<std::vector<LoadedPlugin>>& plugins);
int RunReport(const absl::StatusOr<std::vector<LoadedPlugin>>& plugins);
// memlens merge FILE...: the report of a sharded run (docs/scale.md).
int RunMerge(const absl::StatusOr<std::vector<LoadedPlugin>>& plugins,
             const std::vector<std::string>& files);

// Writes a report as --format to --out (atomically) or stdout; 3 when a plugin failed.
int OutputReport(const char* command, const Report& report, ReportFormat format);

}  // namespace memlens

#endif  // MEMLENS_CORE_CLI_COMMANDS_H_
