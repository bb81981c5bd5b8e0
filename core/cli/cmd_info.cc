// memlens info / memlens hooks.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/cli/session.h"
#include "core/io/json.h"
#include "core/model/load/weight_plan.h"

namespace memlens {
namespace {

// 1234567 -> "1,234,567"
std::string WithThousands(size_t n) {
  std::string digits = absl::StrCat(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

int RunInfo() {
  auto s = OpenSession(SessionPurpose::kInspect);
  if (!s.ok()) return Fail("info", s.status());
  const ModelConfig& c = s->model().config;
  // Names and shapes from the config: the loader checked the file's tensors against them
  // without reading any (SessionPurpose::kInspect), so this costs the same at any model size.
  size_t params = 0;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  ForEachWeightShape(c, [&](const std::string& name, const std::vector<int64_t>& shape) {
    shapes.emplace_back(name, shape);
    params += Tensor::NumElements(shape);
  });
  // What run, report and cache would refuse before loading (info reads no weight, so it can
  // still describe a model too large for this machine).
  const absl::Status fits = CheckWeightsFit(s->model_path, uint64_t{4} * params);
  const bool json_out = absl::GetFlag(FLAGS_format) == "json";
  json::JsonWriter j(2);
  std::vector<std::vector<std::string>> tensors;
  j.BeginObject().Key("model").String(s->model_label).Key("format").String(c.format);
  j.Key("family").String(s->family);
  j.Key("quirks").BeginArray();
  for (const std::string& q : s->quirks) j.String(q);
  j.EndArray();
  j.Key("name").String(c.name).Key("parameters").Int(params);
  j.Key("processing").String(s->model().processing);
  j.Key("weights_read").Bool(s->weights_read);
  j.Key("fits_in_memory").Bool(fits.ok());
  j.Key("config").BeginObject();
  j.Key("norm").String(NormKindName(c.norm)).Key("act").String(ActKindName(c.act));
  j.Key("positions").String(PosKindName(c.pos)).Key("n_layers").Int(c.n_layers);
  j.Key("d_model").Int(c.d_model).Key("n_heads").Int(c.n_heads);
  j.Key("n_kv_heads").Int(c.n_kv_heads).Key("d_head").Int(c.d_head).Key("d_mlp").Int(c.d_mlp);
  j.Key("d_vocab").Int(c.d_vocab).Key("n_ctx").Int(c.n_ctx).Key("eps").Number(c.eps);
  j.Key("attn_scale").Number(c.attn_scale).Key("biases").Bool(c.any_bias());
  j.Key("bos_token_id").Int(c.bos_token_id).Key("prepend_bos").Bool(c.prepend_bos);
  j.EndObject();
  // The shipped model's tokenizer is named as the model is (models/default/...), not by
  // wherever its copy was found (a Bazel runfiles tree, an install prefix).
  const std::string tokenizer =
      s->tokenizer == nullptr
          ? ""
          : absl::StrReplaceAll(s->tokenizer->name(), {{s->model_path, s->model_label}});
  j.Key("tokenizer").String(tokenizer);
  j.Key("tensors").BeginArray();
  for (const auto& [name, shape] : shapes) {
    j.BeginObject().Key("name").String(name).Key("shape").BeginArray();
    for (int64_t d : shape) j.Int(d);
    j.EndArray().EndObject();
    tensors.push_back({name, ShapeString(shape), absl::StrCat(Tensor::NumElements(shape))});
  }
  j.EndArray().EndObject();
  if (json_out) {
    std::printf("%s\n", j.str().c_str());
    return 0;
  }
  std::printf("model       %s (%s)\n", s->model_label.c_str(), c.format.c_str());
  std::printf("family      %s%s%s\n", s->family.c_str(), s->quirks.empty() ? "" : ": ",
              absl::StrJoin(s->quirks, ", ").c_str());
  std::printf("parameters  %s (%.1f MB as float32)\n", WithThousands(params).c_str(),
              params * 4.0 / (1 << 20));
  if (!fits.ok()) std::printf("memory      %s\n", std::string(fits.message()).c_str());
  std::printf("layers      %d, d_model %d, %d heads of %d (%d key/value heads), d_mlp %d\n",
              c.n_layers, c.d_model, c.n_heads, c.d_head, c.n_kv_heads, c.d_mlp);
  std::printf("vocabulary  %d tokens, context %d\n", c.d_vocab, c.n_ctx);
  std::printf("blocks      %s (eps %g), %s, %s positions%s, attention scale %g\n",
              NormKindName(c.norm), c.eps, ActKindName(c.act), PosKindName(c.pos),
              c.pos == PosKind::kRotary ? absl::StrFormat(" (theta %g)", c.rope_theta).c_str()
                                        : "",
              c.attn_scale);
  std::printf("biases      %s; BOS %s\n", c.any_bias() ? "yes" : "no",
              c.bos_token_id >= 0 ? absl::StrCat("id ", c.bos_token_id,
                                                 c.prepend_bos ? ", prepended" : "")
                                        .c_str()
                                  : "none");
  std::printf("processing  %s\n", s->model().processing.c_str());
  std::printf("weights     %s\n",
              s->weights_read
                  ? "read and checked (every value finite)"
                  : "names and shapes checked, values not read (run and report check them)");
  std::printf("tokenizer   %s\n\n",
              s->tokenizer ? tokenizer.c_str() : "none found (use --tokenizer)");
  std::printf("%s", TextTable({"tensor", "shape", "elements"}, tensors, {false, false, true}).c_str());
  return 0;
}

int RunHooks() {
  auto s = OpenSession(SessionPurpose::kInspect);
  if (!s.ok()) return Fail("hooks", s.status());
  const ModelConfig& c = s->model().config;
  std::vector<std::vector<std::string>> rows;
  // Shapes for one prompt of T tokens (T stands for the prompt length); bytes at T = n_ctx.
  constexpr int64_t kT = -1;
  for (const std::string& name : AllHookNames(c)) {
    std::vector<std::string> dims;
    for (int64_t d : HookShape(c, name, kT)) dims.push_back(d == kT ? "T" : absl::StrCat(d));
    HookFilter one = *HookFilter::Parse(name, {name});
    rows.push_back({name, absl::StrCat("[", absl::StrJoin(dims, ", "), "]"),
                    absl::StrFormat("%.1f", CacheBytes(c, one, c.n_ctx) / 1048576.0)});
  }
  std::printf("%s", TextTable({"hook", "shape", "MB at n_ctx"}, rows, {false, false, true}).c_str());
  std::printf("\nAll hooks at n_ctx = %d tokens: %.1f MB.\n", c.n_ctx,
              CacheBytes(c, HookFilter::All(), c.n_ctx) / 1048576.0);
  return 0;
}

}  // namespace memlens
