#include "core/model/load/weight_plan.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/io/mapped_file.h"

namespace memlens {

absl::Status CheckWeightsFit(const std::string& source, uint64_t bytes) {
  const uint64_t physical =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (bytes <= physical) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      source, ": the weights need ", bytes >> 20, " MB as float32, more than this machine's ",
      physical >> 20, " MB of physical memory; refused before loading"));
}

absl::Status ExecutePlan(const TensorSource& source, const std::vector<TensorPlan>& plan,
                         const std::function<bool(absl::string_view)>& ignorable,
                         absl::string_view why, bool read_weights) {
  const std::string& src = source.source_name();
  std::set<absl::string_view> planned;
  std::vector<std::string> missing;
  for (const TensorPlan& p : plan) {
    planned.insert(p.name);
    const std::vector<int64_t>* shape = source.FindShape(p.name);
    if (shape == nullptr) {
      missing.push_back(p.name);
      continue;
    }
    if (*shape != p.shape) {
      return absl::InvalidArgumentError(absl::StrCat(src, ": tensor ", p.name, " has shape ",
                                                     ShapeString(*shape), " but ", why, " needs ",
                                                     ShapeString(p.shape)));
    }
  }
  if (!missing.empty()) {
    // Name a few: a wrong format or prefix makes every tensor missing at once.
    const size_t kShown = 5;
    std::vector<std::string> shown(missing.begin(),
                                   missing.begin() + std::min(missing.size(), kShown));
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": missing tensor", missing.size() > 1 ? "s " : " ", absl::StrJoin(shown, ", "),
        missing.size() > kShown ? absl::StrCat(" and ", missing.size() - kShown, " more") : "",
        " (", why, ")"));
  }
  for (const std::string& name : source.TensorNames()) {
    if (planned.count(name) == 0 && !ignorable(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": unexpected tensor ", name, " (", why, " has no such weight)"));
    }
  }
  if (!read_weights) return absl::OkStatus();
  uint64_t bytes = 0;  // shapes come from a validated config: no overflow
  for (const TensorPlan& p : plan) {
    uint64_t n = sizeof(float);
    for (int64_t d : p.shape) n *= static_cast<uint64_t>(d);
    bytes += n;
  }
  if (absl::Status s = CheckWeightsFit(src, bytes); !s.ok()) return s;
  // Views the placements converted instead of keeping (a transpose, a regrouping): their file
  // pages are released at once, and again at the end, when every kept view is mapped (mapping
  // a view can map a released neighbour back: PopulateMappedPages says why). Holding them
  // keeps their mapping alive until then.
  std::vector<Tensor> converted;
  for (const TensorPlan& p : plan) {
    absl::StatusOr<Tensor> t = source.ReadFloat(p.name);
    if (!t.ok()) return t.status();
    if (t->shape != p.shape || t->size() != Tensor::NumElements(p.shape)) {
      // A source whose ReadFloat disagrees with FindShape is a bug there, not bad input;
      // still an error, never a crash.
      return absl::InternalError(absl::StrCat(src, ": tensor ", p.name, " read with shape ",
                                              ShapeString(t->shape), ", expected ",
                                              ShapeString(p.shape)));
    }
    const bool view = t->data.is_view();
    const float* floats = t->ptr();
    p.place(std::move(*t));
    if (t->data.is_view()) {
      ReleaseMappedPages(t->ptr(), t->size() * sizeof(float));
      converted.push_back(*std::move(t));
    } else if (view) {  // kept in the model
      PopulateMappedPages(floats, Tensor::NumElements(p.shape) * sizeof(float));
    }
  }
  // Nothing has written to the mapping yet (the model is still loading), so nothing is lost.
  for (const Tensor& t : converted) ReleaseMappedPages(t.ptr(), t.size() * sizeof(float));
  return absl::OkStatus();
}

Tensor HeadsToColumns(const Tensor& t) {
  const int64_t n = t.dim(0), a = t.dim(1), b = t.dim(2);
  Tensor out({a, n * b});
  for (int64_t h = 0; h < n; ++h) {
    for (int64_t i = 0; i < a; ++i) {
      std::memcpy(&out.data[i * n * b + h * b], &t.data[(h * a + i) * b], b * sizeof(float));
    }
  }
  return out;
}

Tensor Reshaped(Tensor t, std::vector<int64_t> shape) {
  t.shape = std::move(shape);
  return t;
}

Tensor SliceLastDim(const Tensor& t, int64_t begin, int64_t count) {
  const int64_t cols = t.shape.back();
  const int64_t rows = t.rank() == 1 ? 1 : t.dim(0);
  Tensor out(t.rank() == 1 ? std::vector<int64_t>{count} : std::vector<int64_t>{rows, count});
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(&out.data[r * count], &t.data[r * cols + begin], count * sizeof(float));
  }
  return out;
}

Tensor Transposed(const Tensor& t) {
  const int64_t r = t.dim(0), c = t.dim(1);
  Tensor out({c, r});
  constexpr int64_t kTile = 32;  // 4 KB per side of a tile: both stay in L1
  for (int64_t i0 = 0; i0 < r; i0 += kTile) {
    const int64_t i1 = std::min(r, i0 + kTile);
    for (int64_t j0 = 0; j0 < c; j0 += kTile) {
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t j = j0; j < std::min(c, j0 + kTile); ++j)
          out.data[j * r + i] = t.data[i * c + j];
      }
    }
    // Rows of a mapped file, read in order: their pages can go as soon as they are copied, so
    // a large matrix (an untied unembedding) is not in memory twice.
    if (t.data.is_view()) ReleaseMappedPages(t.row(i0), (i1 - i0) * c * sizeof(float));
  }
  return out;
}

Tensor Filled(std::vector<int64_t> shape, float value) {
  Tensor t(std::move(shape));
  std::fill(t.data.begin(), t.data.end(), value);
  return t;
}

}  // namespace memlens
