#include "core/io/container_formats.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/io/safetensors.h"

namespace memlens {
namespace {

struct Registry {
  absl::Mutex mu;
  std::vector<TensorSourceFormat> formats ABSL_GUARDED_BY(mu);
};

template <typename Source>
TensorSourceOpener OpenerOf() {
  return [](const std::string& path) -> absl::StatusOr<std::unique_ptr<TensorSource>> {
    auto s = Source::Open(path);
    if (!s.ok()) return s.status();
    return std::unique_ptr<TensorSource>(std::move(*s));
  };
}

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    absl::MutexLock lock(&r->mu);
    r->formats.push_back(
        {"safetensors", ".safetensors", {"model.safetensors"}, OpenerOf<SafetensorsSource>()});
    r->formats.push_back({"safetensors-sharded",
                          ".safetensors.index.json",
                          {"model.safetensors.index.json"},
                          OpenerOf<ShardedSafetensorsSource>()});
    return r;
  }();
  return *registry;
}

}  // namespace

void RegisterTensorSourceFormat(TensorSourceFormat format) {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  r.formats.push_back(std::move(format));
}

std::vector<TensorSourceFormat> TensorSourceFormats() {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  return r.formats;
}

}  // namespace memlens
