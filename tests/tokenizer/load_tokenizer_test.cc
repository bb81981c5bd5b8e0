#include "core/tokenizer/load_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/io/json.h"
#include "core/tokenizer/byte_level_bpe.h"
#include "core/tokenizer/llama2c_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/shared_data.h"

namespace memlens {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TmpDir(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(d != nullptr ? d : "/tmp") + "/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

void Write(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string Error(const std::string& path, LoadTokenizerOptions options = {}) {
  auto tok = LoadTokenizer(path, options);
  EXPECT_FALSE(tok.ok());
  return tok.ok() ? "" : std::string(tok.status().message());
}

TEST(LoadTokenizer, Errors) {
  EXPECT_THAT(Error("/nonexistent/path"), HasSubstr("/nonexistent/path: cannot open the tokenizer: No such file"));
  const std::string empty = TmpDir("empty");
  EXPECT_THAT(Error(empty), HasSubstr("no tokenizer found"));
  const std::string junk = TmpDir("junk") + "/mystery";
  Write(junk, "hello");
  EXPECT_THAT(Error(junk), HasSubstr("not a recognized tokenizer"));
  const std::string two = TmpDir("two");
  Write(two + "/tok1.bin", "x");
  Write(two + "/tok2.bin", "x");
  EXPECT_THAT(Error(two), HasSubstr("several llama2.c tokenizers (tok1.bin, tok2.bin)"));
  const std::string lonely = TmpDir("lonely");
  Write(lonely + "/encoder.json", "{}");
  EXPECT_THAT(Error(lonely + "/encoder.json"), HasSubstr("vocab.bpe: not found"));
  const std::string badjson = TmpDir("badjson") + "/tokenizer.json";
  Write(badjson, "{\"model\": ");
  EXPECT_THAT(Error(badjson), HasSubstr("tokenizer.json: parse error"));
}

// A minimal byte-level tokenizer.json: the 256 byte tokens and one merge.
std::string TinyTokenizerJson() {
  json::JsonWriter vocab;
  vocab.BeginObject();
  for (int b = 0; b < 256; ++b) vocab.Key(ByteToUnicode(static_cast<uint8_t>(b))).Int(b);
  vocab.Key("hi").Int(256);
  vocab.EndObject();
  return absl::StrCat(
      R"({"added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", )",
      R"("add_prefix_space": false, "use_regex": true}, "decoder": {"type": "ByteLevel"}, )",
      R"("model": {"type": "BPE", "vocab": )", vocab.str(), R"(, "merges": ["h i"]}})");
}

TEST(LoadTokenizer, TokenizerJsonByDirectoryNameAndContents) {
  const std::string dir = TmpDir("hf");
  Write(dir + "/tokenizer.json", TinyTokenizerJson());
  Write(dir + "/renamed.json", TinyTokenizerJson());
  Write(dir + "/no_extension", "\n  " + TinyTokenizerJson());
  for (const std::string& path :
       {dir, dir + "/tokenizer.json", dir + "/renamed.json", dir + "/no_extension"}) {
    auto tok = LoadTokenizer(path);
    ASSERT_TRUE(tok.ok()) << path << ": " << tok.status();
    EXPECT_THAT(*(*tok)->Encode("hi", false), ElementsAre(256)) << path;
    EXPECT_EQ((*tok)->bos_id(), -1);
    EXPECT_FALSE((*tok)->Encode("hi", true).ok());  // no BOS token
  }
  LoadTokenizerOptions small;
  small.model_vocab_size = 100;
  EXPECT_THAT(Error(dir, small), HasSubstr("has 257 tokens but the model's vocabulary has only 100"));
}

class LoadShared : public ::testing::Test {
 protected:
  void SetUp() override { MEMLENS_REQUIRE_SHARED(); }
};

TEST_F(LoadShared, Llama2cByDirectoryAndFile) {
  const std::string dir = SharedDir() + "/models/aidreams260K";
  for (const std::string& path : {dir, dir + "/tok512.bin"}) {
    for (int vocab : {512, -1}) {
      LoadTokenizerOptions options;
      options.model_vocab_size = vocab;
      auto tok = LoadTokenizer(path, options);
      ASSERT_TRUE(tok.ok()) << tok.status();
      EXPECT_NE(dynamic_cast<Llama2cTokenizer*>(tok->get()), nullptr);
      EXPECT_EQ((*tok)->vocab_size(), 512);
      EXPECT_THAT(*(*tok)->Encode("Echoes of weights", true),
                  ElementsAre(1, 388, 355, 260, 275, 382));
    }
  }
  LoadTokenizerOptions wrong;
  wrong.model_vocab_size = 1000;
  EXPECT_THAT(Error(dir, wrong), HasSubstr("tok512.bin: truncated at token 512"));
  wrong.model_vocab_size = 300;
  EXPECT_THAT(Error(dir, wrong), HasSubstr("more tokens than the model's vocab_size 300"));
}

TEST_F(LoadShared, Gpt2ByDirectoryAndFile) {
  const std::string dir = SharedDir() + "/tokenizers/gpt2";
  for (const std::string& path : {dir, dir + "/encoder.json", dir + "/vocab.bpe"}) {
    auto tok = LoadTokenizer(path);
    ASSERT_TRUE(tok.ok()) << tok.status();
    EXPECT_NE(dynamic_cast<ByteLevelBpeTokenizer*>(tok->get()), nullptr);
    EXPECT_THAT(*(*tok)->Encode("Hello world", false), ElementsAre(15496, 995));
  }
  LoadTokenizerOptions small;
  small.model_vocab_size = 50000;
  EXPECT_THAT(Error(dir, small), HasSubstr("has 50257 tokens but the model's vocabulary has only 50000"));
  small.model_vocab_size = 50304;  // padded embedding: fine
  EXPECT_TRUE(LoadTokenizer(dir, small).ok());
}

}  // namespace
}  // namespace memlens
