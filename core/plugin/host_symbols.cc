// Keeps the plugin-facing core implementations in the host binary.
//
// Plugins are linked against headers only (plugin.bzl); their calls into the core
// (ActivationStore::Get, Transformer::Run, ReportBuilder::AddTable, ...) are resolved at dlopen
// time against the host, which exports its symbols with -rdynamic. But a static link only
// pulls in object files the host itself references, and the host may never call, say,
// ShapeString or SeriesBuilder::AddLine. Referencing one symbol of every object file behind
// the plugin headers from this always-linked file brings each whole object file in (and
// -rdynamic then exports all of its symbols). The list doubles as the map of what plugins
// may call.
#include "core/model/config.h"
#include "core/model/forward.h"
#include "core/model/weights.h"
#include "core/ops/ops.h"
#include "core/report/report.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"
#include "core/util/thread_pool.h"

namespace memlens {
namespace {

struct HostAnchors {
  std::string (*shape_string)(const std::vector<int64_t>&);                 // core:tensor
  bool (*glob_match)(absl::string_view, absl::string_view);                 // store
  absl::StatusOr<const Tensor*> (ActivationStore::*store_get)(absl::string_view) const;
  const char* (*norm_kind_name)(NormKind);                                  // model:config
  absl::Status (Weights::*weights_validate)(const ModelConfig&) const;      // model:weights
  std::vector<std::string> (*all_hook_names)(const ModelConfig&);           // model:forward
  absl::StatusOr<RunResult> (Transformer::*run)(absl::Span<const int>, const RunOptions&) const;
  int (ThreadPool::*num_threads)() const;                                   // util:thread_pool
  void (*matmul)(const float*, const float*, const float*, float*, size_t, size_t, size_t,
                 ThreadPool&);                                              // ops (kernels)
  const char* (*column_type_name)(ColumnType);                              // report
  TableBuilder (ReportBuilder::*add_table)(absl::string_view, std::vector<Column>,
                                           absl::string_view);
};

}  // namespace

// Marked used so the compiler keeps it; alwayslink keeps this object file in the link.
__attribute__((used)) const HostAnchors kMemlensPluginHostAnchors = {
    &ShapeString,
    &GlobMatch,
    &ActivationStore::Get,
    &NormKindName,
    &Weights::Validate,
    &AllHookNames,
    &Transformer::Run,
    &ThreadPool::NumThreads,
    &ops::MatMul,
    &ColumnTypeName,
    &ReportBuilder::AddTable,
};

}  // namespace memlens
