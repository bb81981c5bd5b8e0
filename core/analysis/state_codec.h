// Bytes for a plugin's mergeable state (AnalysisPlugin::SaveState / MergeState): a writer that
// appends little-endian fixed-width values and length-prefixed arrays, and a reader that
// checks every length against the bytes left, so a corrupt or hostile state is an error, never
// a crash or a huge allocation. Plugins write a version number first and check it on reading.
//
//   StateWriter w;                           StateReader r(bytes, "dla");
//   w.U64(1); w.Stats(sum_); w.F64(max_);    uint64_t version; r.U64(&version);
//   return w.Take();                         r.Stats(&other_sum); r.F64(&other_max);
//                                            if (absl::Status s = r.Finish(); !s.ok()) ...
// Reading stops at the first failure (later reads return false and leave outputs alone);
// Finish() reports it, or trailing bytes, naming `what`.
#ifndef MEMLENS_CORE_ANALYSIS_STATE_CODEC_H_
#define MEMLENS_CORE_ANALYSIS_STATE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace memlens {

struct RunningStats;
class QuantileSketch;

class StateWriter {
 public:
  void U64(uint64_t v);
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void F64(double v);
  void Str(absl::string_view s);
  void Floats(const std::vector<float>& v);
  void Doubles(const std::vector<double>& v);
  void Stats(const RunningStats& s);
  void Sketch(const QuantileSketch& s);
  std::string Take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class StateReader {
 public:
  StateReader(absl::string_view bytes, absl::string_view what) : rest_(bytes), what_(what) {}
  bool U64(uint64_t* v);
  bool I64(int64_t* v);
  bool F64(double* v);
  bool Str(std::string* s);
  bool Floats(std::vector<float>* v);
  bool Doubles(std::vector<double>* v);
  bool Stats(RunningStats* s);
  // Into a sketch constructed with the k the writer used (a different k is an error).
  bool Sketch(QuantileSketch* s);
  // A count that must equal `expected` (e.g. the number of nodes): the state was made with
  // other settings otherwise.
  bool Expect(uint64_t expected, absl::string_view field);
  // Marks the state invalid (e.g. a value out of range).
  bool Fail(absl::string_view why);
  bool ok() const { return error_.empty(); }
  // OK when every read succeeded and no bytes are left over.
  absl::Status Finish() const;

 private:
  bool Take(size_t n, const char** p);
  absl::string_view rest_;
  std::string what_, error_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_STATE_CODEC_H_
