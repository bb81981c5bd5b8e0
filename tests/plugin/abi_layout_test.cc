// A tripwire for the plugin ABI (core/plugin/plugin_api.h and the headers it includes): the
// size of every type plugins and the host exchange, the offset of every field (private ones
// too: plugins compile inline accessors), and AnalysisPlugin's vtable (each virtual's slot and
// the number of slots) and the number of fields of each aggregate, recorded for the current
// MEMLENS_PLUGIN_ABI_VERSION. A field moved, added or retyped, or a virtual added or
// reordered, trips it even when no size changes.
//
// When it trips: if MEMLENS_PLUGIN_ABI_VERSION on main is still the version below, bump it
// (plugins built against the old headers are then refused instead of crashing); it moves at
// most once per release. Then replace kLayout with the table the failure prints (it is in
// source form; add SIZE/FIELDS/FIELD/SLOT lines for any new type, field or virtual) and update the
// static_assert. Numbers are for x86-64 Linux, libstdc++, the Itanium C++ ABI (the supported
// platform): a data member pointer holds the field's offset, a pointer to a virtual method
// holds 1 + its vtable offset.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/plugin/plugin_api.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

static_assert(MEMLENS_PLUGIN_ABI_VERSION == 4,
              "the ABI version changed: record the layout below for the new version");

// Private fields are named through explicit instantiation, where access checking does not
// apply ([temp.explicit]): the standard way to read them without touching the class.
template <typename Tag, typename Tag::Type kMember>
struct Expose {
  friend constexpr typename Tag::Type Get(Tag) { return kMember; }
};
#define MEMLENS_EXPOSE(Class, field, FieldType) \
  struct Class##_##field {                      \
    using Type = FieldType Class::*;            \
    friend constexpr Type Get(Class##_##field); \
  };                                            \
  template struct Expose<Class##_##field, &Class::field>
using TensorMap = std::map<std::string, Tensor>;
MEMLENS_EXPOSE(Cell, kind_, Cell::Kind);
MEMLENS_EXPOSE(Cell, s_, std::string);
MEMLENS_EXPOSE(Cell, i_, int64_t);
MEMLENS_EXPOSE(Cell, f_, double);
MEMLENS_EXPOSE(HookFilter, patterns_, std::vector<std::string>);
MEMLENS_EXPOSE(ActivationStore, tensors_, TensorMap);
MEMLENS_EXPOSE(TensorData, owned_, std::vector<float>);
MEMLENS_EXPOSE(TensorData, data_, float*);
MEMLENS_EXPOSE(TensorData, size_, size_t);
MEMLENS_EXPOSE(TensorData, keep_alive_, std::shared_ptr<const void>);
MEMLENS_EXPOSE(TableBuilder, builder_, ReportBuilder*);
MEMLENS_EXPOSE(TableBuilder, item_, size_t);
MEMLENS_EXPOSE(SeriesBuilder, builder_, ReportBuilder*);
MEMLENS_EXPOSE(SeriesBuilder, item_, size_t);
MEMLENS_EXPOSE(ReportBuilder, section_, Section*);
MEMLENS_EXPOSE(ReportBuilder, status_, absl::Status);

// The offset a data member pointer holds (Itanium ABI).
template <typename C, typename T>
int64_t OffsetOf(T C::*member) {
  static_assert(sizeof(member) == sizeof(ptrdiff_t), "not the Itanium ABI");
  ptrdiff_t offset;
  std::memcpy(&offset, &member, sizeof(offset));
  return offset;
}

// The vtable slot of a virtual method (Itanium ABI: {1 + byte offset in the vtable, adjustment}).
template <typename F>
int64_t VirtualSlot(F method) {
  struct {
    uintptr_t ptr;
    ptrdiff_t adj;
  } rep;
  static_assert(sizeof(method) == sizeof(rep), "not the Itanium ABI");
  std::memcpy(&rep, &method, sizeof(rep));
  if ((rep.ptr & 1) == 0) return -1;  // not virtual
  return static_cast<int64_t>((rep.ptr - 1) / sizeof(void*));
}

// The number of fields of an aggregate: the most initializers T{...} accepts (each AnyField
// converts to whatever member it meets). It sees a field added where nothing moves (into
// padding or at the end of a type that keeps its size).
struct AnyField {
  template <typename U>
  operator U() const;  // only named in unevaluated contexts
};
template <typename T, typename... A>
auto BraceInit(int) -> decltype(T{std::declval<A>()...}, std::true_type());
template <typename T, typename... A>
std::false_type BraceInit(...);
template <typename T, typename... A>
constexpr int64_t FieldCount() {
  static_assert(std::is_aggregate_v<T>, "FIELDS() counts the fields of aggregates only");
  if constexpr (sizeof...(A) < 64 && decltype(BraceInit<T, A..., AnyField>(0))::value) {
    return FieldCount<T, A..., AnyField>();
  } else {
    return sizeof...(A);
  }
}

// A class one virtual longer than AnalysisPlugin: its new virtual's slot is the number of
// AnalysisPlugin's slots (the destructor takes two).
struct OneMoreVirtual : AnalysisPlugin {
  virtual void Probe() {}
};

struct Layout {
  const char* line;  // how the entry is written in kLayout, without the number
  int64_t actual;
  int64_t recorded;
};

#define SIZE(T, n) \
  { "SIZE(" #T, static_cast<int64_t>(sizeof(T)), n }
#define FIELD(T, f, n) \
  { "FIELD(" #T ", " #f, OffsetOf(&T::f), n }
#define PRIVATE(T, f, n) \
  { "PRIVATE(" #T ", " #f, OffsetOf(Get(T##_##f{})), n }
#define FIELDS(T, n) \
  { "FIELDS(" #T, FieldCount<T>(), n }
#define SLOT(f, n) \
  { "SLOT(" #f, VirtualSlot(&AnalysisPlugin::f), n }

// The layout of version 4. One line per size, field offset and vtable slot.
const Layout kLayout[] = {
    // core/tensor.h
    SIZE(TensorData, 56),
    PRIVATE(TensorData, owned_, 0),
    PRIVATE(TensorData, data_, 24),
    PRIVATE(TensorData, size_, 32),
    PRIVATE(TensorData, keep_alive_, 40),
    SIZE(Tensor, 80),
    FIELD(Tensor, shape, 0),
    FIELD(Tensor, data, 24),
    // core/model/config.h
    SIZE(ModelConfig, 176),
    FIELDS(ModelConfig, 27),
    FIELD(ModelConfig, name, 0),
    FIELD(ModelConfig, format, 32),
    FIELD(ModelConfig, norm, 64),
    FIELD(ModelConfig, act, 68),
    FIELD(ModelConfig, pos, 72),
    FIELD(ModelConfig, n_layers, 76),
    FIELD(ModelConfig, d_model, 80),
    FIELD(ModelConfig, n_heads, 84),
    FIELD(ModelConfig, n_kv_heads, 88),
    FIELD(ModelConfig, d_head, 92),
    FIELD(ModelConfig, d_mlp, 96),
    FIELD(ModelConfig, d_vocab, 100),
    FIELD(ModelConfig, n_ctx, 104),
    FIELD(ModelConfig, eps, 108),
    FIELD(ModelConfig, attn_scale, 112),
    FIELD(ModelConfig, rotary_style, 116),
    FIELD(ModelConfig, rotary_dim, 120),
    FIELD(ModelConfig, rope_theta, 124),
    FIELD(ModelConfig, rope_scale, 128),
    FIELD(ModelConfig, parallel_residual, 132),
    FIELD(ModelConfig, attn_window, 136),
    FIELD(ModelConfig, bias_qkv, 160),
    FIELD(ModelConfig, bias_o, 161),
    FIELD(ModelConfig, bias_mlp, 162),
    FIELD(ModelConfig, bias_unembed, 163),
    FIELD(ModelConfig, bos_token_id, 164),
    FIELD(ModelConfig, prepend_bos, 168),
    // core/model/weights.h
    FIELDS(LayerWeights, 17),
    SIZE(LayerWeights, 1360),
    FIELD(LayerWeights, ln1_w, 0),
    FIELD(LayerWeights, ln1_b, 80),
    FIELD(LayerWeights, W_Q, 160),
    FIELD(LayerWeights, W_K, 240),
    FIELD(LayerWeights, W_V, 320),
    FIELD(LayerWeights, b_Q, 400),
    FIELD(LayerWeights, b_K, 480),
    FIELD(LayerWeights, b_V, 560),
    FIELD(LayerWeights, W_O, 640),
    FIELD(LayerWeights, b_O, 720),
    FIELD(LayerWeights, ln2_w, 800),
    FIELD(LayerWeights, ln2_b, 880),
    FIELD(LayerWeights, W_in, 960),
    FIELD(LayerWeights, W_gate, 1040),
    FIELD(LayerWeights, b_in, 1120),
    FIELD(LayerWeights, W_out, 1200),
    FIELD(LayerWeights, b_out, 1280),
    FIELDS(Weights, 7),
    SIZE(Weights, 504),
    FIELD(Weights, W_E, 0),
    FIELD(Weights, W_pos, 80),
    FIELD(Weights, layers, 160),
    FIELD(Weights, ln_final_w, 184),
    FIELD(Weights, ln_final_b, 264),
    FIELD(Weights, W_U, 344),
    FIELD(Weights, b_U, 424),
    FIELDS(Model, 3),
    SIZE(Model, 712),
    FIELD(Model, config, 0),
    FIELD(Model, weights, 176),
    FIELD(Model, processing, 680),
    // core/store/activation_store.h
    SIZE(HookFilter, 24),
    PRIVATE(HookFilter, patterns_, 0),
    SIZE(ActivationStore, 48),
    PRIVATE(ActivationStore, tensors_, 0),
    // core/model/forward.h (Transformer holds two references: its size is all there is)
    SIZE(RunOptions, 96),
    FIELDS(RunOptions, 6),
    FIELD(RunOptions, cache, 0),
    FIELD(RunOptions, interventions, 24),
    FIELD(RunOptions, start_layer, 72),
    FIELD(RunOptions, start_resid, 80),
    FIELD(RunOptions, start_at_mid, 88),
    FIELD(RunOptions, logits, 92),
    FIELDS(RunResult, 3),
    SIZE(RunResult, 152),
    FIELD(RunResult, logits, 0),
    FIELD(RunResult, store, 80),
    FIELD(RunResult, scratch, 128),
    SIZE(Transformer, 16),
    // core/util/thread_pool.h (a pointer to its private implementation)
    SIZE(ThreadPool, 8),
    // core/report/report.h
    SIZE(Cell, 56),
    PRIVATE(Cell, kind_, 0),
    PRIVATE(Cell, s_, 8),
    PRIVATE(Cell, i_, 40),
    PRIVATE(Cell, f_, 48),
    SIZE(Column, 40),
    FIELDS(Column, 3),
    FIELD(Column, name, 0),
    FIELD(Column, type, 32),
    FIELD(Column, precision, 36),
    SIZE(Table, 136),
    FIELDS(Table, 5),
    FIELD(Table, name, 0),
    FIELD(Table, caption, 32),
    FIELD(Table, columns, 64),
    FIELD(Table, rows, 88),
    FIELD(Table, row_flags, 112),
    SIZE(Line, 168),
    FIELDS(Line, 7),
    FIELD(Line, name, 0),
    FIELD(Line, x, 32),
    FIELD(Line, y, 56),
    FIELD(Line, style, 80),
    FIELD(Line, group, 88),
    FIELD(Line, lo, 120),
    FIELD(Line, hi, 144),
    SIZE(Series, 176),
    FIELDS(Series, 6),
    FIELD(Series, name, 0),
    FIELD(Series, caption, 32),
    FIELD(Series, x_label, 64),
    FIELD(Series, y_label, 96),
    FIELD(Series, x_categories, 128),
    FIELD(Series, lines, 152),
    SIZE(Matrix, 200),
    FIELDS(Matrix, 7),
    FIELD(Matrix, name, 0),
    FIELD(Matrix, caption, 32),
    FIELD(Matrix, row_title, 64),
    FIELD(Matrix, col_title, 96),
    FIELD(Matrix, row_labels, 128),
    FIELD(Matrix, col_labels, 152),
    FIELD(Matrix, values, 176),
    SIZE(Note, 32),
    FIELDS(Note, 1),
    FIELD(Note, text, 0),
    SIZE(SectionItem, 208),
    SIZE(Finding, 144),
    FIELDS(Finding, 5),
    FIELD(Finding, kind, 0),
    FIELD(Finding, text, 32),
    FIELD(Finding, values, 64),
    FIELD(Finding, published, 88),
    FIELD(Finding, published_source, 112),
    SIZE(Section, 272),
    FIELDS(Section, 10),
    FIELD(Section, plugin, 0),
    FIELD(Section, plugin_version, 32),
    FIELD(Section, source, 64),
    FIELD(Section, title, 96),
    FIELD(Section, description, 128),
    FIELD(Section, settings, 160),
    FIELD(Section, ok, 184),
    FIELD(Section, error, 192),
    FIELD(Section, findings, 224),
    FIELD(Section, items, 248),
    SIZE(ReportMetadata, 392),
    FIELDS(ReportMetadata, 15),
    FIELD(ReportMetadata, title, 0),
    FIELD(ReportMetadata, memlens_version, 32),
    FIELD(ReportMetadata, created, 64),
    FIELD(ReportMetadata, model_name, 96),
    FIELD(ReportMetadata, model_path, 128),
    FIELD(ReportMetadata, model_format, 160),
    FIELD(ReportMetadata, model_summary, 192),
    FIELD(ReportMetadata, processing, 224),
    FIELD(ReportMetadata, dataset_name, 256),
    FIELD(ReportMetadata, dataset_path, 288),
    FIELD(ReportMetadata, num_prompts, 320),
    FIELD(ReportMetadata, num_tokens, 328),
    FIELD(ReportMetadata, seed, 336),
    FIELD(ReportMetadata, settings, 344),
    FIELD(ReportMetadata, caveats, 368),
    SIZE(Report, 416),
    FIELDS(Report, 2),
    FIELD(Report, metadata, 0),
    FIELD(Report, sections, 392),
    SIZE(TableBuilder, 16),
    PRIVATE(TableBuilder, builder_, 0),
    PRIVATE(TableBuilder, item_, 8),
    SIZE(SeriesBuilder, 16),
    PRIVATE(SeriesBuilder, builder_, 0),
    PRIVATE(SeriesBuilder, item_, 8),
    SIZE(ReportBuilder, 16),
    PRIVATE(ReportBuilder, section_, 0),
    PRIVATE(ReportBuilder, status_, 8),
    // core/plugin/plugin_api.h
    SIZE(DatasetInfo, 80),
    FIELDS(DatasetInfo, 4),
    FIELD(DatasetInfo, name, 0),
    FIELD(DatasetInfo, path, 32),
    FIELD(DatasetInfo, num_prompts, 64),
    FIELD(DatasetInfo, num_tokens, 72),
    SIZE(AnalysisSettings, 104),
    FIELDS(AnalysisSettings, 4),
    FIELD(AnalysisSettings, target, 0),
    FIELD(AnalysisSettings, contrast, 32),
    FIELD(AnalysisSettings, seed, 64),
    FIELD(AnalysisSettings, preset, 72),
    SIZE(AnalysisContext, 232),
    FIELDS(AnalysisContext, 5),
    FIELD(AnalysisContext, model, 0),
    FIELD(AnalysisContext, transformer, 8),
    FIELD(AnalysisContext, dataset, 16),
    FIELD(AnalysisContext, settings, 96),
    FIELD(AnalysisContext, prompt_tokens, 200),
    SIZE(PromptRun, 136),
    FIELDS(PromptRun, 11),
    FIELD(PromptRun, index, 0),
    FIELD(PromptRun, tokens, 8),
    FIELD(PromptRun, pieces, 24),
    FIELD(PromptRun, targets, 40),
    FIELD(PromptRun, contrasts, 56),
    FIELD(PromptRun, store, 72),
    FIELD(PromptRun, target_logits, 80),
    FIELD(PromptRun, contrast_logits, 96),
    FIELD(PromptRun, logits, 112),
    FIELD(PromptRun, context, 120),
    FIELD(PromptRun, shared, 128),
    SIZE(MemlensPluginDescriptor, 40),
    FIELDS(MemlensPluginDescriptor, 5),
    FIELD(MemlensPluginDescriptor, abi_version, 0),
    FIELD(MemlensPluginDescriptor, name, 8),
    FIELD(MemlensPluginDescriptor, version, 16),
    FIELD(MemlensPluginDescriptor, description, 24),
    FIELD(MemlensPluginDescriptor, create, 32),
    // AnalysisPlugin's vtable: slots 0 and 1 are the destructor's.
    SIZE(AnalysisPlugin, 8),
    SLOT(RequiredHooks, 2),
    SLOT(WantsFullLogits, 3),
    SLOT(Begin, 4),
    SLOT(AnalyzePrompt, 5),
    SLOT(Finish, 6),
    SLOT(ReportOrder, 7),
    SLOT(PresetFlags, 8),
    SLOT(Mergeable, 9),
    SLOT(SaveState, 10),
    SLOT(MergeState, 11),
    {"VTABLE_SLOTS(AnalysisPlugin", VirtualSlot(&OneMoreVirtual::Probe), 12},
};

TEST(PluginAbi, LayoutOfVersion4) {
  std::string table;
  bool same = true;
  for (const Layout& l : kLayout) {
    absl::StrAppend(&table, "    ", l.line, ", ", l.actual, "),",
                    l.actual == l.recorded ? "\n" : absl::StrCat("  // was ", l.recorded, "\n"));
    same = same && l.actual == l.recorded;
  }
  EXPECT_TRUE(same) << "a plugin-facing type changed layout (see the top of this file); the "
                       "current layout, in kLayout's form:\n"
                    << table;
}

}  // namespace
}  // namespace memlens
