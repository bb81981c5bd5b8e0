#include "core/io/activation_writer.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/io/json.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "gtest/gtest.h"
#include "tests/io/io_test_util.h"

namespace memlens {
namespace {

using testing_io::ListDir;
using testing_io::ReadAll;
using testing_io::TempDir;
using testing_io::TempPath;
using testing_io::WriteAll;

ActivationStore SampleStore() {
  ActivationStore store;
  int seed = 0;
  for (auto [name, shape] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
           {"hook_embed", {5, 8}},
           {"blocks.0.attn.hook_q", {5, 2, 4}},
           {"blocks.0.attn.hook_pattern", {2, 5, 5}},
           {"blocks.1.ln1.hook_scale", {5, 1}}}) {
    Tensor t(shape);
    for (size_t i = 0; i < t.size(); ++i) t.data[i] = static_cast<float>(seed * 1000 + i) / 7;
    ++seed;
    store.Put(name, std::move(t));
  }
  return store;
}

void ExpectSameStore(const ActivationStore& a, const ActivationStore& b) {
  ASSERT_EQ(a.Names(), b.Names());
  for (const auto& [name, t] : a.tensors()) {
    SCOPED_TRACE(name);
    const Tensor& u = b.tensors().at(name);
    EXPECT_EQ(t.shape, u.shape);
    EXPECT_EQ(t.data, u.data);
  }
}

TEST(ActivationWriter, NpyDirectoryWithIndex) {
  const ActivationStore store = SampleStore();
  const std::string dir = TempPath("acts/nested/run1");  // parents are created
  ASSERT_TRUE(WriteActivations(store, dir, {{"model", "tiny"}, {"prompt", "a \"b\""}}).ok());

  std::vector<std::string> files = ListDir(dir);
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{
                       "blocks.0.attn.hook_pattern.npy", "blocks.0.attn.hook_q.npy",
                       "blocks.1.ln1.hook_scale.npy", "hook_embed.npy", "index.json"}));
  auto q = ReadNpy(dir + "/blocks.0.attn.hook_q.npy");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->data, store.tensors().at("blocks.0.attn.hook_q").data);

  json::ParseOptions opts;
  auto index = json::Parse(ReadAll(dir + "/index.json"), opts);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->Find("format")->string_value(), "memlens-activations");
  EXPECT_EQ(index->Find("metadata")->Find("prompt")->string_value(), "a \"b\"");
  const json::Value& tensors = *index->Find("tensors");
  ASSERT_EQ(tensors.size(), 4u);
  const json::Value& first = tensors.array()[0];
  EXPECT_EQ(first.Find("name")->string_value(), "blocks.0.attn.hook_pattern");
  EXPECT_EQ(first.Find("file")->string_value(), "blocks.0.attn.hook_pattern.npy");
  EXPECT_EQ(first.Find("dtype")->string_value(), "float32");
  EXPECT_EQ(json::Serialize(*first.Find("shape")), "[2,5,5]");

  ActivationMetadata meta;
  auto back = ReadActivations(dir + "/", &meta);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameStore(store, *back);
  EXPECT_EQ(meta.at("model"), "tiny");
}

TEST(ActivationWriter, OneSafetensorsFile) {
  const ActivationStore store = SampleStore();
  const std::string path = TempPath("acts.safetensors");
  ASSERT_TRUE(WriteActivations(store, path, {{"model", "tiny"}}).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors().size(), 4u);
  EXPECT_EQ(file->metadata().at("model"), "tiny");
  EXPECT_EQ(file->metadata().at("format"), "memlens-activations");
  ActivationMetadata meta;
  auto back = ReadActivations(path, &meta);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameStore(store, *back);
  EXPECT_EQ(meta.at("model"), "tiny");
}

TEST(ActivationWriter, EmptyStore) {
  const std::string dir = TempPath("empty_acts");
  ASSERT_TRUE(WriteActivations(ActivationStore(), dir).ok());
  auto back = ReadActivations(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->Names().empty());
}

TEST(ActivationWriter, ReplacesItsOwnDirectoryWholeAndNothingElse) {
  const std::string out = TempPath("replaced");
  ASSERT_TRUE(WriteActivations(SampleStore(), out).ok());
  ActivationStore other;
  other.Put("only_this", Tensor({3}));
  ASSERT_TRUE(WriteActivations(other, out).ok());
  // The second run replaced the first whole: no .npy of the first run is left beside it.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(out)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"index.json", "only_this.npy"}));
  // No temporary directory beside it.
  const std::filesystem::path parent = std::filesystem::path(out).parent_path();
  for (const auto& e : std::filesystem::directory_iterator(parent)) {
    EXPECT_EQ(e.path().string().find("memlens-tmp"), std::string::npos) << e.path();
  }
  // A directory of other files is not replaced, and is left as it was.
  const std::string mine = TempPath("mine");
  std::filesystem::create_directories(mine);
  WriteAll(mine + "/notes.txt", "precious");
  EXPECT_ERROR_CONTAINS(WriteActivations(other, mine), "not replaced");
  EXPECT_ERROR_CONTAINS(CheckActivationOutput(mine), "not replaced");
  EXPECT_TRUE(std::filesystem::exists(mine + "/notes.txt"));
  EXPECT_FALSE(std::filesystem::exists(mine + "/index.json"));
}

TEST(ActivationWriter, Errors) {
  ActivationStore bad_name;
  bad_name.Put("../escape", Tensor({1}));
  const std::string dir = TempPath("bad_names");
  EXPECT_ERROR_CONTAINS(WriteActivations(bad_name, dir), "hook name \"../escape\"");
  ActivationStore slash;
  slash.Put("a/b", Tensor({1}));
  EXPECT_ERROR_CONTAINS(WriteActivations(slash, dir), "cannot be used as a file name");

  const std::string file = TempPath("a_file");
  WriteAll(file, "x");
  EXPECT_ERROR_CONTAINS(WriteActivations(SampleStore(), file), "is a regular file, not a directory");
  EXPECT_ERROR_CONTAINS(WriteActivations(SampleStore(), file + "/sub"), "a_file/sub");

  // Reading back: a missing index, a file whose shape disagrees with the index.
  EXPECT_ERROR_CONTAINS(ReadActivations(TempDir("no_index")), "index.json");
  const std::string out = TempPath("tampered");
  ASSERT_TRUE(WriteActivations(SampleStore(), out).ok());
  ASSERT_TRUE(WriteNpy(out + "/hook_embed.npy", Tensor({2, 2})).ok());
  EXPECT_ERROR_CONTAINS(ReadActivations(out),
                        "hook_embed.npy has shape [2, 2] but the index says [5, 8]");
  WriteAll(out + "/index.json", R"({"format": "something else"})");
  EXPECT_ERROR_CONTAINS(ReadActivations(out), "not a memlens activation index");
}

}  // namespace
}  // namespace memlens
