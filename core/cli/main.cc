// memlens: the command line. `memlens help` lists the subcommands; `--help` the flags.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/plugin/plugin_api.h"
#include "core/plugin/plugin_flags.h"
#include "core/report/report.h"

namespace {

using memlens::LoadedPlugin;
using PluginsOrError = absl::StatusOr<std::vector<LoadedPlugin>>;

struct Command {
  const char* name;
  int (*run)(const PluginsOrError& plugins);
  const char* summary;
  bool needs_plugins;
};

template <int (*F)()>
int NoPlugins(const PluginsOrError&) {
  return F();
}

const Command kCommands[] = {
    {"info", NoPlugins<memlens::RunInfo>, "architecture, parameter count and tensors of --model",
     false},
    {"hooks", NoPlugins<memlens::RunHooks>,
     "every hook point (TransformerLens names) with its shape", false},
    {"run", NoPlugins<memlens::RunModel>,
     "--prompt or --tokens: next-token predictions, optional --generate continuation", false},
    {"cache", NoPlugins<memlens::RunCache>,
     "--prompt, --hooks, --out: write activations as .npy/safetensors", false},
    {"plugins", memlens::RunPluginsList, "the attribution plugins found, with descriptions", true},
    {"report", memlens::RunReport,
     "--prompt or --dataset [--target --contrast] --plugins: the comparative report "
     "(--shard=I/N --state_out=FILE: one shard's state)",
     true},
};

// merge takes arguments (the state files), so main dispatches it apart from kCommands.
const Command kMerge = {"merge", nullptr,
                        "FILE... [--format --out]: the report of a sharded run from its state files",
                        true};

// The command named in argv before flags are parsed: the first argument that is a command's
// name and not the value of a preceding "--flag value" (a host flag that takes a value).
const Command* PrescanCommand(int argc, char** argv, bool* asks_help) {
  *asks_help = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (absl::StartsWith(arg, "-")) {
      absl::string_view name = absl::StripPrefix(absl::StripPrefix(arg, "-"), "-");
      if (absl::StartsWith(name, "help")) *asks_help = true;
      if (absl::StrContains(name, '=')) continue;
      const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
      if (flag != nullptr && !flag->IsOfType<bool>()) ++i;  // its value follows
      continue;
    }
    if (arg == kMerge.name) return &kMerge;
    for (const Command& c : kCommands) {
      if (arg == c.name) return &c;
    }
    return nullptr;
  }
  return nullptr;
}

std::string Usage() {
  std::string u =
      "shows where a transformer's components erase each other's output, and where direct "
      "logit attribution misleads.\n\nusage: memlens <command> [--flags]\n\ncommands:\n";
  for (const Command& c : kCommands) u += absl::StrCat("  ", c.name, std::string(9 - strlen(c.name), ' '), c.summary, "\n");
  u += absl::StrCat("  ", kMerge.name, std::string(9 - strlen(kMerge.name), ' '), kMerge.summary, "\n");
  u += "\n--help shows every flag; --helpfull also Abseil's own.";
  return u;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(Usage());
  absl::FlagsUsageConfig config;
  // --help lists memlens's own flags (and plugins'), not Abseil internals.
  config.contains_help_flags = [](absl::string_view file) {
    return file.find("core/") != absl::string_view::npos ||
           file.find("plugins/") != absl::string_view::npos;
  };
  // --version: memlens's own version (Abseil's default text names only the build type).
  config.version_string = [] {
    return absl::StrCat("memlens ", memlens::kMemlensVersion, " (plugin ABI ",
                        MEMLENS_PLUGIN_ABI_VERSION,
#ifdef NDEBUG
                        ", optimized build"
#else
                        ", debug build"
#endif
                        ")\n");
  };
  absl::SetFlagsUsageConfig(config);
  // Plugins define flags, so they load before parsing (core/plugin/plugin_flags.h), and only
  // for the commands that use them (and --help without a command, which lists their flags): a
  // plugin's code never runs for `info`. A plugin file that fails to load is named on stderr
  // and skipped; the others work.
  bool asks_help = false;
  const Command* command = PrescanCommand(argc, argv, &asks_help);
  PluginsOrError plugins = std::vector<LoadedPlugin>();
  if ((command != nullptr && command->needs_plugins) || (command == nullptr && asks_help)) {
    std::vector<absl::Status> skipped;
    plugins = memlens::LoadPluginsFromArgv(argc, argv, &skipped);
    for (const absl::Status& s : skipped) {
      std::fprintf(stderr, "memlens: skipped a plugin: %s\n", std::string(s.message()).c_str());
    }
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::fprintf(stderr, "memlens %s\n", Usage().c_str());
    return 2;
  }
  const std::string name = args[1];
  if (name == "help") {
    std::printf("memlens %s\n", Usage().c_str());
    return 0;
  }
  if (name == kMerge.name) {  // the one command with arguments: the state files
    if (absl::Status s = memlens::ValidateNumericFlags(); !s.ok()) return memlens::Fail("merge", s);
    return memlens::RunMerge(plugins, std::vector<std::string>(args.begin() + 2, args.end()));
  }
  if (args.size() > 2) {
    std::fprintf(stderr, "memlens %s: unexpected argument '%s' (flags are --name=value)\n",
                 name.c_str(), args[2]);
    return 2;
  }
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    if (absl::Status s = memlens::ValidateNumericFlags(); !s.ok()) return memlens::Fail(c.name, s);
    return c.run(plugins);
  }
  std::fprintf(stderr, "memlens: unknown command '%s'\n\nmemlens %s\n", name.c_str(),
               Usage().c_str());
  return 2;
}
