#include "core/tokenizer/pretokenizer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/unicode.h"

namespace memlens {

namespace {

constexpr char kGpt2Regex[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr char kLlama3Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kQwen2Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

// The text decoded into characters: class, code point and byte offset.
struct Chars {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> cls;
  std::vector<size_t> offset;  // size n + 1; offset[n] == text.size()
  size_t size() const { return cp.size(); }
};

void Decode(absl::string_view text, Chars* c) {
  c->cp.clear();
  c->cls.clear();
  c->offset.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    int len;
    const uint32_t cp = unicode::DecodeAt(text, pos, &len);
    c->cp.push_back(cp);
    c->offset.push_back(pos);
    uint8_t cls;
    if (unicode::IsLetter(cp)) {
      cls = kLetter;
    } else if (unicode::IsNumber(cp)) {
      cls = kNumber;
    } else if (unicode::IsWhiteSpace(cp)) {
      cls = kSpace;
    } else {
      cls = kOther;
    }
    c->cls.push_back(cls);
    pos += len;
  }
  c->offset.push_back(text.size());
}

// Length (in chars) of a contraction at i: 's 't 're 've 'm 'll 'd; 0 if none.
size_t Contraction(const Chars& c, size_t i, bool ignore_case) {
  const size_t n = c.size();
  if (c.cp[i] != '\'' || i + 1 >= n) return 0;
  auto lower = [&](size_t k) -> uint32_t {
    uint32_t x = c.cp[k];
    if (ignore_case && x >= 'A' && x <= 'Z') x += 32;
    if (ignore_case && x == 0x17F) x = 's';  // LATIN SMALL LETTER LONG S case-folds to 's'
    return x;
  };
  const uint32_t a = lower(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < n) {
    const uint32_t b = lower(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

size_t RunOf(const Chars& c, size_t i, uint8_t cls) {
  size_t j = i;
  while (j < c.size() && c.cls[j] == cls) ++j;
  return j;
}

// \s+(?!\S)|\s+ at i (c.cls[i] == kSpace): the end of the match.
size_t WhitespaceMatch(const Chars& c, size_t i) {
  const size_t j = RunOf(c, i, kSpace);
  if (j == c.size()) return j;  // run reaches the end: (?!\S) holds
  // Followed by a non-space: back off one char if that leaves at least one.
  return j - i >= 2 ? j - 1 : j;
}

// End (in chars) of the GPT-2 match starting at i.
size_t Gpt2MatchAt(const Chars& c, size_t i) {
  const size_t n = c.size();
  if (size_t k = Contraction(c, i, /*ignore_case=*/false)) return i + k;
  const uint8_t cls = c.cls[i];
  const bool space_prefix = c.cp[i] == ' ' && i + 1 < n;
  const size_t s = space_prefix ? i + 1 : i;  // start of the class run after " ?"
  if (cls == kLetter) return RunOf(c, i, kLetter);
  if (space_prefix && c.cls[s] == kLetter) return RunOf(c, s, kLetter);
  if (cls == kNumber) return RunOf(c, i, kNumber);
  if (space_prefix && c.cls[s] == kNumber) return RunOf(c, s, kNumber);
  if (cls == kOther) return RunOf(c, i, kOther);
  if (space_prefix && c.cls[s] == kOther) return RunOf(c, s, kOther);
  return WhitespaceMatch(c, i);  // cls == kSpace
}

bool IsCrLf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// End (in chars) of the Llama 3 / Qwen2 match starting at i.
size_t Llama3MatchAt(const Chars& c, size_t i, size_t max_digits) {
  const size_t n = c.size();
  if (size_t k = Contraction(c, i, /*ignore_case=*/true)) return i + k;
  const uint8_t cls = c.cls[i];
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (cls == kLetter) return RunOf(c, i, kLetter);
  if (cls != kNumber && !IsCrLf(c.cp[i]) && i + 1 < n && c.cls[i + 1] == kLetter) {
    return RunOf(c, i + 1, kLetter);
  }
  // \p{N}{1,max}
  if (cls == kNumber) {
    size_t j = i;
    while (j < n && j - i < max_digits && c.cls[j] == kNumber) ++j;
    return j;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  {
    size_t s = i;
    if (c.cp[i] == ' ' && i + 1 < n && c.cls[i + 1] == kOther) s = i + 1;
    if (c.cls[s] == kOther) {
      size_t j = RunOf(c, s, kOther);
      while (j < n && IsCrLf(c.cp[j])) ++j;
      return j;
    }
  }
  // cls == kSpace from here.
  // \s*[\r\n]+ : the whitespace run up to and including its last \r or \n.
  const size_t j = RunOf(c, i, kSpace);
  for (size_t k = j; k > i; --k) {
    if (IsCrLf(c.cp[k - 1])) return k;
  }
  return WhitespaceMatch(c, i);
}

}  // namespace

const char* SplitPatternRegex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2: return kGpt2Regex;
    case SplitPattern::kLlama3: return kLlama3Regex;
    case SplitPattern::kQwen2: return kQwen2Regex;
  }
  return "";
}

absl::StatusOr<SplitPattern> RecognizeSplitPattern(absl::string_view regex) {
  for (SplitPattern p : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    if (regex == SplitPatternRegex(p)) return p;
  }
  return absl::UnimplementedError(absl::StrCat(
      "unsupported Split regex \"", regex,
      "\" (memlens implements split patterns by hand; supported: the GPT-2 pattern ",
      kGpt2Regex, " ; the Llama 3 pattern ", kLlama3Regex, " ; the Qwen2 pattern ",
      kQwen2Regex, ")"));
}

void FindPatternMatches(SplitPattern pattern, absl::string_view text,
                        std::vector<ByteSpan>* matches) {
  Chars c;
  Decode(text, &c);
  size_t i = 0;
  while (i < c.size()) {
    size_t j;
    switch (pattern) {
      case SplitPattern::kGpt2: j = Gpt2MatchAt(c, i); break;
      case SplitPattern::kLlama3: j = Llama3MatchAt(c, i, 3); break;
      case SplitPattern::kQwen2: j = Llama3MatchAt(c, i, 1); break;
      default: j = i + 1;
    }
    if (j <= i) j = i + 1;  // never happens: every character is matched
    matches->push_back(ByteSpan{c.offset[i], c.offset[j]});
    i = j;
  }
}

absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown split behavior \"", name,
      "\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)"));
}

void SplitByMatches(absl::string_view text, const std::vector<ByteSpan>& matches,
                    SplitBehavior behavior, bool invert, std::vector<std::string>* out) {
  // All of the text as (span, is_match), as HuggingFace's Pattern::find_matches.
  std::vector<std::pair<ByteSpan, bool>> splits;
  size_t prev = 0;
  for (const ByteSpan& m : matches) {
    if (m.begin == m.end) continue;
    if (prev < m.begin) splits.push_back({{prev, m.begin}, invert});
    splits.push_back({m, !invert});
    prev = m.end;
  }
  if (prev < text.size()) splits.push_back({{prev, text.size()}, invert});

  std::vector<std::pair<ByteSpan, bool>> pieces;  // (span, remove)
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (auto& s : splits) pieces.push_back({s.first, false});
      break;
    case SplitBehavior::kRemoved:
      pieces = splits;
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (auto& s : splits) {
        if (s.second == previous_match && !pieces.empty()) {
          pieces.back().first.end = s.first.end;
        } else {
          pieces.push_back({s.first, false});
        }
        previous_match = s.second;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (auto& s : splits) {
        if (s.second && !previous_match && !pieces.empty()) {
          pieces.back().first.end = s.first.end;
        } else {
          pieces.push_back({s.first, false});
        }
        previous_match = s.second;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = splits.rbegin(); it != splits.rend(); ++it) {
        if (it->second && !previous_match && !pieces.empty()) {
          pieces.back().first.begin = it->first.begin;
        } else {
          pieces.push_back({it->first, false});
        }
        previous_match = it->second;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  for (auto& p : pieces) {
    if (p.second || p.first.begin == p.first.end) continue;
    out->emplace_back(text.substr(p.first.begin, p.first.end - p.first.begin));
  }
}

namespace {

void ApplyStep(const PreTokenizerStep& step, absl::string_view piece,
               std::vector<std::string>* out) {
  std::vector<ByteSpan> matches;
  switch (step.kind) {
    case PreTokenizerStep::Kind::kByteLevel: {
      std::string text;
      if (step.add_prefix_space && (piece.empty() || piece[0] != ' ')) {
        text = absl::StrCat(" ", piece);
        piece = text;
      }
      if (!step.use_regex) {
        out->emplace_back(piece);
        return;
      }
      FindPatternMatches(SplitPattern::kGpt2, piece, &matches);
      SplitByMatches(piece, matches, SplitBehavior::kIsolated, false, out);
      return;
    }
    case PreTokenizerStep::Kind::kSplitPattern:
      FindPatternMatches(step.pattern, piece, &matches);
      SplitByMatches(piece, matches, step.behavior, step.invert, out);
      return;
    case PreTokenizerStep::Kind::kSplitString: {
      if (!step.literal.empty()) {
        size_t pos = 0;
        while ((pos = piece.find(step.literal, pos)) != absl::string_view::npos) {
          matches.push_back(ByteSpan{pos, pos + step.literal.size()});
          pos += step.literal.size();
        }
      }
      SplitByMatches(piece, matches, step.behavior, step.invert, out);
      return;
    }
    case PreTokenizerStep::Kind::kDigits: {
      size_t pos = 0;
      while (pos < piece.size()) {
        int len;
        const uint32_t cp = unicode::DecodeAt(piece, pos, &len);
        if (unicode::IsNumber(cp)) matches.push_back(ByteSpan{pos, pos + len});
        pos += len;
      }
      SplitByMatches(piece, matches,
                     step.individual_digits ? SplitBehavior::kIsolated
                                            : SplitBehavior::kContiguous,
                     false, out);
      return;
    }
  }
}

}  // namespace

void PreTokenize(const std::vector<PreTokenizerStep>& steps, absl::string_view text,
                 std::vector<std::string>* pieces) {
  std::vector<std::string> current;
  current.emplace_back(text);
  std::vector<std::string> next;
  for (const PreTokenizerStep& step : steps) {
    next.clear();
    for (const std::string& piece : current) ApplyStep(step, piece, &next);
    current.swap(next);
  }
  for (std::string& p : current) {
    if (!p.empty()) pieces->push_back(std::move(p));
  }
}

}  // namespace memlens
