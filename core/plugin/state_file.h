// The state file of one shard of a sharded report (`memlens report --shard=I/N
// --state_out=FILE`), read back by `memlens merge`. Layout (little-endian):
//
//   "MLSTATE\n"                  magic (8 bytes)
//   u32 format version           kStateFileVersion; another is refused by number
//   u64 H, H bytes               the header, JSON: shard I/N, prompts covered, plugin ABI,
//                                model (name, path, format, summary, processing, weights hash),
//                                dataset (name, path, token hash, prompts, tokens), seed,
//                                title, settings (target, contrast, every changed flag), and
//                                each plugin's name, version and state size
//   per plugin, u64 L, L bytes   its SaveState(), in the header's order
//   u64 checksum                 Checksum64 of every byte before it
//
// The header comes first so that a merge checks every file's header (ReadStateHeader) before
// reading any state, then reads one file's states at a time (ReadStateFile): memory is one
// file, however many there are. Every error names the file.
#ifndef MEMLENS_CORE_PLUGIN_STATE_FILE_H_
#define MEMLENS_CORE_PLUGIN_STATE_FILE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model/weights.h"
#include "core/plugin/runner.h"

namespace memlens {

constexpr uint32_t kStateFileVersion = 1;

// A 64-bit checksum of bytes (not cryptographic: it finds truncation and corruption).
uint64_t Checksum64(absl::string_view bytes, uint64_t seed = 0);
// Of every weight tensor's values and shape, in a fixed order: the model as analysed
// (processing included), whatever files it came from.
uint64_t WeightsHash(const Model& model);
// Of the prompts' token ids (and their targets/contrasts), prompt by prompt in order: the
// dataset as analysed. A streamed dataset adds each prompt as it reads it (the --dataset
// prompts hash in the one pass that counts them), so nothing is held or read again.
class PromptsHasher {
 public:
  void Add(const std::vector<int>& tokens, const std::vector<int>& targets,
           const std::vector<int>& contrasts);
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0;
};
// The same over prompts in memory.
uint64_t PromptsHash(const std::vector<Prompt>& prompts);

struct StateHeader {
  uint32_t format_version = kStateFileVersion;
  uint32_t plugin_abi = 0;
  ShardSpec shard;
  int64_t prompt_begin = 0, prompt_end = 0;
  uint64_t model_hash = 0, dataset_hash = 0;
  ReportMetadata metadata;  // the one-process report's (created: when the shard ran)
  struct Plugin {
    std::string name, version;
    uint64_t state_bytes = 0;
  };
  std::vector<Plugin> plugins;
};

// Writes atomically (core/io/atomic_file.h): an interrupted shard leaves no file.
absl::Status WriteStateFile(const std::string& path, const StateHeader& header,
                            const std::vector<std::string>& states);
// The bytes WriteStateFile writes (for tests and fuzzing).
std::string EncodeStateFile(const StateHeader& header, const std::vector<std::string>& states);

// Reads the magic, version and header only (not the states).
absl::StatusOr<StateHeader> ReadStateHeader(const std::string& path);
// The whole file: header and states, checksum verified. `what` names it in errors.
absl::StatusOr<std::pair<StateHeader, std::vector<std::string>>> DecodeStateFile(
    absl::string_view bytes, absl::string_view what);
absl::StatusOr<std::pair<StateHeader, std::vector<std::string>>> ReadStateFile(
    const std::string& path);

// Checks that headers (of `paths`, same order) are the N shards of one run: same format,
// ABI, model, dataset, settings, seed, title and plugins; every index 0..N-1 exactly once;
// each covering the prompts of the deterministic split. Returns the files in shard order.
absl::StatusOr<std::vector<size_t>> CheckShardsBelongTogether(
    const std::vector<std::string>& paths, const std::vector<StateHeader>& headers);

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_STATE_FILE_H_
