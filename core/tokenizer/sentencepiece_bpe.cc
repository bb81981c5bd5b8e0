#include "core/tokenizer/sentencepiece_bpe.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/bpe_merge.h"
#include "core/tokenizer/tokenizer_json.h"

namespace memlens {
namespace {

constexpr absl::string_view kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK "▁"

absl::Status Error(const std::string& source, absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", where, ": ", what));
}

absl::Status Unsupported(const std::string& source, absl::string_view where,
                         absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(source, ": ", where, ": ", what));
}

std::string TypeOf(const json::Value* v) {
  if (v == nullptr || !v->is_object()) return "";
  const json::Value* t = v->Find("type");
  return t != nullptr && t->is_string() ? t->string_value() : "";
}

// The "String" of a {"String": s} pattern, or nullptr.
const json::Value* PatternString(const json::Value& step) {
  const json::Value* p = step.Find("pattern");
  return p == nullptr ? nullptr : p->Find("String");
}

bool StringIs(const json::Value* v, absl::string_view s) {
  return v != nullptr && v->is_string() && v->string_value() == s;
}

// "<0x41>" -> 0x41; -1 for any other token.
int ByteTokenValue(const std::string& token) {
  if (token.size() != 6 || !absl::StartsWith(token, "<0x") || token[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = token[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

uint64_t PairKey(int a, int b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

bool IsSentencePieceBpeJson(const json::Value& doc) {
  const json::Value* model = doc.Find("model");
  if (model != nullptr && model->Find("byte_fallback") != nullptr &&
      model->Find("byte_fallback")->bool_value()) {
    return true;
  }
  if (TypeOf(doc.Find("pre_tokenizer")) == "Metaspace") return true;
  const json::Value* n = doc.Find("normalizer");
  if (TypeOf(n) == "Prepend") return true;
  if (TypeOf(n) == "Sequence") {
    if (const json::Value* list = n->Find("normalizers"); list != nullptr) {
      for (const json::Value& step : list->array()) {
        if (TypeOf(&step) == "Prepend") return true;
      }
    }
  }
  return false;
}

class SentencePieceBpeTokenizer::Reader {
 public:
  Reader(const json::Value& doc, const std::string& source, SentencePieceBpeTokenizer* t)
      : doc_(doc), src_(source), t_(t) {}

  absl::Status Read() {
    if (!doc_.is_object()) return Error(src_, "(top level)", "expected a JSON object");
    t_->source_ = src_;
    absl::Status s = ReadModel();
    if (s.ok()) s = ReadAddedTokens();
    if (s.ok()) s = ReadNormalization();
    if (s.ok()) s = ReadDecoder();
    if (s.ok()) s = ReadMerges();
    if (s.ok()) s = ReadSpecialIds();
    return s;
  }

 private:
  absl::StatusOr<bool> OptBool(const json::Value& obj, absl::string_view key, bool dflt,
                               absl::string_view where) {
    const json::Value* v = obj.Find(key);
    if (v == nullptr || v->is_null()) return dflt;
    if (!v->is_bool()) return Error(src_, absl::StrCat(where, ".", key), "expected a bool");
    return v->bool_value();
  }

  absl::Status ReadModel() {
    model_ = doc_.Find("model");
    if (model_ == nullptr || !model_->is_object()) return Error(src_, "model", "missing");
    if (TypeOf(model_) != "BPE") {
      return Unsupported(src_, "model.type", "only BPE is supported");
    }
    const json::Value* dropout = model_->Find("dropout");
    if (dropout != nullptr && !dropout->is_null() && dropout->number() != 0.0) {
      return Unsupported(src_, "model.dropout", "BPE dropout is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json::Value* v = model_->Find(key);
      if (v != nullptr && !v->is_null() && !(v->is_string() && v->string_value().empty())) {
        return Unsupported(src_, absl::StrCat("model.", key), "not supported");
      }
    }
    absl::StatusOr<bool> ignore = OptBool(*model_, "ignore_merges", false, "model");
    if (!ignore.ok()) return ignore.status();
    if (*ignore) return Unsupported(src_, "model.ignore_merges", "not supported here");
    absl::StatusOr<bool> fallback = OptBool(*model_, "byte_fallback", false, "model");
    if (!fallback.ok()) return fallback.status();
    t_->byte_fallback_ = *fallback;
    absl::StatusOr<bool> fuse = OptBool(*model_, "fuse_unk", false, "model");
    if (!fuse.ok()) return fuse.status();
    t_->fuse_unk_ = *fuse;

    const json::Value* vocab = model_->Find("vocab");
    if (vocab == nullptr || !vocab->is_object()) {
      return Error(src_, "model.vocab", "expected an object of token -> id");
    }
    std::vector<std::pair<std::string, int64_t>> entries;
    for (const json::Member& m : vocab->object()) {
      absl::StatusOr<int64_t> id = m.second.AsInt64();
      if (!id.ok()) {
        return Error(src_, "model.vocab", absl::StrCat("token \"", absl::CEscape(m.first),
                                                       "\": ", id.status().message()));
      }
      entries.emplace_back(m.first, *id);
    }
    return Place(entries, "model.vocab");
  }

  // Puts token -> id entries into the id table; ids must not collide.
  absl::Status Place(const std::vector<std::pair<std::string, int64_t>>& entries,
                     absl::string_view where) {
    for (const auto& [token, id] : entries) {
      if (id < 0 || id >= (int64_t{1} << 24)) {
        return Error(src_, where, absl::StrCat("token \"", absl::CEscape(token), "\" has id ", id,
                                               ", outside [0, 2^24)"));
      }
      if (static_cast<size_t>(id) >= t_->tokens_.size()) {
        t_->tokens_.resize(id + 1);
        filled_.resize(id + 1, false);
      }
      if (filled_[id]) {
        if (t_->tokens_[id] == token) continue;  // an added token repeating its vocab entry
        return Error(src_, where, absl::StrCat("id ", id, " is given to both \"",
                                               absl::CEscape(t_->tokens_[id]), "\" and \"",
                                               absl::CEscape(token), "\""));
      }
      filled_[id] = true;
      t_->tokens_[id] = token;
      auto [it, inserted] = t_->ids_.emplace(token, static_cast<int>(id));
      if (!inserted) {
        return Error(src_, where, absl::StrCat("token \"", absl::CEscape(token),
                                               "\" has two ids (", it->second, " and ", id, ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadAddedTokens() {
    const json::Value* added = doc_.Find("added_tokens");
    std::vector<std::pair<std::string, int64_t>> entries;
    if (added != nullptr && !added->is_null()) {
      if (!added->is_array()) return Error(src_, "added_tokens", "expected an array");
      for (size_t i = 0; i < added->size(); ++i) {
        const json::Value& a = added->array()[i];
        const std::string where = absl::StrCat("added_tokens[", i, "]");
        absl::StatusOr<int64_t> id = a.GetInt64("id");
        if (!id.ok()) return Error(src_, where, id.status().message());
        absl::StatusOr<std::string> content = a.GetString("content");
        if (!content.ok()) return Error(src_, where, content.status().message());
        if (content->empty()) return Error(src_, where, "empty content");
        for (const char* key : {"single_word", "lstrip", "rstrip"}) {
          absl::StatusOr<bool> b = OptBool(a, key, false, where);
          if (!b.ok()) return b.status();
          if (*b) return Unsupported(src_, absl::StrCat(where, ".", key), "not supported here");
        }
        absl::StatusOr<bool> special = OptBool(a, "special", true, where);
        if (!special.ok()) return special.status();
        entries.emplace_back(*content, *id);
        t_->added_.push_back({*content, static_cast<int>(*id)});
        if (*special) special_ids_.push_back(static_cast<int>(*id));
      }
    }
    if (absl::Status s = Place(entries, "added_tokens"); !s.ok()) return s;
    for (size_t id = 0; id < filled_.size(); ++id) {
      if (!filled_[id]) {
        return Error(src_, "model.vocab",
                     absl::StrCat("no token has id ", id, " (ids must run from 0 to ",
                                  filled_.size() - 1, " without gaps)"));
      }
    }
    if (t_->tokens_.empty()) return Error(src_, "model.vocab", "empty vocabulary");
    t_->special_.assign(t_->tokens_.size(), false);
    for (int id : special_ids_) t_->special_[id] = true;
    t_->added_id_.assign(t_->tokens_.size(), false);
    for (const Added& a : t_->added_) t_->added_id_[a.id] = true;
    // Longest first, so that "<s>" never shadows a longer token starting with it.
    std::stable_sort(t_->added_.begin(), t_->added_.end(), [](const Added& a, const Added& b) {
      return a.content.size() > b.content.size();
    });
    t_->byte_value_.assign(t_->tokens_.size(), -1);
    std::fill(std::begin(t_->byte_ids_), std::end(t_->byte_ids_), -1);
    for (size_t id = 0; id < t_->tokens_.size(); ++id) {
      const int b = ByteTokenValue(t_->tokens_[id]);
      if (b >= 0 && t_->byte_ids_[b] < 0) {
        t_->byte_value_[id] = b;
        t_->byte_ids_[b] = static_cast<int>(id);
      }
    }
    const json::Value* unk = model_->Find("unk_token");
    if (unk != nullptr && !unk->is_null()) {
      auto it = unk->is_string() ? t_->ids_.find(unk->string_value()) : t_->ids_.end();
      if (it == t_->ids_.end()) {
        return Error(src_, "model.unk_token", "not a token of the vocabulary");
      }
      t_->unk_id_ = it->second;
    }
    return absl::OkStatus();
  }

  // Either the normalizer [Prepend "▁", Replace " " -> "▁"] or the Metaspace pre-tokenizer.
  absl::Status ReadNormalization() {
    const json::Value* n = doc_.Find("normalizer");
    const json::Value* p = doc_.Find("pre_tokenizer");
    const bool has_n = n != nullptr && !n->is_null();
    const bool has_p = p != nullptr && !p->is_null();
    if (has_n == has_p) {
      return Unsupported(src_, has_n ? "normalizer" : "pre_tokenizer",
                         "expected either the normalizer Sequence [Prepend \"\u2581\", Replace "
                         "\" \" -> \"\u2581\"] or the Metaspace pre-tokenizer, not both or none");
    }
    if (has_p) {
      if (TypeOf(p) != "Metaspace") {
        return Unsupported(src_, "pre_tokenizer", "only Metaspace is supported here");
      }
      if (!StringIs(p->Find("replacement"), kSpace)) {
        return Unsupported(src_, "pre_tokenizer.replacement", "only \"\u2581\" is supported");
      }
      std::string scheme = "always";
      if (const json::Value* s = p->Find("prepend_scheme"); s != nullptr && !s->is_null()) {
        if (!s->is_string()) return Error(src_, "pre_tokenizer.prepend_scheme", "not a string");
        scheme = s->string_value();
      } else {
        absl::StatusOr<bool> add = OptBool(*p, "add_prefix_space", true, "pre_tokenizer");
        if (!add.ok()) return add.status();
        scheme = *add ? "always" : "never";
      }
      if (scheme != "always" && scheme != "first" && scheme != "never") {
        return Unsupported(src_, "pre_tokenizer.prepend_scheme",
                           absl::StrCat("\"", scheme, "\" (always, first, never are supported)"));
      }
      t_->metaspace_ = true;
      t_->prepend_always_ = scheme == "always";
      t_->prepend_first_ = scheme == "first";
      absl::StatusOr<bool> split = OptBool(*p, "split", true, "pre_tokenizer");
      if (!split.ok()) return split.status();
      t_->split_words_ = *split;
      return absl::OkStatus();
    }
    std::vector<const json::Value*> steps;
    if (TypeOf(n) == "Sequence") {
      const json::Value* list = n->Find("normalizers");
      if (list == nullptr || !list->is_array()) {
        return Error(src_, "normalizer", "Sequence without a \"normalizers\" array");
      }
      for (const json::Value& step : list->array()) steps.push_back(&step);
    } else {
      steps.push_back(n);
    }
    bool prepend = false, replace = false;
    for (size_t i = 0; i < steps.size(); ++i) {
      const std::string where = absl::StrCat("normalizer.normalizers[", i, "]");
      const std::string type = TypeOf(steps[i]);
      if (type == "Prepend" && StringIs(steps[i]->Find("prepend"), kSpace) && !prepend) {
        prepend = true;
      } else if (type == "Replace" && StringIs(PatternString(*steps[i]), " ") &&
                 StringIs(steps[i]->Find("content"), kSpace) && !replace) {
        replace = true;
      } else {
        return Unsupported(src_, where,
                           absl::StrCat("normalizer ", json::Serialize(*steps[i]),
                                        " (supported: Prepend \"\u2581\", Replace \" \" -> "
                                        "\"\u2581\")"));
      }
    }
    if (!replace) {
      return Unsupported(src_, "normalizer", "no Replace \" \" -> \"\u2581\" step");
    }
    t_->prepend_always_ = prepend;
    return absl::OkStatus();
  }

  absl::Status ReadDecoder() {
    const json::Value* d = doc_.Find("decoder");
    const std::string type = TypeOf(d);
    if (type == "Metaspace") return absl::OkStatus();
    if (type != "Sequence") {
      return Unsupported(src_, "decoder", "expected Metaspace or a Sequence [Replace "
                                          "\"\u2581\" -> \" \", ByteFallback, Fuse, Strip]");
    }
    const json::Value* list = d->Find("decoders");
    if (list == nullptr || !list->is_array()) {
      return Error(src_, "decoder", "Sequence without a \"decoders\" array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const json::Value& step = list->array()[i];
      const std::string where = absl::StrCat("decoder.decoders[", i, "]");
      const std::string t = TypeOf(&step);
      if (t == "ByteFallback" || t == "Fuse") continue;
      if (t == "Replace" && StringIs(PatternString(step), kSpace) &&
          StringIs(step.Find("content"), " ")) {
        continue;
      }
      const json::Value* start = step.Find("start");
      const json::Value* stop = step.Find("stop");
      if (t == "Strip" && StringIs(step.Find("content"), " ") && start != nullptr &&
          start->number() == 1 && stop != nullptr && stop->number() == 0) {
        continue;
      }
      return Unsupported(src_, where, absl::StrCat("decoder ", json::Serialize(step),
                                                   " is not supported"));
    }
    return absl::OkStatus();
  }

  absl::Status ReadMerges() {
    const json::Value* merges = model_->Find("merges");
    if (merges == nullptr || !merges->is_array()) {
      return Error(src_, "model.merges", "missing or not an array");
    }
    for (size_t i = 0; i < merges->size(); ++i) {
      const json::Value& m = merges->array()[i];
      const std::string where = absl::StrCat("model.merges[", i, "]");
      std::string left, right;
      if (m.is_string()) {
        const std::string& line = m.string_value();
        const size_t space = line.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
            line.find(' ', space + 1) != std::string::npos) {
          return Error(src_, where, "expected \"left right\" (two tokens, one space)");
        }
        left = line.substr(0, space);
        right = line.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m.array()[0].is_string() &&
                 m.array()[1].is_string()) {
        left = m.array()[0].string_value();
        right = m.array()[1].string_value();
      } else {
        return Error(src_, where, "expected a string \"left right\" or a pair [left, right]");
      }
      auto l = t_->ids_.find(left), r = t_->ids_.find(right), merged = t_->ids_.find(left + right);
      if (l == t_->ids_.end() || r == t_->ids_.end() || merged == t_->ids_.end()) {
        return Error(src_, where, absl::StrCat("\"", absl::CEscape(left), "\" + \"",
                                               absl::CEscape(right),
                                               "\": a side or the result is not in the vocabulary"));
      }
      // A repeated pair keeps its first (best) rank, as HuggingFace's BPE builder does.
      t_->merges_.emplace(PairKey(l->second, r->second),
                          std::make_pair(static_cast<int>(i), merged->second));
    }
    return absl::OkStatus();
  }

  int IdOf(const std::string& token) {
    auto it = t_->ids_.find(token);
    return it == t_->ids_.end() ? -1 : it->second;
  }

  absl::Status ReadSpecialIds() {
    t_->bos_id_ = IdOf("<s>");
    t_->eos_id_ = IdOf("</s>");
    return ReadTemplateBos(doc_, src_, [this](const std::string& name) { return IdOf(name); },
                           &t_->bos_id_);
  }

  const json::Value& doc_;
  const std::string src_;
  SentencePieceBpeTokenizer* t_;
  const json::Value* model_ = nullptr;
  std::vector<bool> filled_;
  std::vector<int> special_ids_;
};

absl::StatusOr<std::unique_ptr<SentencePieceBpeTokenizer>> SentencePieceBpeTokenizer::FromJson(
    const json::Value& doc, const std::string& source) {
  std::unique_ptr<SentencePieceBpeTokenizer> t(new SentencePieceBpeTokenizer);
  if (absl::Status s = Reader(doc, source, t.get()).Read(); !s.ok()) return s;
  return t;
}

std::string SentencePieceBpeTokenizer::Normalize(absl::string_view segment, bool first) const {
  std::string out = absl::StrReplaceAll(segment, {{" ", std::string(kSpace)}});
  if (out.empty()) return out;
  if (metaspace_) {
    // Metaspace: prepends only when the text does not already start with "▁".
    const bool prepend = prepend_always_ || (prepend_first_ && first);
    if (prepend && !absl::StartsWith(out, kSpace)) out.insert(0, std::string(kSpace));
  } else if (prepend_always_) {
    out.insert(0, std::string(kSpace));  // the Prepend normalizer: always
  }
  return out;
}

absl::Status SentencePieceBpeTokenizer::EncodeWord(absl::string_view word,
                                                   std::vector<int>* out) const {
  std::vector<int> symbols;
  bool last_unk = false;
  for (size_t i = 0; i < word.size();) {
    int n = Utf8SequenceLength(word.substr(i));
    if (n == 0) n = 1;  // a byte that is not valid UTF-8: byte fallback alone can spell it
    const absl::string_view ch = word.substr(i, n);
    i += n;
    if (auto it = ids_.find(ch); it != ids_.end()) {
      symbols.push_back(it->second);
      last_unk = false;
      continue;
    }
    bool spelled = byte_fallback_;
    for (size_t b = 0; spelled && b < ch.size(); ++b) {
      spelled = byte_ids_[static_cast<unsigned char>(ch[b])] >= 0;
    }
    if (spelled) {
      for (char c : ch) symbols.push_back(byte_ids_[static_cast<unsigned char>(c)]);
      last_unk = false;
      continue;
    }
    if (unk_id_ < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ": character \"", absl::CEscape(ch),
                       "\" has no token, no byte tokens and the tokenizer has no unk_token"));
    }
    if (!(fuse_unk_ && last_unk)) symbols.push_back(unk_id_);
    last_unk = true;
  }
  MergeBpe<int>(&symbols, [this](int left, int right, BpeMerge<int>* m) {
    auto it = merges_.find(PairKey(left, right));
    if (it == merges_.end()) return false;
    *m = {it->second.first, it->second.second};  // the lowest rank first
    return true;
  });
  out->insert(out->end(), symbols.begin(), symbols.end());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> SentencePieceBpeTokenizer::Encode(absl::string_view text,
                                                                   bool add_bos) const {
  std::vector<int> out;
  if (add_bos) {
    if (bos_id_ < 0) {
      return absl::FailedPreconditionError(absl::StrCat(source_, ": the tokenizer has no BOS"));
    }
    out.push_back(bos_id_);
  }
  size_t pos = 0;
  bool first = true;
  while (pos <= text.size()) {
    // The next added token (leftmost; longest at a position, added_ being sorted so).
    size_t found = absl::string_view::npos;
    const Added* match = nullptr;
    for (const Added& a : added_) {
      const size_t at = text.find(a.content, pos);
      if (at != absl::string_view::npos && (found == absl::string_view::npos || at < found)) {
        found = at;
        match = &a;
      }
    }
    const absl::string_view segment =
        text.substr(pos, found == absl::string_view::npos ? absl::string_view::npos : found - pos);
    if (!segment.empty()) {
      const std::string normalized = Normalize(segment, first && pos == 0);
      if (split_words_) {
        // Each "▁" starts a new word.
        size_t begin = 0;
        while (begin < normalized.size()) {
          size_t next = normalized.find(kSpace.data(), begin + 1, kSpace.size());
          if (next == std::string::npos) next = normalized.size();
          if (auto s = EncodeWord(absl::string_view(normalized).substr(begin, next - begin), &out);
              !s.ok()) {
            return s;
          }
          begin = next;
        }
      } else if (auto s = EncodeWord(normalized, &out); !s.ok()) {
        return s;
      }
    }
    first = false;
    if (match == nullptr) break;
    out.push_back(match->id);
    pos = found + match->content.size();
  }
  return out;
}

bool SentencePieceBpeTokenizer::Prepended(absl::string_view segment, bool first) const {
  if (segment.empty() || segment[0] != ' ') return false;
  if (!metaspace_) return prepend_always_;  // the Prepend normalizer: every segment
  // Metaspace prepends only to a segment not starting with a space, so "▁" + a non-space is
  // the one shape a prepend leaves (" x" and "x" both encode as "▁x": decoded as "x").
  const bool prepends = prepend_always_ || (prepend_first_ && first);
  return prepends && segment.size() > 1 && segment[1] != ' ';
}

absl::StatusOr<std::string> SentencePieceBpeTokenizer::Decode(absl::Span<const int> ids) const {
  // Segment by segment between added tokens, as Encode normalized them: byte tokens become
  // their bytes, "▁" a space, and a space the normalizer prepended is dropped again. A BOS
  // leading the ids is taken as Encode's add_bos (outside the text), so the text after it is
  // the text's start.
  std::string out, segment;
  bool first = true;
  auto flush = [&] {
    absl::string_view seg(segment);
    if (Prepended(seg, first)) seg.remove_prefix(1);
    absl::StrAppend(&out, seg);
    segment.clear();
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    const int id = ids[i];
    if (id < 0 || id >= vocab_size()) return InvalidTokenIdError(name(), id, i, vocab_size());
    if (added_id_[id]) {
      const bool leading_bos = i == 0 && id == bos_id_;
      if (!segment.empty()) flush();
      if (!leading_bos) first = false;
      absl::StrAppend(&out, tokens_[id]);
    } else if (byte_value_[id] >= 0) {
      segment.push_back(static_cast<char>(byte_value_[id]));
    } else {
      absl::StrAppend(&segment, absl::StrReplaceAll(tokens_[id], {{kSpace, " "}}));
    }
  }
  flush();
  return out;
}

std::string SentencePieceBpeTokenizer::Piece(int id) const {
  if (id < 0 || id >= vocab_size()) return absl::StrCat("<invalid id ", id, ">");
  if (byte_value_[id] >= 0) return tokens_[id];
  return DisplayBytes(absl::StrReplaceAll(tokens_[id], {{kSpace, " "}}));
}

bool SentencePieceBpeTokenizer::IsSpecial(int id) const {
  return id >= 0 && id < vocab_size() && special_[id];
}

}  // namespace memlens
