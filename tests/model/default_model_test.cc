// The model shipped in models/default loads through the same loaders as users' models
// (TransformerLens safetensors + tokenizer.json) and reproduces what its training script's
// float64 PyTorch forward pass recorded in models/default/expected.json.
#include <cmath>
#include <string>

#include "core/io/json.h"
#include "core/model/load/load_model.h"
#include "core/model/generate.h"
#include "core/tokenizer/load_tokenizer.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

constexpr char kDir[] = "models/default";

TEST(DefaultModel, MatchesTrainingScriptOutputs) {
  auto expected = json::ParseFile(std::string(kDir) + "/expected.json");
  ASSERT_TRUE(expected.ok()) << expected.status();
  auto model = LoadModel(kDir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.norm, NormKind::kLayerNorm);
  EXPECT_EQ(model->config.act, ActKind::kGeluErf);
  LoadTokenizerOptions tok_options;
  tok_options.model_vocab_size = model->config.d_vocab;
  auto tokenizer = LoadTokenizer(std::string(kDir) + "/tokenizer.json", tok_options);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ThreadPool pool(2);
  Transformer tf(*model, pool);

  const json::Value* prompts = expected->Find("prompts");
  ASSERT_NE(prompts, nullptr);
  ASSERT_GE(prompts->array().size(), 1u);
  for (const json::Value& p : prompts->array()) {
    const std::string text = p.Find("prompt")->string_value();
    std::vector<int> want_ids;
    for (const json::Value& id : p.Find("token_ids")->array()) want_ids.push_back(id.number());
    auto ids = (*tokenizer)->Encode(text, true);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, want_ids) << text;

    std::vector<int> want_continuation;
    for (const json::Value& id : p.Find("greedy_continuation_ids")->array()) {
      want_continuation.push_back(id.number());
    }
    SamplingOptions greedy;
    greedy.max_new_tokens = want_continuation.size();
    auto gen = Generate(tf, want_ids, greedy);
    ASSERT_TRUE(gen.ok()) << gen.status();
    EXPECT_EQ(gen->tokens, want_continuation) << text;
    // float32 against float64 through 4 layers of width 256: ~1e-5 of the logits' scale.
    for (const json::Value& top : p.Find("last_top5")->array()) {
      const int id = top.Find("id")->number();
      EXPECT_NEAR(gen->next_logits.data[id], top.Find("logit")->number(), 1e-4) << text;
    }
  }
  // The tokenizer reproduces the training script's encoder exactly.
  for (const json::Value& c : expected->Find("tokenizer_cases")->array()) {
    std::vector<int> want;
    for (const json::Value& id : c.Find("ids")->array()) want.push_back(id.number());
    auto ids = (*tokenizer)->Encode(c.Find("text")->string_value(), false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, want) << c.Find("text")->string_value();
    auto back = (*tokenizer)->Decode(*ids);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c.Find("text")->string_value());
  }
}

}  // namespace
}  // namespace memlens
