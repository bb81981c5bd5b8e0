#include "core/io/mapped_file.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

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

// A file of `n` floats 0, 1, 2, ... after a 4-byte header.
std::string FloatFile(int n) {
  std::string bytes = "HEAD";
  for (int i = 0; i < n; ++i) {
    const float f = static_cast<float>(i);
    bytes.append(reinterpret_cast<const char*>(&f), sizeof(f));
  }
  return bytes;
}

std::shared_ptr<const MappedFile> MapShared(const std::string& path) {
  auto file = MappedFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? std::make_shared<const MappedFile>(*std::move(file)) : nullptr;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(MappedFloats, ViewsTheFileInPlaceAndWritesStayPrivate) {
  const std::string path = TempPath("floats.bin");
  const int n = 5000;  // several pages
  const std::string bytes = FloatFile(n);
  WriteFile(path, bytes);
  std::weak_ptr<const MappedFile> watch;
  {
    std::shared_ptr<const MappedFile> file = MapShared(path);
    ASSERT_NE(file, nullptr);
    watch = file;
    std::optional<Tensor> t = MappedFloats(file, file->bytes().subspan(4), {n});
    ASSERT_TRUE(t.has_value());
    EXPECT_TRUE(t->data.is_view());
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(t->ptr()), file->data() + 4);  // in place
    EXPECT_EQ(t->data[4321], 4321.0f);
    file.reset();
    EXPECT_FALSE(watch.expired());  // the tensor keeps the mapping
    // Written like any tensor (weight processing): the file never sees it.
    for (float& x : t->data) x = -x;
    EXPECT_EQ(t->data[7], -7.0f);
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(ReadAll(path), bytes);
  auto again = MapShared(path);
  std::optional<Tensor> fresh = MappedFloats(again, again->bytes().subspan(4), {n});
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->data[7], 7.0f);
}

TEST(MappedFloats, UnalignedBytesAreLeftToTheCallerToCopy) {
  const std::string path = TempPath("unaligned.bin");
  WriteFile(path, "x" + FloatFile(4));
  std::shared_ptr<const MappedFile> file = MapShared(path);
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(MappedFloats(file, file->bytes().subspan(5, 16), {4}).has_value());
  EXPECT_TRUE(MappedFloats(file, file->bytes().subspan(8, 12), {3}).has_value());
}

TEST(MappedFloatsDeathTest, AFileTruncatedUnderItsViewsStopsWithItsName) {
  const std::string path = TempPath("truncated.bin");
  const int n = 1 << 16;  // 256 KB: pages well past the truncation point
  WriteFile(path, FloatFile(n));
  std::shared_ptr<const MappedFile> file = MapShared(path);
  ASSERT_NE(file, nullptr);
  std::optional<Tensor> t = MappedFloats(file, file->bytes().subspan(4), {n});
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->data[n - 1], static_cast<float>(n - 1));
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  EXPECT_EXIT(
      {
        volatile float x = t->data[n - 1];  // past the new end: SIGBUS
        (void)x;
      },
      testing::ExitedWithCode(EXIT_FAILURE), "truncated.bin: the file shrank while memlens");
}

TEST(MappedFile, AFileRewrittenInPlaceIsNamedAndAReplacedOneIsFine) {
  const std::string path = TempPath("rewritten.bin");
  WriteFile(path, FloatFile(16));
  std::shared_ptr<const MappedFile> file = MapShared(path);
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(CheckMappedFilesUnchanged().ok());

  // Replaced by rename (a new inode): the mapping keeps the old contents, nothing to report.
  const std::string fresh = TempPath("rewritten.bin.new");
  WriteFile(fresh, FloatFile(32));
  ASSERT_EQ(std::rename(fresh.c_str(), path.c_str()), 0);
  EXPECT_TRUE(CheckMappedFilesUnchanged().ok()) << CheckMappedFilesUnchanged();

  // Rewritten in place (same inode, new size or time): named.
  file = MapShared(path);
  ASSERT_NE(file, nullptr);
  { std::ofstream(path, std::ios::binary | std::ios::app) << "more"; }
  absl::Status st = CheckMappedFilesUnchanged();
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), path)) << st;
  EXPECT_TRUE(Contains(st.message(), "modified while memlens used it")) << st;
  file.reset();  // unmapped: no longer watched
  EXPECT_TRUE(CheckMappedFilesUnchanged().ok()) << CheckMappedFilesUnchanged();
}

}  // namespace
}  // namespace memlens
