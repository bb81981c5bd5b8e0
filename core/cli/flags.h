// The flags shared by memlens subcommands (defined in flags.cc).
#ifndef MEMLENS_CORE_CLI_FLAGS_H_
#define MEMLENS_CORE_CLI_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/status.h"

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, tokenizer);
ABSL_DECLARE_FLAG(std::string, prompt);
ABSL_DECLARE_FLAG(std::string, tokens);
ABSL_DECLARE_FLAG(std::string, prepend_bos);
ABSL_DECLARE_FLAG(bool, truncate);
ABSL_DECLARE_FLAG(int, threads);
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(int, top_k);
ABSL_DECLARE_FLAG(int, generate);
ABSL_DECLARE_FLAG(double, temperature);
ABSL_DECLARE_FLAG(int, top);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, hooks);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, out_format);
ABSL_DECLARE_FLAG(double, max_memory);
ABSL_DECLARE_FLAG(std::string, process_weights);
ABSL_DECLARE_FLAG(bool, fold_ln);
ABSL_DECLARE_FLAG(bool, center_writing_weights);
ABSL_DECLARE_FLAG(bool, center_unembed);
ABSL_DECLARE_FLAG(bool, fold_value_biases);

namespace memlens {

// The most worker threads --threads accepts.
inline constexpr int kMaxThreads = 1024;

// Checks every numeric flag above against its range (--threads in [0, kMaxThreads], counts
// >= 0, --temperature and --max_memory finite and >= 0): an error naming the flag and its value,
// never a silent default.
absl::Status ValidateNumericFlags();

}  // namespace memlens

#endif  // MEMLENS_CORE_CLI_FLAGS_H_
