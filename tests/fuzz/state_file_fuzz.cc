// libFuzzer target for the sharded run's state file and the plugin-state codec
// (tools/fuzz.sh state_file_fuzz). Invariants: no crash, no huge allocation; an error names
// the file; a decoded file re-encodes to bytes that decode to the same header and states; any
// state that loads as a quantile sketch answers quantiles within its [min, max].
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/analysis/plugin_support.h"
#include "core/analysis/sketch.h"
#include "core/analysis/state_codec.h"
#include "core/plugin/state_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const std::string bytes(fuzz::AsText(data, size));
  auto decoded = DecodeStateFile(bytes, "fuzz.state");
  // The codec on the raw bytes too: a plugin's MergeState sees whatever a file holds.
  std::vector<std::string> states = {bytes};
  if (!decoded.ok()) {
    if (decoded.status().message().find("fuzz.state") == absl::string_view::npos) std::abort();
  } else {
    const std::string again = EncodeStateFile(decoded->first, decoded->second);
    auto back = DecodeStateFile(again, "re-encoded");
    if (!back.ok() || back->second != decoded->second ||
        back->first.shard.index != decoded->first.shard.index ||
        back->first.metadata.settings != decoded->first.metadata.settings ||
        back->first.model_hash != decoded->first.model_hash) {
      std::abort();
    }
    for (const std::string& s : decoded->second) states.push_back(s);
  }
  for (const std::string& s : states) {
    StateReader r(s, "fuzz");
    for (int i = 0; i < 4 && r.ok(); ++i) {
      QuantileSketch q(16);
      if (!r.Sketch(&q)) break;
      if (q.count() > 0) {
        const double m = q.Quantile(0.5);
        if (!(m >= q.min() && m <= q.max())) std::abort();
      }
      RunningStats st;
      r.Stats(&st);
    }
    (void)r.Finish();
  }
  return 0;
}
