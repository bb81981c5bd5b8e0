// A named float32 tensor: the one currency between the core, the activation store and plugins.
#ifndef MEMLENS_CORE_TENSOR_H_
#define MEMLENS_CORE_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace memlens {

// All computation is float32; the dtype of a tensor's source (f16/bf16 files) is converted at
// load time. Row-major, contiguous.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> s) : shape(std::move(s)), data(NumElements(shape)) {}

  static size_t NumElements(const std::vector<int64_t>& s) {
    size_t n = 1;
    for (int64_t d : s) n *= static_cast<size_t>(d);
    return n;
  }
  size_t size() const { return data.size(); }
  int64_t dim(size_t i) const { return shape[i]; }
  size_t rank() const { return shape.size(); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  // Pointer to row r of the leading dimension.
  float* row(int64_t r) { return data.data() + r * (data.size() / shape[0]); }
  const float* row(int64_t r) const { return data.data() + r * (data.size() / shape[0]); }
  bool empty() const { return data.empty(); }
};

// "[2, 3, 4]"
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace memlens

#endif  // MEMLENS_CORE_TENSOR_H_
