// memlens cache: run a prompt and write the requested hooks to files for Python users.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/cli/session.h"
#include "core/io/activation_writer.h"
#include "core/io/mapped_file.h"
#include "core/util/interrupt.h"

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
  const std::string path =
      out_format == "safetensors" ? out + "/activations.safetensors" : out;
  // Checked before any work: a run is not lost to an output that cannot be written.
  if (auto st = CheckActivationOutput(path); !st.ok()) return Fail("cache", st);
  InstallInterruptHandler();
  auto s = OpenSession(SessionPurpose::kAnalysis);
  if (!s.ok()) return Fail("cache", s.status());
  auto tokens = PromptTokens(*s);
  if (!tokens.ok()) return Fail("cache", tokens.status());
  RunOptions options;
  auto filter = HookFilter::Parse(absl::GetFlag(FLAGS_hooks), AllHookNames(s->model().config));
  if (!filter.ok()) return Fail("cache", filter.status());
  if (auto st = CheckCacheFits(s->model().config, *filter, tokens->size(), MaxMemoryBytes());
      !st.ok()) {
    return Fail("cache", st);
  }
  options.cache = std::move(*filter);
  auto run = s->transformer->Run(*tokens, options);
  if (!run.ok()) return Fail("cache", run.status());
  // The logits are part of what Python users compare against; store them with the hooks.
  run->store.Put("logits", std::move(run->logits));

  ActivationMetadata metadata = {{"model", s->model_label},
                                 {"tokens", absl::StrJoin(*tokens, " ")},
                                 {"processing", s->model().processing},
                                 {"hooks", absl::GetFlag(FLAGS_hooks)}};
  if (InterruptRequested()) {
    Fail("cache", absl::CancelledError("interrupted; nothing was written"));
    return InterruptExitCode();
  }
  // A signal from here on lets the write finish: it is atomic, so the output is whole.
  if (auto st = CheckMappedFilesUnchanged(); !st.ok()) return Fail("cache", st);
  if (auto st = WriteActivations(run->store, path, metadata); !st.ok()) return Fail("cache", st);
  std::printf("wrote %zu tensors (%.1f MB) to %s%s\n", run->store.tensors().size(),
              run->store.Bytes() / 1048576.0, path.c_str(),
              out_format == "npy" ? " (one .npy per hook, described by index.json)" : "");
  return 0;
}

}  // namespace memlens
