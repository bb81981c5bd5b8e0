// memlens cache: run a prompt and write the requested hooks to files for Python users.
#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/cli/session.h"
#include "core/io/atomic_file.h"
#include "core/io/json.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"

namespace memlens {

int RunCache() {
  const std::string out = absl::GetFlag(FLAGS_out);
  const std::string out_format = absl::GetFlag(FLAGS_out_format);
  if (out.empty()) {
    return Fail("cache", absl::InvalidArgumentError("--out=DIR is required"));
  }
  if (out_format != "npy" && out_format != "safetensors") {
    return Fail("cache", absl::InvalidArgumentError(absl::StrCat(
                             "--out_format must be npy or safetensors, not '", out_format, "'")));
  }
  auto s = OpenSession();
  if (!s.ok()) return Fail("cache", s.status());
  auto tokens = PromptTokens(*s);
  if (!tokens.ok()) return Fail("cache", tokens.status());
  RunOptions options;
  auto filter = HookFilter::Parse(absl::GetFlag(FLAGS_hooks), AllHookNames(s->model.config));
  if (!filter.ok()) return Fail("cache", filter.status());
  options.cache = std::move(*filter);
  auto run = s->transformer->Run(*tokens, options);
  if (!run.ok()) return Fail("cache", run.status());
  // The logits are part of what Python users compare against; store them with the hooks.
  run->store.Put("logits", std::move(run->logits));

  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    return Fail("cache", absl::InternalError(absl::StrCat("cannot create ", out, ": ",
                                                          ec.message())));
  }
  std::map<std::string, std::string> metadata = {
      {"model", s->model_path},
      {"tokens", absl::StrJoin(*tokens, " ")},
      {"processing", s->model.processing},
      {"hooks", absl::GetFlag(FLAGS_hooks)}};
  if (out_format == "safetensors") {
    const std::string path = out + "/activations.safetensors";
    if (auto st = WriteSafetensors(path, run->store.tensors(), metadata); !st.ok()) {
      return Fail("cache", st);
    }
    std::printf("wrote %zu tensors (%.1f MB) to %s\n", run->store.tensors().size(),
                run->store.Bytes() / 1048576.0, path.c_str());
    return 0;
  }
  // One <hook>.npy per tensor (np.load-able) plus index.json describing them.
  json::JsonWriter index(2);
  index.BeginObject();
  for (const auto& [k, v] : metadata) index.Key(k).String(v);
  index.Key("tensors").BeginArray();
  for (const auto& [name, tensor] : run->store.tensors()) {
    const std::string file = name + ".npy";
    if (auto st = WriteNpy(out + "/" + file, tensor); !st.ok()) return Fail("cache", st);
    index.BeginObject().Key("name").String(name).Key("file").String(file);
    index.Key("dtype").String("float32").Key("shape").BeginArray();
    for (int64_t d : tensor.shape) index.Int(d);
    index.EndArray().EndObject();
  }
  index.EndArray().EndObject();
  if (auto st = WriteFileAtomically(out + "/index.json", index.str() + "\n"); !st.ok()) {
    return Fail("cache", st);
  }
  std::printf("wrote %zu tensors (%.1f MB) as .npy files with index.json to %s\n",
              run->store.tensors().size(), run->store.Bytes() / 1048576.0, out.c_str());
  return 0;
}

}  // namespace memlens
