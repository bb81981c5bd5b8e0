// A named float32 tensor: the one currency between the core, the activation store and plugins.
#ifndef MEMLENS_CORE_TENSOR_H_
#define MEMLENS_CORE_TENSOR_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace memlens {

// The floats of a Tensor: either owned (a std::vector), or a view of memory that another object
// keeps alive (`keep_alive`: a mapped model file, so weights already in memlens's layout are
// used in place instead of copied). Reads and writes like a std::vector<float>; a view's memory
// is writable (a private mapping: writes never reach the file). Copies are deep and own their
// floats, so a Tensor keeps value semantics; a move keeps the view. Resizing a view first copies
// it into owned storage.
class TensorData {
 public:
  using value_type = float;
  using size_type = size_t;
  using difference_type = std::ptrdiff_t;
  using reference = float&;
  using const_reference = const float&;
  using pointer = float*;
  using const_pointer = const float*;
  using iterator = float*;
  using const_iterator = const float*;

  TensorData() = default;
  explicit TensorData(size_t n, float value = 0.0f) : owned_(n, value) { PointAtOwned(); }
  TensorData(std::vector<float> v) : owned_(std::move(v)) { PointAtOwned(); }  // NOLINT
  TensorData(std::initializer_list<float> v) : owned_(v) { PointAtOwned(); }
  template <typename It, typename = decltype(*std::declval<It>())>
  TensorData(It first, It last) : owned_(first, last) {
    PointAtOwned();
  }
  // `n` floats at `data`, valid as long as `keep_alive` is held.
  static TensorData View(float* data, size_t n, std::shared_ptr<const void> keep_alive) {
    TensorData t;
    t.data_ = data;
    t.size_ = n;
    t.keep_alive_ = std::move(keep_alive);
    return t;
  }

  TensorData(const TensorData& other) : owned_(other.begin(), other.end()) { PointAtOwned(); }
  TensorData(TensorData&& other) noexcept { *this = std::move(other); }
  TensorData& operator=(const TensorData& other) {
    if (this != &other) *this = TensorData(other);
    return *this;
  }
  TensorData& operator=(TensorData&& other) noexcept {
    if (this != &other) {
      const bool view = other.is_view();
      owned_ = std::move(other.owned_);
      keep_alive_ = std::move(other.keep_alive_);
      data_ = view ? other.data_ : owned_.data();
      size_ = other.size_;
      other.owned_.clear();
      other.keep_alive_.reset();
      other.data_ = nullptr;
      other.size_ = 0;
    }
    return *this;
  }

  // True when the floats belong to another object (a mapped file), not to this one.
  bool is_view() const { return keep_alive_ != nullptr; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](size_t i) { return data_[i]; }
  const float& operator[](size_t i) const { return data_[i]; }
  float& front() { return data_[0]; }
  const float& front() const { return data_[0]; }
  float& back() { return data_[size_ - 1]; }
  const float& back() const { return data_[size_ - 1]; }
  iterator begin() { return data_; }
  iterator end() { return data_ + size_; }
  const_iterator begin() const { return data_; }
  const_iterator end() const { return data_ + size_; }
  const_iterator cbegin() const { return data_; }
  const_iterator cend() const { return data_ + size_; }

  void resize(size_t n, float value = 0.0f) {
    Own();
    owned_.resize(n, value);
    PointAtOwned();
  }
  void assign(size_t n, float value) { *this = TensorData(n, value); }
  template <typename It, typename = decltype(*std::declval<It>())>
  void assign(It first, It last) {
    *this = TensorData(first, last);
  }
  void clear() { *this = TensorData(); }
  void push_back(float x) {
    Own();
    owned_.push_back(x);
    PointAtOwned();
  }

  std::vector<float> ToVector() const { return std::vector<float>(begin(), end()); }

  friend bool operator==(const TensorData& a, const TensorData& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const TensorData& a, const TensorData& b) { return !(a == b); }
  friend bool operator==(const TensorData& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator==(const std::vector<float>& a, const TensorData& b) { return b == a; }
  friend bool operator!=(const TensorData& a, const std::vector<float>& b) { return !(a == b); }
  friend bool operator!=(const std::vector<float>& a, const TensorData& b) { return !(b == a); }

 private:
  void PointAtOwned() {
    data_ = owned_.data();
    size_ = owned_.size();
  }
  // A view becomes owned storage (a copy) before anything changes its size.
  void Own() {
    if (!is_view()) return;
    owned_.assign(begin(), end());
    keep_alive_.reset();
    PointAtOwned();
  }

  std::vector<float> owned_;
  float* data_ = nullptr;  // owned_.data() or the view
  size_t size_ = 0;
  std::shared_ptr<const void> keep_alive_;  // non-null exactly for a view
};

// All computation is float32; the dtype of a tensor's source (f16/bf16 files) is converted at
// load time. Row-major, contiguous.
struct Tensor {
  std::vector<int64_t> shape;
  TensorData data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> s) : shape(std::move(s)), data(NumElements(shape)) {}
  Tensor(std::vector<int64_t> s, TensorData d) : shape(std::move(s)), data(std::move(d)) {}

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
