#include "core/analysis/plugin_support.h"

#include "gtest/gtest.h"
#include "tests/random_model.h"

namespace memlens {
namespace {

TEST(PluginSupport, Positions) {
  const std::vector<int> targets = {4, 5, 6, 7, -1};
  auto all = *ParsePositionSpec("all", "f");
  EXPECT_EQ(SelectPositions(all, 5, targets, false), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(SelectPositions(all, 5, targets, true), (std::vector<int64_t>{0, 1, 2, 3}));
  auto last = *ParsePositionSpec("last", "f");
  EXPECT_EQ(SelectPositions(last, 5, targets, false), (std::vector<int64_t>{3}));
  auto list = *ParsePositionSpec("2, -2,2,0,9", "f");
  EXPECT_EQ(SelectPositions(list, 5, targets, false), (std::vector<int64_t>{2, 3}));
  auto bad = ParsePositionSpec("1,x", "dla_positions");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--dla_positions"), std::string::npos);
}

TEST(PluginSupport, NodeLists) {
  Model m = RandomModel(SmallGeluConfig(), 1);
  const std::vector<Node> nodes = ListNodes(m);
  EXPECT_EQ(*ParseNodeList("auto", nodes, "f", {3}), (std::vector<int>{3}));
  auto two = *ParseNodeList("M0, L0H1,M0", nodes, "f", {});
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(nodes[two[0]].name, "M0");
  EXPECT_EQ(nodes[two[1]].name, "L0H1");
  auto bad = ParseNodeList("L0H1,L7H0", nodes, "erasure_writer", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("L7H0"), std::string::npos);
  for (int i : ComponentNodes(nodes)) {
    EXPECT_TRUE(nodes[i].kind == NodeKind::kHead || nodes[i].kind == NodeKind::kMlp);
  }
}

TEST(PluginSupport, MixSeedSeparatesSalts) {
  EXPECT_NE(MixSeed(1, "dla"), MixSeed(1, "erasure"));
  EXPECT_EQ(MixSeed(1, "dla"), MixSeed(1, "dla"));
}

}  // namespace
}  // namespace memlens
