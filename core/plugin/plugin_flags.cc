#include "core/plugin/plugin_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

ABSL_FLAG(std::vector<std::string>, plugins, {},
          "Plugins to run, comma-separated: names (found in the plugin directories) or paths to "
          "lib*.so files. Empty: every plugin found.");
ABSL_FLAG(std::vector<std::string>, plugin_dir, {},
          "Extra directories searched for lib*.so plugins (comma-separated), before "
          "$MEMLENS_PLUGIN_PATH (colon-separated) and the plugins installed with the memlens "
          "binary (<its directory>/../lib/memlens/plugins, or its Bazel build's plugins/).");

namespace memlens {
namespace {

// If argv[i] is --name=value / -name=value / --name value, sets *value (and advances *i past
// a separate value) and returns true.
bool MatchFlag(int argc, char* const argv[], int* i, absl::string_view name, std::string* value) {
  absl::string_view arg = argv[*i];
  if (absl::StartsWith(arg, "--")) {
    arg.remove_prefix(2);
  } else if (absl::StartsWith(arg, "-")) {
    arg.remove_prefix(1);
  } else {
    return false;
  }
  if (!absl::StartsWith(arg, name)) return false;
  arg.remove_prefix(name.size());
  if (absl::StartsWith(arg, "=")) {
    *value = std::string(arg.substr(1));
    return true;
  }
  if (!arg.empty()) return false;  // e.g. --plugins_foo
  if (*i + 1 < argc) {
    *value = argv[++*i];
    return true;
  }
  value->clear();
  return true;
}

std::vector<std::string> SplitList(absl::string_view s) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) out.emplace_back(part);
  return out;
}

}  // namespace

PluginArgs PrescanPluginArgs(int argc, char* const argv[]) {
  PluginArgs out;
  for (int i = 1; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--") break;
    std::string value;
    if (MatchFlag(argc, argv, &i, "plugins", &value)) {
      out.selection = SplitList(value);
    } else if (MatchFlag(argc, argv, &i, "plugin_dir", &value)) {
      out.dirs = SplitList(value);
    }
  }
  return out;
}

absl::StatusOr<std::vector<LoadedPlugin>> LoadPluginsFromArgv(int argc, char* const argv[],
                                                              std::vector<absl::Status>* skipped) {
  const PluginArgs args = PrescanPluginArgs(argc, argv);
  return LoadPlugins(args.selection, args.dirs, skipped);
}

}  // namespace memlens
