// Finding and loading plugin shared objects.
//
// dlopen flags: RTLD_NOW | RTLD_LOCAL.
// - RTLD_NOW: every undefined symbol of the plugin is resolved at load time, so a plugin built
//   against a different core (a symbol the host lacks) fails here, with dlerror's message
//   naming the symbol, instead of crashing in the middle of an analysis.
// - RTLD_LOCAL: the plugin's own symbols do not join the global namespace, so two plugins that
//   happen to define the same global symbol (a helper, a class name, the entry point itself)
//   cannot bind to each other's definitions. Nothing needs them global: the host finds the
//   entry point with dlsym on the handle, and the plugin's undefined symbols still resolve
//   against the host (exported with -rdynamic) and the shared Abseil libraries.
// - Flags: ABSL_FLAG registers itself from a static initializer that runs inside dlopen and
//   writes into Abseil's registry, which lives in the shared libabsl_flags_* loaded once for
//   the whole process. That needs no symbol visibility, so RTLD_LOCAL plugins' flags appear
//   in --helpfull and are parsed like the host's. Plugins must be loaded BEFORE
//   absl::ParseCommandLine (see plugin_flags.h), since flags defined later are unknown to it.
// Libraries are never dlclose'd: instances, flags and vtables point into them until exit.
#ifndef MEMLENS_CORE_PLUGIN_LOADER_H_
#define MEMLENS_CORE_PLUGIN_LOADER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/plugin/plugin_api.h"
#include "core/report/report.h"

namespace memlens {

struct LoadedPlugin {
  std::string name;
  std::string version;
  std::string description;
  std::string path;  // the file it came from (as found; absolute when found by search)
  const MemlensPluginDescriptor* descriptor = nullptr;
  // The Abseil flags the plugin defines (those its dlopen registered), sorted.
  std::vector<std::string> flags;
};

// Loads one plugin file and checks its descriptor. Before dlopen runs any of the file's code,
// its ELF dynamic symbol table is read (elf_symbols.h): a file that is not a regular file (see
// core/io/checked_file.h), not an x86-64 ELF shared library, has no entry point, or defines a
// flag that is already registered (the host's or another plugin's) is refused. Errors name the
// file: those, cannot dlopen (with dlerror, e.g. an undefined symbol, demangled), ABI version
// mismatch (both numbers), null descriptor, null factory, missing or invalid
// name/version/description.
absl::StatusOr<LoadedPlugin> LoadPluginFile(const std::string& path);

// The plugin directories that come with the running binary (/proc/self/exe), those that exist
// of: the install location <directory of the binary>/../lib/memlens/plugins, and for a binary
// Bazel built (<output>/bazel-out/<config>/bin/...) that build's bin/plugins, where
// memlens_plugin() targets under //plugins land. Nothing else: no parent directory is searched,
// so a copy of the binary in a scratch directory loads no planted /tmp/plugins.
std::vector<std::string> DefaultPluginDirs();
// The first of DefaultPluginDirs(), "" when there is none.
std::string DefaultPluginDir();

// The directories searched, in order: `dirs`, then the entries of $MEMLENS_PLUGIN_PATH
// (colon-separated), then DefaultPluginDirs(). Empty entries are dropped.
std::vector<std::string> PluginSearchPath(const std::vector<std::string>& dirs);

// Every lib*.so under `dirs` (recursively; Bazel's *.runfiles trees are skipped), in search
// order and sorted within a directory, each real file once. Missing directories are skipped.
std::vector<std::string> FindPluginFiles(const std::vector<std::string>& dirs);

// Loads the selected plugins from exactly `search_path` (no environment, no default).
// Each entry of `selection` is a plugin name, or a path to a .so (any entry containing '/' or
// ending in ".so"). A name is looked up in lib<name>.so files first, then in every other file
// found; only what is needed is loaded, so unselected plugins' flags stay unregistered. An
// empty selection loads every plugin found. Result order: the selection's, or by name.
// Errors: an unknown name (listing the available ones), a name two files define (naming
// both), and every load error above. When loading everything: with `skipped`, each file that
// fails (or defines a name an earlier file took) is appended there, naming the file, and the
// others load, while files that are not memlens plugins at all (not an ELF shared library, no
// entry point: NotFound) are ignored; without it, all failures are listed in one error.
absl::StatusOr<std::vector<LoadedPlugin>> LoadPluginsFrom(
    const std::vector<std::string>& selection, const std::vector<std::string>& search_path,
    std::vector<absl::Status>* skipped = nullptr);

// LoadPluginsFrom(selection, PluginSearchPath(dirs), skipped): what `memlens` does with
// --plugins and --plugin_dir.
absl::StatusOr<std::vector<LoadedPlugin>> LoadPlugins(const std::vector<std::string>& selection,
                                                      const std::vector<std::string>& dirs,
                                                      std::vector<absl::Status>* skipped = nullptr);

// What `memlens plugins` shows, as a report (render it in any format): a table of the plugins
// (name, version, description, file) and a table of their flags (plugin, flag, default,
// current value, help).
Report DescribePlugins(const std::vector<LoadedPlugin>& plugins);

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_LOADER_H_
