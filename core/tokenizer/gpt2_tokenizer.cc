#include "core/tokenizer/gpt2_tokenizer.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/io/checked_file.h"
#include "core/io/json.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_json.h"

namespace memlens {

namespace {

absl::Status Error(const std::string& source, absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", where, where.empty() ? "" : ": ",
                                                 what));
}

absl::Status Unsupported(const std::string& source, absl::string_view where,
                         absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(source, ": ", where, ": ", what));
}

// Appends the vocabulary object (token -> id) to spec->vocab.
absl::Status ReadVocabObject(const json::Value& vocab, const std::string& source,
                             absl::string_view where, ByteLevelBpeSpec* spec) {
  if (!vocab.is_object()) {
    return Error(source, where, absl::StrCat("expected an object of token -> id, got ",
                                             json::TypeName(vocab.type())));
  }
  spec->vocab.reserve(vocab.size());
  for (const json::Member& m : vocab.object()) {
    absl::StatusOr<int64_t> id = m.second.AsInt64();
    if (!id.ok()) {
      return Error(source, where,
                   absl::StrCat("token \"", absl::CEscape(m.first), "\": ", id.status().message()));
    }
    spec->vocab.emplace_back(m.first, *id);
  }
  return absl::OkStatus();
}

int FindAddedId(const std::vector<AddedToken>& added, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    for (const AddedToken& t : added) {
      if (t.content == name) return t.id;
    }
  }
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> LoadGpt2Tokenizer(
    const std::string& encoder_json_path, const std::string& vocab_bpe_path,
    bool match_special_tokens) {
  ByteLevelBpeSpec spec;
  spec.source = absl::StrCat(encoder_json_path, " + ", vocab_bpe_path);
  spec.format = "GPT-2 tokenizer";
  {
    absl::StatusOr<json::Value> encoder = json::ParseFile(encoder_json_path, {}, kTokenizerFile);
    if (!encoder.ok()) return encoder.status();
    absl::Status s = ReadVocabObject(*encoder, encoder_json_path, "", &spec);
    if (!s.ok()) return s;
  }
  absl::StatusOr<std::string> bpe = ReadFileChecked(vocab_bpe_path, kTokenizerFile);
  if (!bpe.ok()) return bpe.status();
  std::vector<absl::string_view> lines = absl::StrSplit(*bpe, '\n');
  while (!lines.empty() && (lines.back().empty() || lines.back() == "\r")) lines.pop_back();
  size_t first = 0;
  if (!lines.empty() && absl::StartsWith(lines[0], "#version")) first = 1;
  std::vector<size_t> line_numbers;
  for (size_t i = first; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != absl::string_view::npos) {
      return Error(vocab_bpe_path, absl::StrCat("line ", i + 1),
                   absl::StrCat("expected a merge \"left right\" (two tokens, one space), got \"",
                                absl::CEscape(line), "\""));
    }
    spec.merges.emplace_back(std::string(line.substr(0, space)),
                             std::string(line.substr(space + 1)));
    line_numbers.push_back(i + 1);
  }
  spec.merge_location = [vocab_bpe_path, line_numbers](size_t rank) {
    return absl::StrCat(vocab_bpe_path, " line ", line_numbers[rank]);
  };
  PreTokenizerStep split;
  split.kind = PreTokenizerStep::Kind::kSplitPattern;
  split.pattern = SplitPattern::kGpt2;
  split.behavior = SplitBehavior::kIsolated;
  spec.pre_tokenizer.push_back(split);
  int eot = -1;
  for (const auto& [token, id] : spec.vocab) {
    if (token == "<|endoftext|>") eot = static_cast<int>(id);
  }
  if (eot >= 0 && match_special_tokens) {
    AddedToken t;
    t.content = "<|endoftext|>";
    t.id = eot;
    t.special = true;
    spec.added_tokens.push_back(t);
  }
  spec.bos_id = eot;
  spec.eos_id = eot;
  return ByteLevelBpeTokenizer::Create(std::move(spec));
}

// ------------------------------------------------------------------ tokenizer.json

namespace {

class HfReader {
 public:
  HfReader(const json::Value& doc, const std::string& source) : doc_(doc), src_(source) {}

  absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> Read() {
    if (!doc_.is_object()) {
      return Error(src_, "", "expected a JSON object at the top level (a tokenizer.json)");
    }
    spec_.source = src_;
    spec_.format = "HuggingFace tokenizer.json";
    absl::Status s = ReadModel();
    if (s.ok()) s = ReadAddedTokens();
    if (s.ok()) s = ReadNormalizer(doc_.Find("normalizer"), "normalizer");
    if (s.ok()) s = ReadPreTokenizer(doc_.Find("pre_tokenizer"), "pre_tokenizer");
    if (s.ok()) s = ReadDecoder();
    if (s.ok()) s = ReadSpecialIds();
    if (!s.ok()) return s;
    if (!has_byte_level_) {
      return Unsupported(src_, "pre_tokenizer",
                         "no ByteLevel pre-tokenizer: only byte-level BPE tokenizers are "
                         "supported");
    }
    return ByteLevelBpeTokenizer::Create(std::move(spec_));
  }

 private:
  absl::StatusOr<bool> OptBool(const json::Value& obj, absl::string_view key, bool dflt,
                               absl::string_view where) {
    const json::Value* v = obj.Find(key);
    if (v == nullptr || v->is_null()) return dflt;
    if (!v->is_bool()) {
      return Error(src_, absl::StrCat(where, ".", key),
                   absl::StrCat("expected a bool, got ", json::TypeName(v->type())));
    }
    return v->bool_value();
  }

  absl::StatusOr<std::string> TypeOf(const json::Value& obj, absl::string_view where) {
    if (!obj.is_object()) {
      return Error(src_, where,
                   absl::StrCat("expected an object, got ", json::TypeName(obj.type())));
    }
    const json::Value* t = obj.Find("type");
    if (t == nullptr || !t->is_string()) {
      return Error(src_, where, "expected a \"type\" string");
    }
    return t->string_value();
  }

  absl::Status ReadModel() {
    const json::Value* model = doc_.Find("model");
    if (model == nullptr || !model->is_object()) {
      return Error(src_, "model", "missing or not an object");
    }
    const json::Value* type = model->Find("type");
    if (type != nullptr && !(type->is_string() && type->string_value() == "BPE")) {
      return Unsupported(src_, "model.type",
                         absl::StrCat("unsupported model type ",
                                      json::Serialize(*type), " (only BPE is supported)"));
    }
    const json::Value* dropout = model->Find("dropout");
    if (dropout != nullptr && !dropout->is_null() &&
        !(dropout->is_number() && dropout->number() == 0.0)) {
      return Unsupported(src_, "model.dropout", "BPE dropout is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json::Value* v = model->Find(key);
      if (v != nullptr && !v->is_null() && !(v->is_string() && v->string_value().empty())) {
        return Unsupported(src_, absl::StrCat("model.", key),
                           "subword prefixes/suffixes are not supported in byte-level BPE");
      }
    }
    absl::StatusOr<bool> byte_fallback = OptBool(*model, "byte_fallback", false, "model");
    if (!byte_fallback.ok()) return byte_fallback.status();
    if (*byte_fallback) {
      return Unsupported(src_, "model.byte_fallback",
                         "byte_fallback (SentencePiece-style BPE) is not supported");
    }
    absl::StatusOr<bool> ignore = OptBool(*model, "ignore_merges", false, "model");
    if (!ignore.ok()) return ignore.status();
    spec_.ignore_merges = *ignore;

    const json::Value* vocab = model->Find("vocab");
    if (vocab == nullptr) return Error(src_, "model.vocab", "missing");
    absl::Status s = ReadVocabObject(*vocab, src_, "model.vocab", &spec_);
    if (!s.ok()) return s;

    const json::Value* merges = model->Find("merges");
    if (merges == nullptr || !merges->is_array()) {
      return Error(src_, "model.merges", "missing or not an array");
    }
    spec_.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const json::Value& m = merges->array()[i];
      const std::string where = absl::StrCat("model.merges[", i, "]");
      if (m.is_string()) {
        const std::string& line = m.string_value();
        const size_t space = line.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
            line.find(' ', space + 1) != std::string::npos) {
          return Error(src_, where,
                       absl::StrCat("expected \"left right\" (two tokens, one space), got \"",
                                    absl::CEscape(line), "\""));
        }
        spec_.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m.array()[0].is_string() &&
                 m.array()[1].is_string()) {
        spec_.merges.emplace_back(m.array()[0].string_value(), m.array()[1].string_value());
      } else {
        return Error(src_, where, "expected a string \"left right\" or a pair [left, right]");
      }
    }
    spec_.merge_location = [](size_t i) { return absl::StrCat("model.merges[", i, "]"); };
    return absl::OkStatus();
  }

  absl::Status ReadAddedTokens() {
    const json::Value* added = doc_.Find("added_tokens");
    if (added == nullptr || added->is_null()) return absl::OkStatus();
    if (!added->is_array()) return Error(src_, "added_tokens", "expected an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const json::Value& a = added->array()[i];
      const std::string where = absl::StrCat("added_tokens[", i, "]");
      if (!a.is_object()) return Error(src_, where, "expected an object");
      AddedToken t;
      absl::StatusOr<int64_t> id = a.GetInt64("id");
      if (!id.ok()) return Error(src_, where, id.status().message());
      if (*id < 0 || *id >= (int64_t{1} << 30)) {
        return Error(src_, where, absl::StrCat("id ", *id, " is out of range"));
      }
      t.id = static_cast<int>(*id);
      absl::StatusOr<std::string> content = a.GetString("content");
      if (!content.ok()) return Error(src_, where, content.status().message());
      t.content = *content;
      for (auto [key, field] : {std::make_pair("special", &t.special),
                                std::make_pair("single_word", &t.single_word),
                                std::make_pair("lstrip", &t.lstrip),
                                std::make_pair("rstrip", &t.rstrip)}) {
        absl::StatusOr<bool> b = OptBool(a, key, key == std::string("special"), where);
        if (!b.ok()) return b.status();
        *field = *b;
      }
      spec_.added_tokens.push_back(std::move(t));
    }
    return absl::OkStatus();
  }

  absl::Status ReadNormalizer(const json::Value* n, const std::string& where) {
    if (n == nullptr || n->is_null()) return absl::OkStatus();
    absl::StatusOr<std::string> type = TypeOf(*n, where);
    if (!type.ok()) return type.status();
    if (*type == "NFC") {
      spec_.normalizer = Normalizer::kNfc;
      return absl::OkStatus();
    }
    if (*type == "Sequence") {
      const json::Value* list = n->Find("normalizers");
      if (list == nullptr || !list->is_array()) {
        return Error(src_, where, "Sequence without a \"normalizers\" array");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        absl::Status s =
            ReadNormalizer(&list->array()[i], absl::StrCat(where, ".normalizers[", i, "]"));
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    return Unsupported(src_, where,
                       absl::StrCat("unsupported normalizer type \"", *type,
                                    "\" (supported: NFC, Sequence, null)"));
  }

  absl::Status ReadPreTokenizer(const json::Value* p, const std::string& where) {
    if (p == nullptr || p->is_null()) return absl::OkStatus();
    absl::StatusOr<std::string> type = TypeOf(*p, where);
    if (!type.ok()) return type.status();
    PreTokenizerStep step;
    if (*type == "Sequence") {
      const json::Value* list = p->Find("pretokenizers");
      if (list == nullptr || !list->is_array()) {
        return Error(src_, where, "Sequence without a \"pretokenizers\" array");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        absl::Status s =
            ReadPreTokenizer(&list->array()[i], absl::StrCat(where, ".pretokenizers[", i, "]"));
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    if (*type == "ByteLevel") {
      step.kind = PreTokenizerStep::Kind::kByteLevel;
      absl::StatusOr<bool> prefix = OptBool(*p, "add_prefix_space", true, where);
      if (!prefix.ok()) return prefix.status();
      absl::StatusOr<bool> regex = OptBool(*p, "use_regex", true, where);
      if (!regex.ok()) return regex.status();
      step.add_prefix_space = *prefix;
      step.use_regex = *regex;
      has_byte_level_ = true;
    } else if (*type == "Split") {
      const json::Value* pattern = p->Find("pattern");
      if (pattern == nullptr || !pattern->is_object()) {
        return Error(src_, where + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
      }
      if (const json::Value* re = pattern->Find("Regex"); re != nullptr && re->is_string()) {
        absl::StatusOr<SplitPattern> sp = RecognizeSplitPattern(re->string_value());
        if (!sp.ok()) return Unsupported(src_, where + ".pattern.Regex", sp.status().message());
        step.kind = PreTokenizerStep::Kind::kSplitPattern;
        step.pattern = *sp;
      } else if (const json::Value* str = pattern->Find("String");
                 str != nullptr && str->is_string()) {
        step.kind = PreTokenizerStep::Kind::kSplitString;
        step.literal = str->string_value();
      } else {
        return Error(src_, where + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
      }
      absl::StatusOr<std::string> behavior = p->GetString("behavior");
      if (!behavior.ok()) return Error(src_, where, behavior.status().message());
      absl::StatusOr<SplitBehavior> b = ParseSplitBehavior(*behavior);
      if (!b.ok()) return Error(src_, where + ".behavior", b.status().message());
      step.behavior = *b;
      absl::StatusOr<bool> invert = OptBool(*p, "invert", false, where);
      if (!invert.ok()) return invert.status();
      step.invert = *invert;
    } else if (*type == "Digits") {
      step.kind = PreTokenizerStep::Kind::kDigits;
      absl::StatusOr<bool> individual = OptBool(*p, "individual_digits", false, where);
      if (!individual.ok()) return individual.status();
      step.individual_digits = *individual;
    } else {
      return Unsupported(src_, where,
                         absl::StrCat("unsupported pre-tokenizer type \"", *type,
                                      "\" (supported: ByteLevel, Split, Digits, Sequence)"));
    }
    spec_.pre_tokenizer.push_back(std::move(step));
    return absl::OkStatus();
  }

  absl::Status ReadDecoder() {
    const json::Value* d = doc_.Find("decoder");
    if (d == nullptr || d->is_null()) return absl::OkStatus();
    absl::StatusOr<std::string> type = TypeOf(*d, "decoder");
    if (!type.ok()) return type.status();
    if (*type != "ByteLevel") {
      return Unsupported(src_, "decoder",
                         absl::StrCat("unsupported decoder type \"", *type,
                                      "\" (supported: ByteLevel, null)"));
    }
    return absl::OkStatus();
  }

  // The id of a special token named in the post-processor: by name via added tokens / vocab.
  int IdOfName(const std::string& name) {
    for (const AddedToken& t : spec_.added_tokens) {
      if (t.content == name) return t.id;
    }
    for (const auto& [token, id] : spec_.vocab) {
      if (token == name) return static_cast<int>(id);
    }
    return -1;
  }

  absl::Status ReadSpecialIds() {
    spec_.bos_id = FindAddedId(spec_.added_tokens,
                               {"<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>"});
    spec_.eos_id = FindAddedId(spec_.added_tokens,
                               {"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"});
    return ReadTemplateBos(doc_, src_, [this](const std::string& name) { return IdOfName(name); },
                           &spec_.bos_id);
  }

  const json::Value& doc_;
  const std::string src_;
  ByteLevelBpeSpec spec_;
  bool has_byte_level_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> HfTokenizerFromJson(
    const json::Value& doc, const std::string& source) {
  return HfReader(doc, source).Read();
}

absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> LoadHfTokenizerJson(
    const std::string& path) {
  absl::StatusOr<json::Value> doc = json::ParseFile(path, {}, kTokenizerFile);
  if (!doc.ok()) return doc.status();
  return HfTokenizerFromJson(*doc, path);
}

}  // namespace memlens
