// Node attribution checked node by node against an independent decomposition: the golden
// fixtures' float64 hooks (tools/tl_reference.py via tools/make_fixtures.py, which never call
// memlens) give each node's output, e.g. head h of layer l is hook_result[:, h] and the
// attention bias is hook_attn_out minus the sum of the heads. Each node's DLA is then computed
// by hand from those outputs, the fixture's final scale and the unembedding. "DLA sums to the
// logit" holds for any split of the residual into nodes; these checks fail when output is
// credited to the wrong node (a head, layer or position off by one).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/analysis/dla.h"
#include "core/analysis/nodes.h"
#include "core/io/safetensors.h"
#include "core/model/forward.h"
#include "core/model/load/load_model.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

struct Fixture {
  const char* model;     // under tests/fixtures
  const char* expected;  // folder of expected_{0,1}.safetensors
};

class NodeAttributionTest : public ::testing::TestWithParam<Fixture> {};

// Node `name`'s output at position i, from the fixture's hooks alone ([D] as double).
std::vector<double> ReferenceOutput(const SafetensorsFile& f, const ModelConfig& c,
                                    const std::string& name, int64_t i) {
  const int64_t D = c.d_model, H = c.n_heads;
  auto row = [&](const std::string& hook) {
    const Tensor t = *f.ReadFloat(hook);
    return std::vector<double>(t.data.begin() + i * D, t.data.begin() + (i + 1) * D);
  };
  if (name == "embed") return row("hook_embed");
  if (name == "pos_embed") return row("hook_pos_embed");
  int l = 0, h = 0;
  if (name[0] == 'M') return row(absl::StrCat("blocks.", name.substr(1), ".hook_mlp_out"));
  const Tensor result = *f.ReadFloat(absl::StrCat("blocks.", name[1] - '0', ".attn.hook_result"));
  if (sscanf(name.c_str(), "L%dH%d", &l, &h) == 2) {
    return std::vector<double>(result.data.begin() + (i * H + h) * D,
                               result.data.begin() + (i * H + h + 1) * D);
  }
  // L{l}.b_O: what the attention adds beyond its heads.
  std::vector<double> out = row(absl::StrCat("blocks.", name[1] - '0', ".hook_attn_out"));
  for (int64_t k = 0; k < H; ++k) {
    for (int64_t d = 0; d < D; ++d) out[d] -= result.data[(i * H + k) * D + d];
  }
  return out;
}

TEST_P(NodeAttributionTest, EveryNodeMatchesTheReferenceDecomposition) {
  const std::string dir = "tests/fixtures/";
  auto model = LoadModel(dir + GetParam().model);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = model->config;
  const int64_t D = c.d_model, V = c.d_vocab;
  ThreadPool pool(1);
  Transformer tf(*model, pool);
  const std::vector<Node> nodes = ListNodes(*model);
  for (int k = 0; k < 2; ++k) {
    auto f = SafetensorsFile::Open(dir + GetParam().expected + "/expected_" + std::to_string(k) +
                                   ".safetensors");
    ASSERT_TRUE(f.ok()) << f.status();
    const Tensor tokens_f = *f->ReadFloat("tokens");
    const std::vector<int> tokens(tokens_f.data.begin(), tokens_f.data.end());
    const Tensor scale = *f->ReadFloat("ln_final.hook_scale");
    const Tensor logits = *f->ReadFloat("logits");
    RunOptions o;
    o.cache = HookFilter::All();
    auto run = tf.Run(tokens, o);
    ASSERT_TRUE(run.ok()) << run.status();
    const int64_t T = tokens.size();
    for (int64_t i = 0; i < T; ++i) {
      const int target = tokens[(i + 1) % T], contrast = (target + 7) % V;
      auto outs = NodeOutputs(run->store, *model, nodes, i);
      ASSERT_TRUE(outs.ok()) << outs.status();
      auto direction = MakeDlaDirection(*model, target, contrast);
      ASSERT_TRUE(direction.ok());
      const float got_scale = *FinalScale(run->store, i);
      // By hand: (x - mean x, LayerNorm only) / s . (w_lnf * (W_U[:, target] - W_U[:, contrast])).
      std::vector<double> want_dla(nodes.size());
      double sum = 0, largest = 0;
      for (size_t n = 0; n < nodes.size(); ++n) {
        const std::vector<double> x = ReferenceOutput(*f, c, nodes[n].name, i);
        double mean = 0;
        if (c.norm == NormKind::kLayerNorm) {
          for (double v : x) mean += v / D;
        }
        double acc = 0;
        for (int64_t d = 0; d < D; ++d) {
          acc += (x[d] - mean) * model->weights.ln_final_w.data[d] *
                 (static_cast<double>(model->weights.W_U.data[d * V + target]) -
                  model->weights.W_U.data[d * V + contrast]);
        }
        want_dla[n] = acc / scale.data[i];
        sum += want_dla[n];
        largest = std::max(largest, std::fabs(want_dla[n]));
        // The node's output vector itself, at the golden tests' tolerance.
        double vmax = 0;
        for (double v : x) vmax = std::max(vmax, std::fabs(v));
        for (int64_t d = 0; d < D; ++d) {
          ASSERT_NEAR(outs->data[n * D + d], x[d], 1e-5 * vmax + 1e-5 * std::fabs(x[d]) + 1e-7)
              << nodes[n].name << " at position " << i << " dim " << d << " (prompt " << k << ")";
        }
      }
      // The reference itself adds up: nodes plus bias terms give the fixture's logit difference.
      double bias = 0;
      for (int64_t d = 0; d < D; ++d) {
        if (!model->weights.ln_final_b.empty()) {
          bias += model->weights.ln_final_b.data[d] *
                  (static_cast<double>(model->weights.W_U.data[d * V + target]) -
                   model->weights.W_U.data[d * V + contrast]);
        }
      }
      if (!model->weights.b_U.empty()) {
        bias += static_cast<double>(model->weights.b_U.data[target]) -
                model->weights.b_U.data[contrast];
      }
      const double logit_diff = logits.data[i * V + target] - logits.data[i * V + contrast];
      ASSERT_NEAR(sum + bias, logit_diff, 1e-4 * (1 + std::fabs(logit_diff))) << "position " << i;
      // memlens's DLA, node by node. 1e-4 of the largest node's DLA is ~30x the float32
      // rounding of these D = 32 products; a wrong node is off by O(largest).
      EXPECT_NEAR(got_scale, scale.data[i], 1e-5 * scale.data[i]) << "position " << i;
      for (size_t n = 0; n < nodes.size(); ++n) {
        EXPECT_NEAR(Dla(outs->row(n), got_scale, *direction), want_dla[n], 1e-4 * largest + 1e-7)
            << nodes[n].name << " at position " << i << " (prompt " << k << ")";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, NodeAttributionTest,
                         ::testing::Values(Fixture{"tl_safetensors", "tl_safetensors"},
                                           Fixture{"llama/model.bin", "llama"},
                                           Fixture{"tl_pythia", "tl_pythia"},
                                           Fixture{"tl_gptj", "tl_gptj"}),
                         [](const auto& info) {
                           return std::string(info.index == 0   ? "Gpt"
                                              : info.index == 1 ? "Llama"
                                              : info.index == 2 ? "Pythia"
                                                                : "GptJ");
                         });

}  // namespace
}  // namespace memlens
