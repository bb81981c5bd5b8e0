// The checked open every reader of a user's path goes through: each wrong kind of file is
// refused with an error naming the path and what it is, quickly (a FIFO must not block: every
// test runs under alarm(5), whose default action kills the test), and the size limit is checked
// before reading.
#include "core/io/checked_file.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "core/io/json.h"
#include "core/io/mapped_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class CheckedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    alarm(5);  // a blocking open would hang forever: SIGALRM fails the test instead
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp != nullptr ? tmp : "/tmp") + "/checked_file_XXXXXX";
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override {
    alarm(0);
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::ofstream(Path(name), std::ios::binary) << bytes;
    return Path(name);
  }
  std::string dir_;
};

// Every entry point gives the same refusal for a path.
void ExpectRefused(const std::string& path, const std::string& what) {
  SCOPED_TRACE(path);
  auto opened = OpenRegularFile(path, kTokenizerFile);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(std::string(opened.status().message()), AllOf(HasSubstr(path), HasSubstr(what)));
  auto read = ReadFileChecked(path, kTokenizerFile);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(std::string(read.status().message()), AllOf(HasSubstr(path), HasSubstr(what)));
  auto mapped = MappedFile::Open(path);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(std::string(mapped.status().message()), HasSubstr(what));
  auto parsed = json::ParseFile(path);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(what));
}

TEST_F(CheckedFileTest, ReadsARegularFileAndASymlinkToIt) {
  const std::string file = Write("a.json", "{\"x\": 1}");
  ASSERT_EQ(symlink(file.c_str(), Path("link").c_str()), 0);
  for (const std::string& p : {file, Path("link")}) {
    auto data = ReadFileChecked(p, kConfigFile);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(*data, "{\"x\": 1}");
    auto opened = OpenRegularFile(p, kConfigFile);
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(opened->size, 8u);
  }
}

TEST_F(CheckedFileTest, RefusesAFifoWithoutBlocking) {
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0);
  ExpectRefused(Path("fifo"), "FIFO");
  // A symlink to it, under the name a tokenizer would have.
  ASSERT_EQ(symlink(Path("fifo").c_str(), Path("tokenizer.json").c_str()), 0);
  ExpectRefused(Path("tokenizer.json"), "FIFO");
}

TEST_F(CheckedFileTest, RefusesCharacterAndBlockDevices) {
  // Devices made in the scratch directory (as root), and the system's own.
  if (mknod(Path("zero").c_str(), S_IFCHR | 0600, makedev(1, 5)) == 0) {
    ExpectRefused(Path("zero"), "character device");
  } else {  // no CAP_MKNOD (not root, or a sandbox): the system's devices below still run
    std::printf("note: mknod refused (%s); testing the system's devices only\n", strerror(errno));
  }
  if (mknod(Path("loop").c_str(), S_IFBLK | 0600, makedev(7, 0)) == 0) {
    ExpectRefused(Path("loop"), "block device");
  }
  ExpectRefused("/dev/zero", "character device");
  ExpectRefused("/dev/urandom", "character device");
  ASSERT_EQ(symlink("/dev/zero", Path("tok512.bin").c_str()), 0);
  ExpectRefused(Path("tok512.bin"), "character device");
}

TEST_F(CheckedFileTest, RefusesADirectoryAndASocket) {
  ASSERT_EQ(mkdir(Path("tokenizer_config.json").c_str(), 0700), 0);
  ExpectRefused(Path("tokenizer_config.json"), "a directory");
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  // sun_path holds 108 bytes: a short directory of its own rather than TEST_TMPDIR.
  char sock_dir[] = "/tmp/mlsockXXXXXX";
  ASSERT_NE(mkdtemp(sock_dir), nullptr);
  const std::string sock = std::string(sock_dir) + "/sock";
  ASSERT_LT(sock.size(), sizeof(addr.sun_path));
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ExpectRefused(sock, "socket");
  close(fd);
  unlink(sock.c_str());
  rmdir(sock_dir);
}

TEST_F(CheckedFileTest, RefusesASymlinkLoopAndNamesAMissingFile) {
  ASSERT_EQ(symlink(Path("b").c_str(), Path("a").c_str()), 0);
  ASSERT_EQ(symlink(Path("a").c_str(), Path("b").c_str()), 0);
  ExpectRefused(Path("a"), "symlink loop");
  auto missing = ReadFileChecked(Path("missing"), kConfigFile);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(Path("missing")));
  EXPECT_TRUE(PathExists(Path("a")));  // a looping symlink is something, not nothing
  EXPECT_FALSE(PathExists(Path("missing")));
}

TEST_F(CheckedFileTest, RefusesAFileAboveItsKindsLimitBeforeReading) {
  // A sparse file of 2 GiB + 1: above the tokenizer limit (1 GiB), refused from its size alone.
  const std::string big = Path("big.json");
  ASSERT_EQ(std::system(("truncate -s 2147483649 '" + big + "'").c_str()), 0);
  auto read = ReadFileChecked(big, kTokenizerFile);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(std::string(read.status().message()),
              AllOf(HasSubstr(big), HasSubstr("2147483649 bytes"), HasSubstr("tokenizer")));
  // The limit is per kind: exactly at it is fine, one byte more is not.
  const FileKind tiny = {"tiny", 4};
  EXPECT_TRUE(ReadFileChecked(Write("four", "abcd"), tiny).ok());
  EXPECT_FALSE(ReadFileChecked(Write("five", "abcde"), tiny).ok());
}

TEST_F(CheckedFileTest, CheckDirectory) {
  EXPECT_TRUE(CheckDirectory(dir_, "plugin directory").ok());
  const std::string file = Write("f", "x");
  absl::Status s = CheckDirectory(file, "plugin directory");
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr(file), HasSubstr("a regular file"), HasSubstr("plugin directory")));
}

}  // namespace
}  // namespace memlens
