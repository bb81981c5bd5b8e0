// TensorData: owned floats or a view of memory kept alive by another object (a mapped file),
// with a std::vector's reading and writing and deep copies.
#include "core/tensor.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace memlens {
namespace {

// A view of `backing`'s floats whose keep-alive is `backing` itself, so the test can see when
// the last view lets go of it.
TensorData ViewOf(const std::shared_ptr<std::vector<float>>& backing) {
  return TensorData::View(backing->data(), backing->size(), backing);
}

TEST(TensorData, OwnedBehavesLikeAVector) {
  TensorData d(3, 1.5f);
  EXPECT_FALSE(d.is_view());
  EXPECT_EQ(d.size(), 3u);
  d[1] = 2.0f;
  d.push_back(4.0f);
  EXPECT_EQ(d, (std::vector<float>{1.5f, 2.0f, 1.5f, 4.0f}));
  d.resize(2);
  EXPECT_EQ(d, (std::vector<float>{1.5f, 2.0f}));
  d.assign(2, 7.0f);
  float sum = 0;
  for (float x : d) sum += x;
  EXPECT_EQ(sum, 14.0f);
  d.clear();
  EXPECT_TRUE(d.empty());
}

TEST(TensorData, AViewReadsAndWritesTheBackingMemory) {
  auto backing = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3});
  TensorData v = ViewOf(backing);
  EXPECT_TRUE(v.is_view());
  EXPECT_EQ(v.data(), backing->data());  // no copy
  v[0] = 10;
  EXPECT_EQ((*backing)[0], 10.0f);
  EXPECT_EQ(v, (std::vector<float>{10, 2, 3}));
}

TEST(TensorData, CopiesOfAViewAreDeepAndOwned) {
  auto backing = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3});
  TensorData v = ViewOf(backing);
  TensorData copy = v;
  EXPECT_FALSE(copy.is_view());
  EXPECT_NE(copy.data(), backing->data());
  copy[1] = -1;
  EXPECT_EQ((*backing)[1], 2.0f);  // the original is untouched
  TensorData assigned;
  assigned = v;
  EXPECT_FALSE(assigned.is_view());
  EXPECT_EQ(assigned, v);
  // Copies of a Tensor too: a processed copy of the weights must not write into the file.
  Tensor t({3}, ViewOf(backing));
  Tensor t2 = t;
  t2.data[2] = 99;
  EXPECT_EQ((*backing)[2], 3.0f);
}

TEST(TensorData, AMoveKeepsTheViewAndItsKeepAlive) {
  auto backing = std::make_shared<std::vector<float>>(std::vector<float>{1, 2});
  std::weak_ptr<std::vector<float>> watch = backing;
  const float* where = backing->data();
  TensorData moved;
  {
    TensorData v = ViewOf(backing);
    backing.reset();  // only the view holds it now
    EXPECT_FALSE(watch.expired());
    moved = std::move(v);
    EXPECT_TRUE(v.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  }
  EXPECT_TRUE(moved.is_view());
  EXPECT_EQ(moved.data(), where);
  EXPECT_FALSE(watch.expired());
  moved = TensorData();
  EXPECT_TRUE(watch.expired());  // the last view let go of the mapping
}

TEST(TensorData, ResizingAViewCopiesItFirst) {
  auto backing = std::make_shared<std::vector<float>>(std::vector<float>{1, 2});
  TensorData v = ViewOf(backing);
  v.resize(3, 5.0f);
  EXPECT_FALSE(v.is_view());
  EXPECT_EQ(v, (std::vector<float>{1, 2, 5}));
  EXPECT_EQ(backing->size(), 2u);  // never resized under its owner
  EXPECT_EQ(backing.use_count(), 1);
}

TEST(TensorData, MovingAnOwnedBufferKeepsItsPointer) {
  TensorData a(std::vector<float>{1, 2, 3});
  const float* p = a.data();
  TensorData b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace memlens
