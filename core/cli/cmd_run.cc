// memlens run: the prompt's next-token distribution and an optional continuation.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/cli/session.h"
#include "core/io/json.h"
#include "core/io/mapped_file.h"
#include "core/model/generate.h"
#include "core/report/token_text.h"

namespace memlens {
int RunModel() {
  auto s = OpenSession(SessionPurpose::kRun);
  if (!s.ok()) return Fail("run", s.status());
  auto tokens = PromptTokens(*s);
  if (!tokens.ok()) return Fail("run", tokens.status());
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "text" && format != "json") {
    return Fail("run", absl::InvalidArgumentError(
                           absl::StrCat("--format must be text or json, not '", format, "'")));
  }
  const int generate = absl::GetFlag(FLAGS_generate);
  const double temperature = absl::GetFlag(FLAGS_temperature);
  const int top_k = absl::GetFlag(FLAGS_top_k);
  SamplingOptions sampling;
  sampling.max_new_tokens = generate;
  sampling.temperature = temperature;
  sampling.top_k = top_k;
  sampling.seed = absl::GetFlag(FLAGS_seed);
  auto gen = Generate(*s->transformer, *tokens, sampling);
  if (!gen.ok()) return Fail("run", gen.status());
  if (gen->context_full) {
    std::fprintf(stderr, "memlens run: stopped after %zu new tokens: the context (n_ctx %d) is full\n",
                 gen->tokens.size(), s->model().config.n_ctx);
  }
  const Tensor& next_logits = gen->next_logits;
  const std::vector<int>& generated = gen->tokens;
  std::vector<int> sequence = *tokens;
  sequence.insert(sequence.end(), generated.begin(), generated.end());
  const int V = s->model().config.d_vocab;
  const int top = std::min(std::max(absl::GetFlag(FLAGS_top), 0), V);
  const std::vector<double> p = Probabilities(next_logits.data, 1.0);
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int a, int b) {
    return next_logits.data[a] > next_logits.data[b] ||
           (next_logits.data[a] == next_logits.data[b] && a < b);
  });
  std::string text, continuation;
  if (s->tokenizer) {
    // The text a reader expects: without the BOS marker the model was given.
    absl::Span<const int> shown = sequence;
    if (!shown.empty() && (shown[0] == s->model().config.bos_token_id ||
                           shown[0] == s->tokenizer->bos_id())) {
      shown.remove_prefix(1);
    }
    auto t = s->tokenizer->Decode(shown);
    auto g = s->tokenizer->Decode(generated);
    if (!t.ok()) return Fail("run", t.status());
    if (!g.ok()) return Fail("run", g.status());
    text = *t;
    continuation = *g;
  }

  if (absl::Status st = CheckMappedFilesUnchanged(); !st.ok()) return Fail("run", st);
  if (format == "json") {
    json::JsonWriter j(2);
    j.BeginObject().Key("model").String(s->model_label);
    j.Key("input_ids").BeginArray();
    for (int id : *tokens) j.Int(id);
    j.EndArray().Key("input_pieces").BeginArray();
    for (int id : *tokens) j.String(PieceOf(*s, id));
    j.EndArray().Key("top").BeginArray();
    for (int i = 0; i < top; ++i) {
      const int id = order[i];
      j.BeginObject().Key("id").Int(id).Key("piece").String(PieceOf(*s, id));
      j.Key("logit").Number(next_logits.data[id]).Key("prob").Number(p[id]).EndObject();
    }
    j.EndArray().Key("generated_ids").BeginArray();
    for (int id : generated) j.Int(id);
    j.EndArray();
    j.Key("temperature").Number(temperature).Key("top_k").Int(top_k);
    j.Key("seed").Int(absl::GetFlag(FLAGS_seed));
    j.Key("text").String(text).Key("continuation").String(continuation).EndObject();
    std::printf("%s\n", j.str().c_str());
    return 0;
  }

  std::vector<std::string> pieces;
  for (int id : *tokens) pieces.push_back(QuotedToken(PieceOf(*s, id)));
  std::printf("model   %s\n", s->model_label.c_str());
  std::printf("input   %zu tokens: %s\n", tokens->size(), absl::StrJoin(pieces, " ").c_str());
  std::printf("ids     %s\n\n", absl::StrJoin(*tokens, " ").c_str());
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < top; ++i) {
    const int id = order[i];
    rows.push_back({absl::StrCat(i + 1), absl::StrCat(id), QuotedToken(PieceOf(*s, id)),
                    absl::StrFormat("%.5f", next_logits.data[id]),
                    absl::StrFormat("%.4f", p[id])});
  }
  std::printf("next token after the last position:\n%s",
              TextTable({"rank", "id", "piece", "logit", "prob"}, rows,
                        {true, true, false, true, true})
                  .c_str());
  if (generate > 0) {
    std::printf("\ncontinuation (%s, %zu tokens): %s\n",
                temperature > 0 ? absl::StrFormat("sampled, temperature %g, top_k %d, seed %d",
                                                  temperature, top_k, absl::GetFlag(FLAGS_seed))
                                      .c_str()
                                : "greedy",
                generated.size(), absl::StrJoin(generated, " ").c_str());
    if (s->tokenizer) std::printf("text: %s\n", text.c_str());
  }
  return 0;
}

}  // namespace memlens
