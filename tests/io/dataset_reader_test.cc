// The streamed dataset reader against planted files: every prompt read back in order and out of
// order (across checkpoints) equals what was written, blank lines skipped, escapes decoded, and
// each bad file refused with path:line.
#include "core/io/dataset_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

using ::testing::HasSubstr;

std::string Scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
}

std::string WriteFile(const std::string& name, const std::string& bytes) {
  const std::string path = Scratch(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string OpenError(const std::string& path) {
  auto r = DatasetReader::Open(path);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(DatasetReader, ReadsEveryPromptInAndOutOfOrder) {
  // 3 checkpoints' worth of prompts, with blank lines sprinkled in and escapes in some.
  const int n = 2 * static_cast<int>(DatasetReader::kCheckpointEvery) + 77;
  std::vector<std::string> expected;
  std::vector<int64_t> lines;
  std::string file;
  int64_t line = 1;
  for (int i = 0; i < n; ++i) {
    if (i % 7 == 0) {
      file += "   \n";
      ++line;
    }
    if (i % 5 == 0) {
      file += absl::StrCat("def f", i, "():\\n\\treturn ", i, "\n");
      expected.push_back(absl::StrCat("def f", i, "():\n\treturn ", i));
    } else {
      file += absl::StrCat("prompt number ", i, "\n");
      expected.push_back(absl::StrCat("prompt number ", i));
    }
    lines.push_back(line++);
  }
  file += "the last line has no newline";
  expected.push_back("the last line has no newline");
  lines.push_back(line);
  auto reader = DatasetReader::Open(WriteFile("prompts.txt", file));
  ASSERT_TRUE(reader.ok()) << reader.status();
  DatasetReader& r = **reader;
  ASSERT_EQ(r.size(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    int64_t at = 0;
    auto text = r.Text(static_cast<int64_t>(i), &at);
    ASSERT_TRUE(text.ok()) << text.status();
    ASSERT_EQ(*text, expected[i]) << i;
    ASSERT_EQ(at, lines[i]) << i;
  }
  std::mt19937 rng(7);
  for (int k = 0; k < 500; ++k) {
    const int64_t i = rng() % expected.size();
    auto text = r.Text(i);
    ASSERT_TRUE(text.ok()) << text.status();
    ASSERT_EQ(*text, expected[i]) << i;
  }
  EXPECT_FALSE(r.Text(r.size()).ok());
  EXPECT_FALSE(r.Text(-1).ok());
}

TEST(DatasetReader, Jsonl) {
  auto reader = DatasetReader::Open(
      WriteFile("p.jsonl", "{\"text\": \"a\\nb\"}\n\n{\"text\": \"c\", \"id\": 2}\n"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->size(), 2);
  EXPECT_EQ((*reader)->Text(1).value(), "c");
  EXPECT_EQ((*reader)->Text(0).value(), "a\nb");
  const std::string bad = WriteFile("bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
  EXPECT_THAT(OpenError(bad), HasSubstr(bad + ":2: expected an object"));
  const std::string broken = WriteFile("broken.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \n");
  EXPECT_THAT(OpenError(broken), HasSubstr(broken + ":3: "));
}

TEST(DatasetReader, RefusesWhatIsNotADataset) {
  alarm(5);  // a FIFO must not block
  const std::string fifo = Scratch("fifo.txt");
  unlink(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(OpenError(fifo), HasSubstr("FIFO"));
  EXPECT_THAT(OpenError("/dev/urandom"), HasSubstr("character device"));
  EXPECT_THAT(OpenError("/dev/zero"), HasSubstr("character device"));
  EXPECT_THAT(OpenError(Scratch("")), HasSubstr("a directory"));
  const std::string empty = WriteFile("empty.txt", "\n  \n\t\n");
  EXPECT_THAT(OpenError(empty), HasSubstr("has no prompts"));
  // A sparse file of zero bytes: one line longer than the limit, refused after reading about
  // the limit, not the whole file.
  const std::string zeros = Scratch("zeros.txt");
  ASSERT_EQ(std::system(("truncate -s 30G '" + zeros + "'").c_str()), 0);
  EXPECT_THAT(OpenError(zeros), HasSubstr(zeros + ":1: a line longer than"));
  unlink(zeros.c_str());
  alarm(0);
}

}  // namespace
}  // namespace memlens
