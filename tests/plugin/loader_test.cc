#include "core/plugin/loader.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/plugin/plugin_test_util.h"

namespace memlens {
namespace {

namespace fs = std::filesystem;

// Every expectation about an error: it names the file, and says what is wrong.
#define EXPECT_ERROR_MENTIONS(status, text)                                            \
  EXPECT_NE(std::string((status).message()).find(text), std::string::npos) << (status)

std::string MakeTempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  std::string templ = std::string(t != nullptr ? t : "/tmp") + "/plugins.XXXXXX";
  return mkdtemp(templ.data());
}

// Symlinks `target` as dir/rel (creating parent directories).
void Link(const std::string& target, const std::string& dir, const std::string& rel) {
  const fs::path p = fs::path(dir) / rel;
  fs::create_directories(p.parent_path());
  fs::create_symlink(fs::absolute(target), p);
}

TEST(LoadPluginFileTest, LoadsAPlugin) {
  const std::string path = TestPlugin("counter");
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(path);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "counter");
  EXPECT_EQ(p->version, "0.1");
  EXPECT_EQ(p->description, "Counts prompts and tokens");
  EXPECT_EQ(p->path, path);
  ASSERT_NE(p->descriptor, nullptr);
  EXPECT_EQ(p->descriptor->abi_version, MEMLENS_PLUGIN_ABI_VERSION);
  // Loading again is harmless (same handle; static initializers do not run twice).
  EXPECT_TRUE(LoadPluginFile(path).ok());
}

TEST(LoadPluginFileTest, PluginFlagsAreRegistered) {
  ASSERT_TRUE(LoadPluginFile(TestPlugin("counter")).ok());
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag("counter_label");
  ASSERT_NE(flag, nullptr);
  EXPECT_EQ(flag->DefaultValue(), "tokens");
  EXPECT_NE(flag->Filename().find("counter.cc"), std::string::npos) << flag->Filename();
  // The loader knows which flags came with which plugin, also when opened again.
  EXPECT_EQ(LoadPluginFile(TestPlugin("counter"))->flags,
            (std::vector<std::string>{"counter_full_logits", "counter_label"}));
  EXPECT_EQ(LoadPluginFile(TestPlugin("faulty"))->flags,
            (std::vector<std::string>{"faulty_mode", "faulty_stage"}));
  EXPECT_TRUE(LoadPluginFile(TestPlugin("dup_one"))->flags.empty());
}

TEST(DescribePluginsTest, ListsPluginsAndTheirFlags) {
  absl::StatusOr<std::vector<LoadedPlugin>> p =
      LoadPluginsFrom({TestPlugin("counter"), ExamplePlugin()}, {});
  ASSERT_TRUE(p.ok()) << p.status();
  const Report r = DescribePlugins(*p);
  ASSERT_EQ(r.sections.size(), 1u);
  const Table& list = absl::get<Table>(r.sections[0].items[0]);
  ASSERT_EQ(list.rows.size(), 2u);
  EXPECT_EQ(list.rows[1][0].str(), "resid_norms");
  EXPECT_EQ(list.rows[1][3].str(), ExamplePlugin());
  const Table& flags = absl::get<Table>(r.sections[0].items[1]);
  ASSERT_EQ(flags.rows.size(), 3u);
  EXPECT_EQ(flags.rows[0][1].str(), "--counter_full_logits");
  EXPECT_EQ(flags.rows[1][1].str(), "--counter_label");
  EXPECT_EQ(flags.rows[1][2].str(), "tokens");
  EXPECT_EQ(flags.rows[2][1].str(), "--resid_norms_rms");
  EXPECT_NE(flags.rows[2][4].str().find("RMS"), std::string::npos);
}

TEST(LoadPluginFileTest, AbiMismatchSaysBothNumbers) {
  const std::string path = TestPlugin("abi_mismatch");
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_ERROR_MENTIONS(p.status(), path);
  EXPECT_ERROR_MENTIONS(p.status(),
                        absl::StrCat("plugin ABI version ", MEMLENS_PLUGIN_ABI_VERSION + 1000,
                                     ", but this memlens expects ", MEMLENS_PLUGIN_ABI_VERSION));
}

TEST(LoadPluginFileTest, MissingEntryPoint) {
  const std::string path = TestPlugin("no_entry");
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_ERROR_MENTIONS(p.status(), path);
  EXPECT_ERROR_MENTIONS(p.status(), "no entry point 'memlens_plugin_descriptor'");
}

TEST(LoadPluginFileTest, NullFactory) {
  const std::string path = TestPlugin("null_factory");
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_ERROR_MENTIONS(p.status(), path);
  EXPECT_ERROR_MENTIONS(p.status(), "plugin 'null_factory' has a null factory");
}

TEST(LoadPluginFileTest, NullDescriptor) {
  const std::string path = TestPlugin("null_descriptor");
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_ERROR_MENTIONS(p.status(), path);
  EXPECT_ERROR_MENTIONS(p.status(), "memlens_plugin_descriptor() returned null");
}

TEST(LoadPluginFileTest, InvalidName) {
  const std::string path = TestPlugin("bad_name");
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_ERROR_MENTIONS(p.status(), path);
  EXPECT_ERROR_MENTIONS(p.status(), "name 'bad name,with comma' must be");
}

TEST(LoadPluginFileTest, UndefinedSymbolIsNamedAndDemangled) {
  const std::string path = TestPlugin("undefined_symbol");
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_ERROR_MENTIONS(p.status(), path);
  EXPECT_ERROR_MENTIONS(p.status(), "undefined symbol");
  EXPECT_ERROR_MENTIONS(p.status(), "memlens::FunctionMissingFromTheHost(int)");
}

TEST(LoadPluginFileTest, MissingFile) {
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile("/no/such/libplugin.so");
  ASSERT_FALSE(p.ok());
  EXPECT_ERROR_MENTIONS(p.status(), "/no/such/libplugin.so: cannot open the plugin: No such file");
}

TEST(LoadPluginFileTest, ExampleResolvesCoreSymbolsAgainstTheHost) {
  // resid_norms calls ActivationStore::Get and ReportBuilder methods that exist only in
  // this (statically linked) test binary; RTLD_NOW proves they resolve.
  absl::StatusOr<LoadedPlugin> p = LoadPluginFile(ExamplePlugin());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "resid_norms");
  EXPECT_NE(absl::FindCommandLineFlag("resid_norms_rms"), nullptr);
}

// ---------------------------------------------------------------- selection and discovery

TEST(LoadPluginsTest, DuplicateNamesByPathNameBothFiles) {
  const std::string one = TestPlugin("dup_one"), two = TestPlugin("dup_two");
  absl::StatusOr<std::vector<LoadedPlugin>> r = LoadPluginsFrom({one, two}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status(), "plugin name 'dup' is defined by two files");
  EXPECT_ERROR_MENTIONS(r.status(), one);
  EXPECT_ERROR_MENTIONS(r.status(), two);
}

TEST(LoadPluginsTest, DuplicateNamesInADirectory) {
  const std::string dir = MakeTempDir();
  Link(TestPlugin("dup_one"), dir, "a/libdup_one.so");
  Link(TestPlugin("dup_two"), dir, "b/libdup_two.so");
  for (const std::vector<std::string>& selection :
       {std::vector<std::string>{}, std::vector<std::string>{"dup"}}) {
    absl::StatusOr<std::vector<LoadedPlugin>> r = LoadPluginsFrom(selection, {dir});
    ASSERT_FALSE(r.ok());
    EXPECT_ERROR_MENTIONS(r.status(), "plugin name 'dup' is defined by two files");
    EXPECT_ERROR_MENTIONS(r.status(), dir + "/a/libdup_one.so");
    EXPECT_ERROR_MENTIONS(r.status(), dir + "/b/libdup_two.so");
  }
}

TEST(LoadPluginsTest, SameFileTwiceIsNotADuplicate) {
  const std::string path = TestPlugin("counter");
  // The name of a plugin already selected by path needs no directory.
  absl::StatusOr<std::vector<LoadedPlugin>> r = LoadPluginsFrom({path, path, "counter"}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 1u);
}

TEST(LoadPluginsTest, UnknownNameWithoutDirectories) {
  absl::StatusOr<std::vector<LoadedPlugin>> r = LoadPluginsFrom({"counter"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status(), "unknown plugin 'counter' (no plugin directories");
}

TEST(LoadPluginsTest, SelectsByNameAndPathInOrder) {
  const std::string dir = MakeTempDir();
  Link(TestPlugin("counter"), dir, "counter/libcounter.so");
  // Not following the lib<name>.so convention: found by loading it.
  Link(ExamplePlugin(), dir, "example/libsomething_else.so");
  Link(TestPlugin("abi_mismatch"), dir, "broken/libabi_mismatch.so");  // never needed
  absl::StatusOr<std::vector<LoadedPlugin>> r =
      LoadPluginsFrom({"resid_norms", TestPlugin("faulty"), "counter"}, {dir});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "resid_norms");
  EXPECT_EQ((*r)[0].path, dir + "/example/libsomething_else.so");
  EXPECT_EQ((*r)[1].name, "faulty");
  EXPECT_EQ((*r)[2].name, "counter");
}

TEST(LoadPluginsTest, UnknownNameListsWhatIsAvailable) {
  const std::string dir = MakeTempDir();
  Link(TestPlugin("counter"), dir, "libcounter.so");
  Link(ExamplePlugin(), dir, "libresid_norms.so");
  Link(TestPlugin("no_entry"), dir, "libno_entry.so");
  absl::StatusOr<std::vector<LoadedPlugin>> r = LoadPluginsFrom({"dla"}, {dir});
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status(), "unknown plugin 'dla'");
  EXPECT_ERROR_MENTIONS(r.status(), "available: counter, resid_norms");
  EXPECT_ERROR_MENTIONS(r.status(), dir + "/libno_entry.so: not a memlens plugin");
}

TEST(LoadPluginsTest, LoadAllSortsByNameAndReportsEveryBrokenFile) {
  const std::string dir = MakeTempDir();
  Link(TestPlugin("counter"), dir, "x/libcounter.so");
  Link(ExamplePlugin(), dir, "a/libresid_norms.so");
  absl::StatusOr<std::vector<LoadedPlugin>> r = LoadPluginsFrom({}, {dir});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "counter");
  EXPECT_EQ((*r)[1].name, "resid_norms");

  Link(TestPlugin("abi_mismatch"), dir, "libabi_mismatch.so");
  Link(TestPlugin("null_factory"), dir, "libnull_factory.so");
  r = LoadPluginsFrom({}, {dir});
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status(), "2 plugin files failed to load");
  EXPECT_ERROR_MENTIONS(r.status(), dir + "/libabi_mismatch.so: plugin ABI version");
  EXPECT_ERROR_MENTIONS(r.status(), dir + "/libnull_factory.so: invalid plugin descriptor");
}

TEST(FindPluginFilesTest, SkipsRunfilesOtherFilesAndDuplicates) {
  const std::string dir = MakeTempDir(), dir2 = MakeTempDir();
  Link(TestPlugin("counter"), dir, "counter/libcounter.so");
  Link(TestPlugin("counter"), dir, "counter/libcounter.so.runfiles/memlens/libcounter.so");
  Link(TestPlugin("counter"), dir2, "libcounter_again.so");  // same real file
  Link(TestPlugin("faulty"), dir, "faulty.so");              // not lib*.so
  Link(TestPlugin("faulty"), dir, "libfaulty.so.1");         // not *.so
  Link(ExamplePlugin(), dir2, "libresid_norms.so");
  const std::vector<std::string> files =
      FindPluginFiles({dir, dir + "/does-not-exist", dir2});
  EXPECT_EQ(files, (std::vector<std::string>{dir + "/counter/libcounter.so",
                                             dir2 + "/libresid_norms.so"}));
}

TEST(PluginSearchPathTest, DirsThenEnvironmentThenDefault) {
  setenv("MEMLENS_PLUGIN_PATH", "/env/one::/env/two", 1);
  const std::vector<std::string> path = PluginSearchPath({"/flag/dir", ""});
  ASSERT_GE(path.size(), 3u);
  EXPECT_EQ(path[0], "/flag/dir");
  EXPECT_EQ(path[1], "/env/one");
  EXPECT_EQ(path[2], "/env/two");
  // Under Bazel the test binary sits below bazel-bin, whose plugins/ the default finds.
  const std::string def = DefaultPluginDir();
  ASSERT_FALSE(def.empty()) << "no plugins/ directory above " << fs::read_symlink("/proc/self/exe");
  EXPECT_EQ(path.size(), 4u);
  EXPECT_EQ(path.back(), def);
  EXPECT_TRUE(absl::EndsWith(def, "/plugins")) << def;
  unsetenv("MEMLENS_PLUGIN_PATH");
}

TEST(PluginSearchPathTest, DefaultDirectoryIsBazelBinPlugins) {
  // This test binary is bazel-bin/tests/plugin/loader_test; resid_norms (a data dependency)
  // is built to bazel-bin/plugins/example/. The default directory finds it by name, with no
  // flag and no environment, as memlens (bazel-bin/core/cli/memlens) does.
  const std::string def = DefaultPluginDir();
  ASSERT_FALSE(def.empty()) << "no plugins/ directory above " << fs::read_symlink("/proc/self/exe");
  absl::StatusOr<std::vector<LoadedPlugin>> r = LoadPlugins({"resid_norms"}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].path, def + "/example/libresid_norms.so");
}

}  // namespace
}  // namespace memlens
