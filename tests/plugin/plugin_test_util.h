// For tests that load plugins: where the plugins are in a test's runfiles, and setting the
// flags they registered.
#ifndef MEMLENS_TESTS_PLUGIN_PLUGIN_TEST_UTIL_H_
#define MEMLENS_TESTS_PLUGIN_PLUGIN_TEST_UTIL_H_

#include <cstdlib>
#include <string>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "gtest/gtest.h"

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

// A shipped plugin: plugins/<name>/lib<name>.so.
inline std::string ShippedPlugin(const std::string& name) {
  return RunfilesPlugin("plugins/" + name, name);
}

// Sets a registered flag (a plugin's, once the plugin is loaded) as --name=value would.
inline void SetFlag(const char* name, const std::string& value) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  ASSERT_NE(flag, nullptr) << name;
  std::string error;
  ASSERT_TRUE(flag->ParseFrom(value, &error)) << error;
}

}  // namespace memlens

#endif  // MEMLENS_TESTS_PLUGIN_PLUGIN_TEST_UTIL_H_
