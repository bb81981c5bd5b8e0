// The --plugins and --plugin_dir flags, and loading plugins before the command line is parsed.
//
// A plugin's ABSL_FLAGs exist only once its shared object is loaded, and Abseil 20220623 has
// no "ignore unknown flags" parse. So the host finds --plugins/--plugin_dir in argv itself,
// loads the plugins, then calls absl::ParseCommandLine once on the full argv; an unknown flag
// is then a clear error, as it should be:
//
//   int main(int argc, char** argv) {
//     absl::StatusOr<std::vector<memlens::LoadedPlugin>> plugins =
//         memlens::LoadPluginsFromArgv(argc, argv);   // before parsing
//     std::vector<char*> args = absl::ParseCommandLine(argc, argv);
//     if (!plugins.ok()) { ... report plugins.status() ... }
//     ...
//   }
//
// Both flags are defined here (so the full parse accepts them); link //core/plugin:plugin_flags.
// Not seen by the pre-scan: values given only through --flagfile or --fromenv.
#ifndef MEMLENS_CORE_PLUGIN_PLUGIN_FLAGS_H_
#define MEMLENS_CORE_PLUGIN_PLUGIN_FLAGS_H_

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "core/plugin/loader.h"

ABSL_DECLARE_FLAG(std::vector<std::string>, plugins);
ABSL_DECLARE_FLAG(std::vector<std::string>, plugin_dir);

namespace memlens {

struct PluginArgs {
  std::vector<std::string> selection;  // --plugins, comma-separated (empty: all found)
  std::vector<std::string> dirs;       // --plugin_dir, comma-separated
};

// Reads --plugins and --plugin_dir from argv as Abseil would (--name=value, --name value,
// single or double dash; the last occurrence wins), stopping at "--".
PluginArgs PrescanPluginArgs(int argc, char* const argv[]);

// LoadPlugins(selection, dirs, skipped) with the pre-scanned values.
absl::StatusOr<std::vector<LoadedPlugin>> LoadPluginsFromArgv(
    int argc, char* const argv[], std::vector<absl::Status>* skipped = nullptr);

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_PLUGIN_FLAGS_H_
