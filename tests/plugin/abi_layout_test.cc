// A tripwire for the plugin ABI (core/plugin/plugin_api.h): the sizes of the types plugins and
// the host exchange, recorded for the current MEMLENS_PLUGIN_ABI_VERSION. A failure here means
// a plugin-facing type changed layout: bump MEMLENS_PLUGIN_ABI_VERSION (so plugins built
// against the old headers are refused instead of crashing) and record the new sizes.
// Sizes are for x86-64 Linux with libstdc++ (the supported platform).
#include <cstddef>

#include "core/plugin/plugin_api.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

static_assert(MEMLENS_PLUGIN_ABI_VERSION == 2,
              "the ABI version changed: record the sizes below for the new version");

TEST(PluginAbi, LayoutOfVersion2) {
  EXPECT_EQ(sizeof(Tensor), 48u);
  EXPECT_EQ(sizeof(ModelConfig), 136u);
  EXPECT_EQ(sizeof(LayerWeights), 816u);
  EXPECT_EQ(sizeof(Weights), 312u);
  EXPECT_EQ(sizeof(Model), 480u);
  EXPECT_EQ(sizeof(HookFilter), 24u);
  EXPECT_EQ(sizeof(ActivationStore), 48u);
  EXPECT_EQ(sizeof(RunOptions), 96u);
  EXPECT_EQ(sizeof(RunResult), 120u);
  EXPECT_EQ(sizeof(DatasetInfo), 80u);
  EXPECT_EQ(sizeof(AnalysisSettings), 72u);
  EXPECT_EQ(sizeof(AnalysisContext), 168u);
  EXPECT_EQ(sizeof(PromptRun), 128u);
  EXPECT_EQ(sizeof(MemlensPluginDescriptor), 40u);
}

}  // namespace
}  // namespace memlens
