// Where the test plugins are in a test's runfiles.
#ifndef MEMLENS_TESTS_PLUGIN_PLUGIN_PATHS_H_
#define MEMLENS_TESTS_PLUGIN_PLUGIN_PATHS_H_

#include <cstdlib>
#include <string>

namespace memlens {

// $TEST_SRCDIR/<workspace>/<package>/lib<name>.so
inline std::string RunfilesPlugin(const std::string& package, const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (ws ? ws : "memlens") + "/" + package +
         "/lib" + name + ".so";
}

inline std::string TestPlugin(const std::string& name) {
  return RunfilesPlugin("tests/plugin", name);
}

inline std::string ExamplePlugin() { return RunfilesPlugin("plugins/example", "resid_norms"); }

}  // namespace memlens

#endif  // MEMLENS_TESTS_PLUGIN_PLUGIN_PATHS_H_
