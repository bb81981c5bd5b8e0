#include "core/io/npy.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/io/io_test_util.h"

namespace memlens {
namespace {

using testing_io::ReadAll;
using testing_io::TempPath;
using testing_io::WriteAll;

Tensor Make(std::vector<int64_t> shape) {
  Tensor t(std::move(shape));
  for (size_t i = 0; i < t.size(); ++i) t.data[i] = static_cast<float>(i) * 0.25f - 1.0f;
  return t;
}

TEST(Npy, MatchesNumpySaveByteForByte) {
  // numpy.save(f, np.arange(6, dtype='<f4').reshape(2, 3)) with numpy >= 1.24 writes this
  // header: 10 bytes of magic/version/length, then the dict padded to 128 bytes in total.
  Tensor t({2, 3});
  for (int i = 0; i < 6; ++i) t.data[i] = static_cast<float>(i);
  auto bytes = EncodeNpy(t);
  ASSERT_TRUE(bytes.ok());
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string expected("\x93NUMPY\x01\x00\x76\x00", 10);  // header length 118
  expected += dict + std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  expected.append(reinterpret_cast<const char*>(t.data.data()), 24);
  EXPECT_EQ(*bytes, expected);
}

TEST(Npy, OneDimensionalAndScalarShapesUsePythonTupleSyntax) {
  auto one = EncodeNpy(Make({5}));
  ASSERT_TRUE(one.ok());
  EXPECT_NE(one->find("'shape': (5,), }"), std::string::npos);
  auto scalar = EncodeNpy(Make({}));
  ASSERT_TRUE(scalar.ok());
  EXPECT_NE(scalar->find("'shape': (), }"), std::string::npos);
}

TEST(Npy, RoundTripsThroughAFile) {
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{
           {}, {1}, {7}, {2, 3}, {2, 3, 4}, {0}, {0, 3}, {3, 1, 1, 2}}) {
    SCOPED_TRACE(ShapeString(shape));
    const Tensor t = Make(shape);
    const std::string path = TempPath("round.npy");
    ASSERT_TRUE(WriteNpy(path, t).ok());
    const std::string bytes = ReadAll(path);
    uint16_t header_len;
    std::memcpy(&header_len, bytes.data() + 8, 2);
    EXPECT_EQ((10 + header_len) % 64, 0u) << "data must start 64-byte aligned";
    auto back = ReadNpy(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->shape, t.shape);
    EXPECT_EQ(back->data, t.data);
  }
}

TEST(Npy, ReadsHeadersNumpyWritesDifferently) {
  // Older numpy: 16-byte alignment, and version 2.0 headers.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }  \n";
  const std::vector<float> v = {1.5f, -2.0f};
  std::string v1("\x93NUMPY\x01\x00", 8);
  testing_io::AppendPod<uint16_t>(&v1, dict.size());
  v1 += dict + std::string(reinterpret_cast<const char*>(v.data()), 8);
  auto a = DecodeNpy(v1, "v1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->data, v);
  std::string v2("\x93NUMPY\x02\x00", 8);
  testing_io::AppendPod<uint32_t>(&v2, dict.size());
  v2 += dict + std::string(reinterpret_cast<const char*>(v.data()), 8);
  auto b = DecodeNpy(v2, "v2");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->data, v);
}

TEST(Npy, BadFilesGiveClearErrors) {
  auto file = [](const std::string& dict, size_t data_bytes) {
    std::string out("\x93NUMPY\x01\x00", 8);
    testing_io::AppendPod<uint16_t>(&out, dict.size());
    return out + dict + std::string(data_bytes, '\0');
  };
  struct Case {
    std::string bytes, error;
  };
  const std::vector<Case> cases = {
      {"", "not a .npy file"},
      {"PK\x03\x04 not numpy", "not a .npy file"},
      {std::string("\x93NUMPY\x09\x00\x10\x00", 10), "unsupported .npy format version 9.0"},
      {std::string("\x93NUMPY\x01\x00\xff\x00{}", 12), "runs past the end"},
      {file("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16),
       "dtype '<f8' is not supported"},
      {file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8),
       "dtype '>f4' is not supported"},
      {file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16),
       "fortran_order True is not supported"},
      {file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8),
       "needs 3 float32 values but the file holds 8 data bytes"},
      {file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12),
       "the file holds 12 data bytes"},
      {file("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8), "bad dimension"},
      {file("{'descr': '<f4', 'fortran_order': False, 'shape': (x,), }", 8), "bad dimension"},
      {file("{'descr': '<f4', 'fortran_order': False, 'shape': 2, }", 8), "is not a tuple"},
      {file("{'descr': '<f4', 'fortran_order': False, "
            "'shape': (4294967296, 4294967296, 4294967296), }",
            8),
       "absurdly large"},
      {file("{'descr': '<f4', 'fortran_order': False}", 8), "no 'shape' key"},
      {file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8), "not terminated"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    EXPECT_ERROR_CONTAINS(DecodeNpy(c.bytes, "src.npy"), "src.npy");
    EXPECT_ERROR_CONTAINS(DecodeNpy(c.bytes, "src.npy"), c.error);
  }
  // Every truncation of a valid file is an error.
  auto good = EncodeNpy(Make({3, 2}));
  ASSERT_TRUE(good.ok());
  for (size_t n = 0; n < good->size(); ++n) {
    EXPECT_FALSE(DecodeNpy(good->substr(0, n), "cut").ok()) << n;
  }
}

TEST(Npy, WriterErrorsNameThePath) {
  Tensor broken({4});
  broken.data.resize(3);
  const std::string path = TempPath("broken.npy");
  EXPECT_ERROR_CONTAINS(WriteNpy(path, broken), path);
  const std::string bad_dir = TempPath("missing_dir/x.npy");
  EXPECT_ERROR_CONTAINS(WriteNpy(bad_dir, Make({2})), bad_dir);
  EXPECT_ERROR_CONTAINS(ReadNpy(TempPath("absent.npy")), "absent.npy");
}

}  // namespace
}  // namespace memlens
