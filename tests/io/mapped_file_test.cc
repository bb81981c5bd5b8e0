#include "core/io/mapped_file.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace memlens {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

TEST(MappedFile, MapsContentsAndBoundsChecksSubspans) {
  const std::string path = TempPath("mapped.bin");
  WriteFile(path, "hello world");
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 11u);
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file->data()), 5), "hello");

  auto world = file->Subspan(6, 5);
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(world->data()), world->size()), "world");
  EXPECT_TRUE(file->Subspan(11, 0).ok());  // an empty span at the very end is fine

  auto past = file->Subspan(6, 6, "tensor x");
  ASSERT_FALSE(past.ok());
  EXPECT_TRUE(Contains(past.status().message(), path));
  EXPECT_TRUE(Contains(past.status().message(), "tensor x"));
  EXPECT_FALSE(file->Subspan(12, 0).ok());
  // offset + length overflows 64 bits: must be rejected, not wrap around.
  EXPECT_FALSE(file->Subspan(8, ~uint64_t{0} - 4).ok());
  EXPECT_FALSE(file->Subspan(~uint64_t{0}, 2).ok());
}

TEST(MappedFile, MoveKeepsTheMapping) {
  const std::string path = TempPath("move.bin");
  WriteFile(path, "abc");
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok());
  MappedFile moved = std::move(*file);
  EXPECT_EQ(moved.size(), 3u);
  EXPECT_EQ(moved.data()[2], 'c');
  MappedFile assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.size(), 3u);
  EXPECT_EQ(moved.size(), 0u);
}

TEST(MappedFile, EmptyFile) {
  const std::string path = TempPath("empty.bin");
  WriteFile(path, "");
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 0u);
  EXPECT_TRUE(file->Subspan(0, 0).ok());
  EXPECT_FALSE(file->Subspan(0, 1).ok());
}

TEST(MappedFile, ErrorsNameThePathAndTheReason) {
  const std::string missing = TempPath("does_not_exist.bin");
  auto file = MappedFile::Open(missing);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(file.status().message(), missing));
  EXPECT_TRUE(Contains(file.status().message(), "No such file or directory"));

  auto dir = MappedFile::Open(TempPath(""));
  ASSERT_FALSE(dir.ok());
  EXPECT_TRUE(Contains(dir.status().message(), "is a directory")) << dir.status();
}

}  // namespace
}  // namespace memlens
