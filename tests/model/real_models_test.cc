// The real pretrained models in ../shared/models reproduce the reference C implementation's
// outputs listed in ../shared/models/README.md.
#include <cmath>
#include <vector>

#include "core/model/load/load_model.h"
#include "core/model/generate.h"
#include "gtest/gtest.h"
#include "tests/shared_data.h"

namespace memlens {
namespace {

std::vector<int> Greedy(const Model& model, const std::vector<int>& prompt, int n,
                        Tensor* next_logits = nullptr) {
  ThreadPool pool(2);
  Transformer tf(model, pool);
  SamplingOptions greedy;
  greedy.max_new_tokens = n;
  auto g = Generate(tf, prompt, greedy);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return {};
  if (next_logits != nullptr) *next_logits = g->next_logits;
  return g->tokens;
}

TEST(Aidreams260K, GreedyContinuationsAndLogits) {
  MEMLENS_REQUIRE_SHARED();
  auto model = LoadModel(SharedDir() + "/models/aidreams260K/aidreams260K.bin");
  ASSERT_TRUE(model.ok()) << model.status();
  Tensor logits;
  // "I dream of"
  // "I dream of"
  EXPECT_EQ(Greedy(*model, {1, 303, 281, 269, 435, 447, 275}, 32, &logits),
            (std::vector<int>{429, 464, 448, 464, 464, 464, 464, 464, 464, 448, 429,
                              468, 342, 358, 402, 327, 446, 299, 303, 266, 437, 443,
                              434, 438, 451, 306, 443, 259, 430, 446, 299, 303}));
  // Reference logits (float64; float32 agrees to ~1e-4 per the README).
  const float expected[] = {-2.63620f, -0.34696f, -0.77104f, -2.52405f, -2.55656f, -2.39743f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(logits.data[i], expected[i], 1e-4f) << "logit " << i;
  EXPECT_NEAR(logits.data[429], 7.38392f, 1e-4f);
  EXPECT_EQ(std::max_element(logits.data.begin(), logits.data.end()) - logits.data.begin(), 429);
  // "Echoes of weights"
  EXPECT_EQ(Greedy(*model, {1, 388, 355, 260, 275, 382}, 32),
            (std::vector<int>{446, 299, 303, 266, 358, 430, 312, 266, 438, 349, 438,
                              451, 275, 429, 339, 315, 374, 448, 429, 465, 438, 340,
                              431, 338, 353, 341, 325, 266, 386, 269, 293, 446}));
}

TEST(Stories260K, GreedyFromBosWithGroupedQueryAttention) {
  MEMLENS_REQUIRE_SHARED();
  auto model = LoadModel(SharedDir() + "/models/stories260K/stories260K.bin");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.n_kv_heads, 4);
  EXPECT_EQ(model->config.n_heads, 8);
  const std::vector<int> expected = {
      461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435, 299, 362, 409, 283, 264,
      283, 452, 288, 13,  431, 431, 431, 431, 431, 431, 431, 431, 431, 431, 431, 431,
      431, 293, 430, 417, 363, 416, 315, 342, 418, 424, 400, 442, 402, 303, 266, 299,
      374, 466, 396, 303, 271, 362, 390, 469, 306, 469, 423, 314, 347, 305, 356, 333};
  EXPECT_EQ(Greedy(*model, {1}, expected.size()), expected);
}

}  // namespace
}  // namespace memlens
