#include "core/io/atomic_file.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace memlens {
namespace {

std::string TempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  std::string templ = std::string(t != nullptr ? t : "/tmp") + "/atomic.XXXXXX";
  char* d = mkdtemp(templ.data());
  return d == nullptr ? "" : std::string(d);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
  }
  closedir(d);
  return n;
}

TEST(AtomicFileTest, WritesAndReplaces) {
  const std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/report.json";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  EXPECT_EQ(ReadAll(path), "first");
  const std::string big(1 << 20, 'x');
  ASSERT_TRUE(WriteFileAtomically(path, big).ok());
  EXPECT_EQ(ReadAll(path), big);
  EXPECT_EQ(CountEntries(dir), 1);  // no temporary left behind
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644);
}

TEST(AtomicFileTest, MissingDirectoryNamesThePath) {
  const std::string path = TempDir() + "/no/such/dir/report.html";
  absl::Status s = WriteFileAtomically(path, "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("No such file or directory"), absl::string_view::npos) << s;
}

TEST(AtomicFileTest, RenameOntoADirectoryFailsCleanly) {
  const std::string dir = TempDir();
  const std::string target = dir + "/taken";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  absl::Status s = WriteFileAtomically(target, "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rename"), absl::string_view::npos) << s;
  EXPECT_EQ(CountEntries(dir), 1);  // the temporary was removed
}

}  // namespace
}  // namespace memlens
