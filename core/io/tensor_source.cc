#include "core/io/tensor_source.h"

#include "absl/strings/str_cat.h"

namespace memlens {

std::vector<std::string> MapTensorSource::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) names.push_back(name);
  return names;
}

const std::vector<int64_t>* MapTensorSource::FindShape(absl::string_view name) const {
  auto it = tensors_.find(std::string(name));
  return it == tensors_.end() ? nullptr : &it->second.shape;
}

absl::StatusOr<Tensor> MapTensorSource::ReadFloat(absl::string_view name) const {
  auto it = tensors_.find(std::string(name));
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(source_name_, ": no tensor named \"", name, "\""));
  }
  return it->second;
}

}  // namespace memlens
