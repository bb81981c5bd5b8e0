#include "core/store/activation_store.h"

#include "gtest/gtest.h"

namespace memlens {
namespace {

TEST(GlobMatch, Wildcards) {
  EXPECT_TRUE(GlobMatch("blocks.*.attn.hook_z", "blocks.11.attn.hook_z"));
  EXPECT_FALSE(GlobMatch("blocks.*.attn.hook_z", "blocks.1.attn.hook_q"));
  EXPECT_TRUE(GlobMatch("blocks.?.hook_resid_*", "blocks.3.hook_resid_post"));
  EXPECT_FALSE(GlobMatch("blocks.?.hook_resid_*", "blocks.10.hook_resid_post"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYbc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYYb"));
}

TEST(HookFilter, RejectsPatternsMatchingNothing) {
  std::vector<std::string> known = {"hook_embed", "blocks.0.attn.hook_z"};
  auto ok = HookFilter::Parse("hook_embed, blocks.*.attn.hook_z", known);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->Matches("blocks.0.attn.hook_z"));
  EXPECT_FALSE(ok->Matches("blocks.0.attn.hook_q"));
  auto bad = HookFilter::Parse("blocks.*.attn.hook_zz", known);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("blocks.*.attn.hook_zz"), std::string::npos);
}

TEST(HookFilter, DefaultMatchesNothing) {
  HookFilter f;
  EXPECT_FALSE(f.Matches("hook_embed"));
  EXPECT_TRUE(HookFilter::All().Matches("hook_embed"));
}

TEST(ActivationStore, GetNamesMissingHook) {
  ActivationStore s;
  s.Put("hook_embed", Tensor({2, 3}));
  EXPECT_TRUE(s.Has("hook_embed"));
  EXPECT_EQ(s.Bytes(), 6 * sizeof(float));
  auto missing = s.Get("blocks.0.hook_resid_pre");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("blocks.0.hook_resid_pre"), std::string::npos);
}

}  // namespace
}  // namespace memlens
