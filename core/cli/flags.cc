#include "core/cli/flags.h"

#include <cmath>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, model, "",
          "Model to load: a llama2.c .bin file, or a directory with config.json and "
          "model.safetensors (TransformerLens or HuggingFace GPT-2 names) or model_final.pth "
          "(TransformerLens checkpoint). Default: the small model shipped in models/default.");
ABSL_FLAG(std::string, tokenizer, "",
          "Tokenizer: llama2.c tok*.bin, tokenizer.json, or a directory with encoder.json + "
          "vocab.bpe. Default: the tokenizer files in the model's directory, if any.");
ABSL_FLAG(std::string, prompt, "", "Text to run (tokenized with the model's tokenizer).");
ABSL_FLAG(std::string, tokens, "",
          "Token ids to run instead of --prompt, separated by commas or spaces, e.g. 1,303,281.");
ABSL_FLAG(std::string, prepend_bos, "auto",
          "Prepend the BOS token to --prompt: auto (as the model's config says), yes, no.");
ABSL_FLAG(bool, truncate, false,
          "Keep the last n_ctx tokens of a prompt longer than the model's context instead of "
          "stopping with an error.");
ABSL_FLAG(int, threads, 0, "Worker threads (0: one per hardware thread).");
ABSL_FLAG(std::string, format, "text", "Output format: text or json (report: also md, csv, html).");
ABSL_FLAG(int, top_k, 0, "Sample only from the K most likely tokens (0: all). With --generate.");
ABSL_FLAG(int, generate, 0, "Continue the prompt by this many tokens.");
ABSL_FLAG(double, temperature, 0.0,
          "Sampling temperature for --generate; 0 means greedy (always the most likely token).");
ABSL_FLAG(int, top, 10, "How many of the most likely next tokens to show.");
ABSL_FLAG(uint64_t, seed, 1234, "Seed of every random choice (sampling, resample ablation).");
ABSL_FLAG(std::string, hooks, "*",
          "Hooks to record, comma-separated TransformerLens names or globs, e.g. "
          "'blocks.*.hook_resid_post,blocks.0.attn.hook_pattern'. See `memlens hooks`.");
ABSL_FLAG(std::string, out, "", "Output: a directory (cache) or a file (report; default stdout).");
ABSL_FLAG(std::string, out_format, "npy",
          "Activation file format for `memlens cache`: npy (one .npy per hook plus index.json) "
          "or safetensors (one activations.safetensors).");
ABSL_FLAG(double, max_memory, 0,
          "Refuse to run when the hooks to cache would take more than this many MB for one "
          "prompt (0: half of this machine's physical memory).");
ABSL_FLAG(std::string, process_weights, "auto",
          "TransformerLens's weight processing (fold LayerNorm weights into the following "
          "matrices, center writing weights, center the unembedding, fold value biases), as "
          "HookedTransformer.from_pretrained does by default: auto (on for report and cache, "
          "whose numbers researchers compare with TransformerLens; off for run and info, which "
          "reproduce the model's own logits), yes, no. Each report states what was applied.");
ABSL_FLAG(bool, fold_ln, true, "With weight processing: fold norm weights into readers.");
ABSL_FLAG(bool, center_writing_weights, true,
          "With weight processing: center what writes to the residual stream (LayerNorm only).");
ABSL_FLAG(bool, center_unembed, true, "With weight processing: center W_U over the vocabulary.");
ABSL_FLAG(bool, fold_value_biases, true, "With weight processing: fold b_V into b_O.");

namespace memlens {

absl::Status ValidateNumericFlags() {
  auto range = [](const char* name, int64_t value, int64_t lo, int64_t hi) -> absl::Status {
    if (value >= lo && value <= hi) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", value, " is outside [", lo, ", ", hi, "]"));
  };
  auto non_negative = [](const char* name, double value, const char* meaning) -> absl::Status {
    if (std::isfinite(value) && value >= 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("--", name, "=", value,
                                                   ": must be a finite number >= 0 (", meaning,
                                                   ")"));
  };
  constexpr int64_t kMaxInt = 2147483647;
  for (absl::Status s : {
           range("threads", absl::GetFlag(FLAGS_threads), 0, kMaxThreads),
           range("top_k", absl::GetFlag(FLAGS_top_k), 0, kMaxInt),
           range("generate", absl::GetFlag(FLAGS_generate), 0, kMaxInt),
           range("top", absl::GetFlag(FLAGS_top), 0, kMaxInt),
           non_negative("temperature", absl::GetFlag(FLAGS_temperature), "0: greedy"),
           non_negative("max_memory", absl::GetFlag(FLAGS_max_memory),
                        "MB; 0: half of the physical memory"),
       }) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace memlens
