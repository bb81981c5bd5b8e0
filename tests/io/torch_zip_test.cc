#include "core/io/torch_zip.h"

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/io/torch_zip_builder.h"

namespace memlens {
namespace {

using testing_zip::BuildEntry;
using testing_zip::BuildOptions;
using testing_zip::BuildZip;
using testing_zip::Bytes;
using testing_zip::LocalRecord;
using testing_zip::Put32;

std::string AsString(absl::Span<const uint8_t> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

absl::StatusOr<ZipArchive> Parse(const std::string& bytes) {
  return ZipArchive::FromBytes(Bytes(bytes), "test.zip");
}

void ExpectError(const std::string& bytes, const std::string& needle) {
  auto z = Parse(bytes);
  ASSERT_FALSE(z.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_NE(std::string(z.status().message()).find(needle), std::string::npos)
      << z.status().message();
  EXPECT_NE(std::string(z.status().message()).find("test.zip"), std::string::npos)
      << z.status().message();
}

TEST(Crc32Test, KnownValues) {
  EXPECT_EQ(Crc32(Bytes("")), 0u);
  EXPECT_EQ(Crc32(Bytes("123456789")), 0xCBF43926u);
  // Slice-by-8 and the byte loop must agree at every length and split point.
  std::string s;
  for (int i = 0; i < 100; ++i) s.push_back(static_cast<char>(i * 37 + 11));
  for (size_t split = 0; split <= s.size(); ++split) {
    const uint32_t a = Crc32(Bytes(s.substr(0, split)));
    EXPECT_EQ(Crc32(Bytes(s.substr(split)), a), Crc32(Bytes(s)));
  }
}

TEST(TorchZipTest, ReadsTorchStyleArchive) {
  const std::string zip = BuildZip({{"archive/data.pkl", "pickle-bytes"},
                                    {"archive/data/0", std::string(24, '\x01')},
                                    {"archive/version", "3\n"}});
  auto z = Parse(zip);
  ASSERT_TRUE(z.ok()) << z.status();
  ASSERT_EQ(z->entries().size(), 3u);
  EXPECT_EQ(z->entries()[0].name, "archive/data.pkl");
  EXPECT_EQ(AsString(*z->Get("archive/data.pkl")), "pickle-bytes");
  EXPECT_EQ(AsString(*z->Get("archive/data/0")), std::string(24, '\x01'));
  EXPECT_EQ(AsString(*z->Get("archive/version")), "3\n");
  for (const ZipEntry& e : z->entries()) EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
  EXPECT_EQ(z->Find("missing"), nullptr);
  auto missing = z->Get("archive/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("archive/nope"), std::string::npos);
}

TEST(TorchZipTest, PlainZipWithoutDescriptorsOrZip64) {
  std::vector<BuildEntry> entries = {{"a.txt", "hello"}, {"dir/b.bin", ""}};
  for (auto& e : entries) {
    e.descriptor = false;
    e.align64 = false;
  }
  BuildOptions options;
  options.zip64_eocd = false;
  const std::string zip = BuildZip(entries, options);  // FromBytes does not copy
  auto z = Parse(zip);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(AsString(*z->Get("a.txt")), "hello");
  EXPECT_EQ(z->Get("dir/b.bin")->size(), 0u);
}

TEST(TorchZipTest, Zip64ExtraFields) {
  for (bool descriptor : {true, false}) {
    BuildEntry e{"archive/data/0", "0123456789abcdef"};
    e.zip64_extra = true;
    e.descriptor = descriptor;
    const std::string zip = BuildZip({{"archive/data.pkl", "x"}, e});
    auto z = Parse(zip);
    ASSERT_TRUE(z.ok()) << z.status();
    EXPECT_EQ(AsString(*z->Get("archive/data/0")), "0123456789abcdef");
  }
}

TEST(TorchZipTest, EmptyArchive) {
  auto z = Parse(BuildZip({}));
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_TRUE(z->entries().empty());
}

TEST(TorchZipTest, RefusesCompressedEntries) {
  BuildEntry e{"archive/data/7", "not really deflated"};
  e.method = 8;
  ExpectError(BuildZip({{"archive/data.pkl", "x"}, e}), "'archive/data/7'");
  ExpectError(BuildZip({e}), "compression method 8");
}

TEST(TorchZipTest, RefusesPathTricks) {
  for (const char* name : {"../evil", "a/../../evil", "/etc/passwd", "a\\..\\b", "C:/x", "a//b",
                           "./a", "a/./b", "..", ""}) {
    SCOPED_TRACE(name);
    auto z = Parse(BuildZip({{name, "x"}}));
    ASSERT_FALSE(z.ok());
    EXPECT_NE(std::string(z.status().message()).find("name"), std::string::npos)
        << z.status().message();
  }
  // A name with an embedded NUL.
  ExpectError(BuildZip({{std::string("a\0b", 3), "x"}}), "NUL");
}

TEST(TorchZipTest, RefusesDuplicateNames) {
  ExpectError(BuildZip({{"a", "1"}, {"a", "2"}}), "twice");
}

TEST(TorchZipTest, RefusesOverlappingEntries) {
  // Entry "a" holds, as its data, a complete local record for "b"; the central directory then
  // lists "b" at that position: both entries are self-consistent but share bytes.
  BuildEntry a{"a", LocalRecord("b", "secret")};
  a.descriptor = false;
  a.align64 = false;
  BuildEntry b{"b", "secret"};
  b.descriptor = false;
  b.write_local = false;
  b.local_offset = 30 + 1;  // a's data starts right after its 30-byte header and 1-byte name
  ExpectError(BuildZip({a, b}), "overlap");
}

TEST(TorchZipTest, RefusesTruncatedArchives) {
  const std::string zip = BuildZip({{"archive/data.pkl", "pickle"}, {"archive/data/0", "abcd"}});
  // Every proper prefix is an error, never a crash or an out-of-bounds read.
  for (size_t n = 0; n < zip.size(); ++n) {
    auto z = Parse(zip.substr(0, n));
    EXPECT_FALSE(z.ok()) << "prefix of " << n << " bytes was accepted";
  }
  ExpectError(zip.substr(0, zip.size() - 1), "end-of-central-directory");
}

TEST(TorchZipTest, RefusesTruncatedCentralDirectory) {
  BuildOptions options;
  options.zip64_eocd = false;
  std::vector<BuildEntry> entries = {{"a", "1"}, {"b", "2"}};
  std::string zip = BuildZip(entries, options);
  // Claim a central directory larger than the room before the EOCD.
  const size_t eocd = zip.size() - 22;
  std::string bigger = zip;
  bigger[eocd + 12] = static_cast<char>(static_cast<uint8_t>(bigger[eocd + 12]) + 10);
  ExpectError(bigger, "central directory");
  // Claim more entries than the directory holds.
  std::string more = zip;
  more[eocd + 8] = 3;
  more[eocd + 10] = 3;
  ExpectError(more, "entries cannot fit");
  // An absurd count (the allocation must not follow it).
  std::string absurd = zip;
  absurd[eocd + 8] = absurd[eocd + 10] = static_cast<char>(0xFE);
  absurd[eocd + 9] = absurd[eocd + 11] = static_cast<char>(0xFF);
  ExpectError(absurd, "cannot fit");
}

TEST(TorchZipTest, RefusesAbsurdZip64Counts) {
  std::string zip = BuildZip({{"a", "1"}});
  // The zip64 record sits 56 + 20 + 22 bytes from the end; its total-entries field at +32.
  const size_t z64 = zip.size() - 22 - 20 - 56;
  std::string absurd = zip;
  for (int k : {24, 32}) {
    for (int i = 0; i < 8; ++i) absurd[z64 + k + i] = static_cast<char>(0x7F);
  }
  ExpectError(absurd, "disagrees");  // the 16-bit EOCD counts still hold the true count
  // With the EOCD counts at the 0xFFFF sentinel, only the zip64 count speaks.
  const size_t eocd = zip.size() - 22;
  for (int i = 8; i < 12; ++i) absurd[eocd + i] = static_cast<char>(0xFF);
  ExpectError(absurd, "cannot fit");
  // A zip64 central directory offset beyond the file.
  std::string far = zip;
  for (int i = 0; i < 8; ++i) far[z64 + 48 + i] = static_cast<char>(0x40);
  ExpectError(far, "disagrees");  // the 32-bit EOCD field still holds the true offset
}

TEST(TorchZipTest, RefusesInconsistentLocalHeader) {
  BuildEntry e{"a", "hello"};
  e.descriptor = false;
  e.align64 = false;
  std::string zip = BuildZip({e});
  std::string bad_size = zip;
  bad_size[22] = 6;  // local uncompressed size
  ExpectError(bad_size, "disagrees with the central directory");
  std::string bad_name = zip;
  bad_name[30] = 'b';
  ExpectError(bad_name, "local header names it 'b'");
  std::string bad_method = zip;
  bad_method[8] = 8;
  ExpectError(bad_method, "disagrees");
}

TEST(TorchZipTest, RefusesZip64SentinelsWithoutZip64Field) {
  BuildEntry e{"a", "hello"};
  e.descriptor = false;
  e.align64 = false;
  BuildOptions options;
  options.zip64_eocd = false;
  const std::string zip = BuildZip({e}, options);
  // Local header sizes (bytes 18..25) set to 0xFFFFFFFF with no extra field.
  std::string local = zip;
  for (int i = 18; i < 26; ++i) local[i] = static_cast<char>(0xFF);
  ExpectError(local, "no zip64 extra field");
  // The central header's size (at +24 of the header, which starts 46 + 1 + 22 bytes from the
  // end) likewise.
  std::string central = zip;
  const size_t cd = zip.size() - 22 - 46 - 1;
  for (int i = 20; i < 28; ++i) central[cd + i] = static_cast<char>(0xFF);
  ExpectError(central, "no zip64 extra field");
}

TEST(TorchZipTest, RefusesBadDataDescriptor) {
  std::string zip = BuildZip({{"a", "hello"}});
  // The descriptor follows the 5 data bytes; corrupt its size field.
  const size_t data = zip.find("hello");
  zip[data + 5 + 8] = 9;
  ExpectError(zip, "data descriptor");
}

TEST(TorchZipTest, RefusesCorruptData) {
  std::string zip = BuildZip({{"archive/data/0", "0123456789"}});
  zip[zip.find("0123456789") + 3] = 'X';
  ExpectError(zip, "CRC-32 mismatch");
  ZipOptions no_crc;
  no_crc.verify_crc = false;
  EXPECT_TRUE(ZipArchive::FromBytes(Bytes(zip), "test.zip", no_crc).ok());
}

TEST(TorchZipTest, RefusesEncryptedEntries) {
  BuildEntry e{"a", "x"};
  e.descriptor = false;
  e.align64 = false;
  BuildOptions options;
  options.zip64_eocd = false;
  std::string zip = BuildZip({e}, options);
  const size_t cd = zip.size() - 22 - 46 - 1;
  zip[cd + 8] |= 1;
  ExpectError(zip, "encrypted");
}

TEST(TorchZipTest, SurvivesRandomCorruption) {
  const std::string zip = BuildZip({{"archive/data.pkl", std::string(100, 'p')},
                                    {"archive/data/0", std::string(64, 'd')},
                                    {"archive/version", "3\n"}});
  std::mt19937 rng(7);
  int accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = zip;
    const int flips = 1 + trial % 4;
    for (int f = 0; f < flips; ++f) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    auto z = Parse(bad);
    if (z.ok()) {
      ++accepted;
      for (const ZipEntry& e : z->entries()) {
        ASSERT_LE(e.data_offset + e.size, bad.size());
      }
    }
  }
  // Flips that land in padding or unchecked fields (times, attributes) are harmless.
  EXPECT_LT(accepted, 3000);
}

TEST(TorchZipTest, OpenReportsMissingFile) {
  auto z = ZipArchive::Open("/nonexistent/model_final.pth");
  ASSERT_FALSE(z.ok());
  EXPECT_NE(std::string(z.status().message()).find("/nonexistent/model_final.pth"),
            std::string::npos);
}

TEST(TorchZipTest, OpensTorchSaveOutput) {
  // Written by torch.save (tests/io/testdata/make_torch_testdata.py).
  const std::string path = "tests/io/testdata/torch_small.pth";
  auto z = ZipArchive::Open(path);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_NE(z->Find("torch_small/data.pkl"), nullptr);
  EXPECT_NE(z->Find("torch_small/data/0"), nullptr);
}

}  // namespace
}  // namespace memlens
