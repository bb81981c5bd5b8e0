#include "core/io/atomic_file.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

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

TEST(AtomicFileTest, OnlyARegularFileIsReplaced) {
  const std::string dir = TempDir();
  const std::string taken = dir + "/taken", fifo = dir + "/fifo", link = dir + "/link";
  const std::string target = dir + "/target";
  ASSERT_EQ(mkdir(taken.c_str(), 0755), 0);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(target) << "keep";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  for (const auto& [path, what] : {std::pair<std::string, std::string>{taken, "is a directory"},
                                   {fifo, "is a FIFO"},
                                   {link, "is a symbolic link"},
                                   {"/dev/null", "is a character device"}}) {
    absl::Status s = WriteFileAtomically(path, "x");
    ASSERT_FALSE(s.ok()) << path;
    EXPECT_NE(s.message().find(path + ": " + what), absl::string_view::npos) << s;
  }
  struct stat st;
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadAll(target), "keep");
  ASSERT_EQ(stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(CountEntries(dir), 4);  // nothing added
}

TEST(AtomicFileTest, TheTemporaryHasNoNameUntilCommit) {
  // A process killed before Commit() leaves nothing: the data has no directory entry yet.
  const std::string dir = TempDir();
  auto writer = AtomicFileWriter::Create(dir + "/out.json");
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append(std::string(1 << 16, 'x')).ok());
  EXPECT_EQ(CountEntries(dir), 0);
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(CountEntries(dir), 1);
  EXPECT_EQ(ReadAll(dir + "/out.json").size(), size_t{1} << 16);
}

TEST(AtomicFileTest, CheckOutputFileBeforeTheRun) {
  const std::string dir = TempDir();
  EXPECT_TRUE(CheckOutputFile(dir + "/new.json", "--out").ok());
  absl::Status missing = CheckOutputFile(dir + "/no/such/new.json", "--out");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("--out=" + dir + "/no/such/new.json"), absl::string_view::npos)
      << missing;
  EXPECT_EQ(CountEntries(dir), 0);  // checking creates nothing
}

TEST(AtomicFileTest, StaleTemporariesOfDeadProcessesAreRemoved) {
  const std::string dir = TempDir();
  // A pid above the kernel's maximum (4194304) is never alive; our own pid is.
  const std::string dead_file = dir + "/r.json.memlens-tmp.999999999.0";
  const std::string dead_dir = dir + "/acts.memlens-tmp.999999999";
  const std::string live = dir + "/r.json.memlens-tmp." + std::to_string(getpid()) + ".0";
  const std::string user = dir + "/notes.tmp.5.0";  // not ours: kept
  for (const std::string& f : {dead_file, live, user}) std::ofstream(f) << "x";
  ASSERT_EQ(mkdir(dead_dir.c_str(), 0755), 0);
  std::ofstream(dead_dir + "/a.npy") << "x";
  EXPECT_EQ(RemoveStaleTemporaries(dir), 2);
  struct stat st;
  EXPECT_NE(lstat(dead_file.c_str(), &st), 0);
  EXPECT_NE(lstat(dead_dir.c_str(), &st), 0);
  EXPECT_EQ(lstat(live.c_str(), &st), 0);
  EXPECT_EQ(lstat(user.c_str(), &st), 0);
}

}  // namespace
}  // namespace memlens
