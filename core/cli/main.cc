// memlens: the command line. `memlens help` lists the subcommands; `--help` the flags.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "core/cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)();
  const char* summary;
};

const Command kCommands[] = {
    {"info", memlens::RunInfo, "architecture, parameter count and tensors of --model"},
    {"hooks", memlens::RunHooks, "every hook point (TransformerLens names) with its shape"},
    {"run", memlens::RunModel,
     "--prompt or --tokens: next-token predictions, optional --generate continuation"},
    {"cache", memlens::RunCache, "--prompt, --hooks, --out: write activations as .npy/safetensors"},
};

std::string Usage() {
  std::string u =
      "memlens: where a transformer's components erase each other's output, and where direct "
      "logit attribution misleads.\n\nusage: memlens <command> [--flags]\n\ncommands:\n";
  for (const Command& c : kCommands) u += absl::StrCat("  ", c.name, std::string(8 - strlen(c.name), ' '), c.summary, "\n");
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
  absl::SetFlagsUsageConfig(config);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::fprintf(stderr, "%s\n", Usage().c_str());
    return 2;
  }
  const std::string name = args[1];
  if (name == "help") {
    std::printf("%s\n", Usage().c_str());
    return 0;
  }
  if (args.size() > 2) {
    std::fprintf(stderr, "memlens %s: unexpected argument '%s' (flags are --name=value)\n",
                 name.c_str(), args[2]);
    return 2;
  }
  for (const Command& c : kCommands) {
    if (name == c.name) return c.run();
  }
  std::fprintf(stderr, "memlens: unknown command '%s'\n\n%s\n", name.c_str(), Usage().c_str());
  return 2;
}
