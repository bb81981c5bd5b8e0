// A minimal plugin host for plugin_flags_cli_test.sh: loads plugins from --plugins before
// parsing the command line (as memlens does), then prints the loaded plugins and the value of
// the flag named by its first positional argument.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "core/plugin/plugin_flags.h"

int main(int argc, char** argv) {
  absl::StatusOr<std::vector<memlens::LoadedPlugin>> plugins =
      memlens::LoadPluginsFromArgv(argc, argv);
  if (!plugins.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(plugins.status().message()).c_str());
    return 2;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  for (const memlens::LoadedPlugin& p : *plugins) std::printf("loaded %s\n", p.name.c_str());
  if (args.size() > 1) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(args[1]);
    std::printf("%s=%s\n", args[1], flag == nullptr ? "<undefined>" : flag->CurrentValue().c_str());
  }
  return 0;
}
