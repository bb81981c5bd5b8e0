#include "core/plugin/plugin_flags.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace memlens {
namespace {

PluginArgs Scan(std::vector<std::string> args) {
  args.insert(args.begin(), "memlens");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return PrescanPluginArgs(static_cast<int>(argv.size()), argv.data());
}

TEST(PrescanPluginArgsTest, FindsBothFlagsInEveryForm) {
  PluginArgs a = Scan({"report", "--plugins=dla,erasure", "--model", "m", "--plugin_dir=/a,/b"});
  EXPECT_EQ(a.selection, (std::vector<std::string>{"dla", "erasure"}));
  EXPECT_EQ(a.dirs, (std::vector<std::string>{"/a", "/b"}));

  a = Scan({"-plugins", "x,/p/liby.so", "--plugin_dir", "/d"});
  EXPECT_EQ(a.selection, (std::vector<std::string>{"x", "/p/liby.so"}));
  EXPECT_EQ(a.dirs, (std::vector<std::string>{"/d"}));
}

TEST(PrescanPluginArgsTest, LastOccurrenceWinsLikeAbseil) {
  PluginArgs a = Scan({"--plugins=a", "--plugins=b,c", "--plugin_dir=/x", "--plugin_dir=/y"});
  EXPECT_EQ(a.selection, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(a.dirs, (std::vector<std::string>{"/y"}));
}

TEST(PrescanPluginArgsTest, IgnoresOtherFlagsAndStopsAtDoubleDash) {
  PluginArgs a = Scan({"--plugins_extra=1", "--pluginsx", "--my_plugins=z", "plugins=q", "--",
                       "--plugins=after"});
  EXPECT_TRUE(a.selection.empty());
  EXPECT_TRUE(a.dirs.empty());
}

TEST(PrescanPluginArgsTest, EmptyValueAndMissingValue) {
  EXPECT_TRUE(Scan({"--plugins="}).selection.empty());
  EXPECT_TRUE(Scan({"--plugins"}).selection.empty());
}

}  // namespace
}  // namespace memlens
