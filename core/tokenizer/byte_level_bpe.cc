#include "core/tokenizer/byte_level_bpe.h"

#include <algorithm>
#include <array>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/tokenizer/bpe_merge.h"
#include "core/tokenizer/unicode.h"

namespace memlens {

namespace {

struct ByteMap {
  std::array<std::string, 256> to_unicode;
  absl::flat_hash_map<uint32_t, uint8_t> from_unicode;  // code point -> byte
};

const ByteMap& GetByteMap() {
  static const ByteMap* map = [] {
    auto* m = new ByteMap();
    // GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68
    // bytes to U+0100.. in byte order.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
                             (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : 256u + n++;
      unicode::AppendUtf8(cp, &m->to_unicode[b]);
      m->from_unicode[cp] = static_cast<uint8_t>(b);
    }
    return m;
  }();
  return *map;
}

bool IsWordChar(uint32_t cp) {
  return cp == '_' || unicode::IsLetter(cp) || unicode::IsNumber(cp);
}

// The code point ending right before `pos` (kInvalid for a stray byte), and its length.
uint32_t DecodeBefore(absl::string_view s, size_t pos, int* len) {
  size_t start = pos - 1;
  while (start > 0 && pos - start < 4 &&
         (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) {
    --start;
  }
  int l;
  const uint32_t cp = unicode::DecodeAt(s, start, &l);
  if (start + l == pos) {
    *len = l;
    return cp;
  }
  *len = 1;
  return unicode::kInvalid;
}

}  // namespace

const std::string& ByteToUnicode(uint8_t b) { return GetByteMap().to_unicode[b]; }

absl::optional<std::string> UnicodeToBytes(absl::string_view token) {
  const ByteMap& map = GetByteMap();
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    int len;
    const uint32_t cp = unicode::DecodeAt(token, pos, &len);
    auto it = map.from_unicode.find(cp);
    if (it == map.from_unicode.end()) return absl::nullopt;
    out.push_back(static_cast<char>(it->second));
    pos += len;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> ByteLevelBpeTokenizer::Create(
    ByteLevelBpeSpec spec) {
  const std::string& src = spec.source;
  auto tok = std::unique_ptr<ByteLevelBpeTokenizer>(new ByteLevelBpeTokenizer());
  tok->source_ = spec.source;
  tok->format_ = spec.format;

  // ---- Ids: vocab and added tokens together must be exactly 0..N-1.
  int64_t max_id = -1;
  for (const auto& [token, id] : spec.vocab) {
    if (id < 0 || id >= (int64_t{1} << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(src, ": token \"", absl::CEscape(token),
                                                     "\" has id ", id, ", out of range"));
    }
    max_id = std::max(max_id, id);
  }
  for (const AddedToken& added : spec.added_tokens) {
    if (added.id < 0 || added.id >= (1 << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(src, ": added token \"",
                                                     absl::CEscape(added.content),
                                                     "\" has id ", added.id, ", out of range"));
    }
    if (added.content.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": added token with id ", added.id, " has empty content"));
    }
    max_id = std::max<int64_t>(max_id, added.id);
  }
  // Contiguous ids need max_id + 1 <= the number of entries: check before allocating.
  if (max_id + 1 > static_cast<int64_t>(spec.vocab.size() + spec.added_tokens.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": token ids are not contiguous: the highest id is ", max_id, " but there are only ",
        spec.vocab.size(), " vocabulary entries and ", spec.added_tokens.size(),
        " added tokens"));
  }
  const size_t n = static_cast<size_t>(max_id + 1);
  std::vector<const std::string*> id_token(n, nullptr);
  tok->token_bytes_.resize(n);
  tok->is_special_.assign(n, false);
  tok->in_alphabet_.assign(n, false);
  tok->token_to_id_.reserve(spec.vocab.size() + spec.added_tokens.size());
  tok->bytes_to_id_.reserve(spec.vocab.size());
  for (const auto& [token, id64] : spec.vocab) {
    const int id = static_cast<int>(id64);
    if (id_token[id] != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          src, ": duplicate id ", id, " for tokens \"", absl::CEscape(*id_token[id]),
          "\" and \"", absl::CEscape(token), "\""));
    }
    id_token[id] = &token;
    if (!tok->token_to_id_.emplace(token, id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": duplicate token \"", absl::CEscape(token), "\""));
    }
    absl::optional<std::string> bytes = UnicodeToBytes(token);
    if (bytes.has_value()) {
      tok->in_alphabet_[id] = true;
      tok->bytes_to_id_.emplace(*bytes, id);
      tok->token_bytes_[id] = *std::move(bytes);
    } else {
      tok->token_bytes_[id] = token;  // as HuggingFace's ByteLevel decoder: UTF-8 as is
    }
  }
  for (const AddedToken& added : spec.added_tokens) {
    if (id_token[added.id] != nullptr) {
      if (*id_token[added.id] != added.content) {
        return absl::InvalidArgumentError(absl::StrCat(
            src, ": added token \"", absl::CEscape(added.content), "\" has id ", added.id,
            ", which the vocabulary gives to \"", absl::CEscape(*id_token[added.id]), "\""));
      }
    } else {
      id_token[added.id] = &added.content;
      tok->token_bytes_[added.id] = added.content;
      auto ins = tok->token_to_id_.emplace(added.content, added.id);
      if (!ins.second && ins.first->second != added.id) {
        return absl::InvalidArgumentError(absl::StrCat(
            src, ": added token \"", absl::CEscape(added.content), "\" has id ", added.id,
            " but the vocabulary has it as id ", ins.first->second));
      }
    }
    tok->is_special_[added.id] = added.special;
  }
  for (size_t id = 0; id < n; ++id) {
    if (id_token[id] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          src, ": token ids are not contiguous: no token has id ", id, " (highest id ", max_id,
          ", ", spec.vocab.size(), " vocabulary entries, ", spec.added_tokens.size(),
          " added tokens)"));
    }
  }
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(src, ": empty vocabulary"));

  // ---- The 256 single-byte tokens.
  for (int b = 0; b < 256; ++b) {
    auto it = tok->token_to_id_.find(ByteToUnicode(static_cast<uint8_t>(b)));
    if (it == tok->token_to_id_.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the vocabulary lacks the byte-level token \"%s\" for byte 0x%02X (a byte-level "
          "BPE vocabulary must hold all 256)",
          src, ByteToUnicode(static_cast<uint8_t>(b)), b));
    }
    tok->byte_id_[b] = it->second;
  }

  // ---- Merges.
  tok->merges_.reserve(spec.merges.size());
  std::string merged;
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [left, right] = spec.merges[rank];
    auto where = [&]() {
      return spec.merge_location ? spec.merge_location(rank) : absl::StrCat("merge ", rank);
    };
    auto l = tok->token_to_id_.find(left);
    auto r = tok->token_to_id_.find(right);
    if (l == tok->token_to_id_.end() || r == tok->token_to_id_.end()) {
      const std::string& missing = l == tok->token_to_id_.end() ? left : right;
      return absl::InvalidArgumentError(absl::StrCat(
          src, ": ", where(), ": merge \"", absl::CEscape(left), "\" + \"",
          absl::CEscape(right), "\" refers to unknown token \"", absl::CEscape(missing), "\""));
    }
    merged.assign(left);
    merged.append(right);
    auto m = tok->token_to_id_.find(merged);
    if (m == tok->token_to_id_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          src, ": ", where(), ": the result \"", absl::CEscape(merged), "\" of merge \"",
          absl::CEscape(left), "\" + \"", absl::CEscape(right), "\" is not in the vocabulary"));
    }
    const uint64_t key = (static_cast<uint64_t>(l->second) << 32) | static_cast<uint32_t>(r->second);
    tok->merges_[key] = Merge{static_cast<int>(rank), m->second};  // the last rank wins
  }

  // ---- Added tokens, indexed by first byte, longest first.
  tok->added_tokens_ = std::move(spec.added_tokens);
  tok->added_by_first_byte_.resize(256);
  for (size_t i = 0; i < tok->added_tokens_.size(); ++i) {
    const auto b = static_cast<unsigned char>(tok->added_tokens_[i].content[0]);
    tok->added_by_first_byte_[b].push_back(static_cast<int>(i));
  }
  for (auto& list : tok->added_by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [&](int a, int b) {
      return tok->added_tokens_[a].content.size() > tok->added_tokens_[b].content.size();
    });
  }

  tok->pre_tokenizer_ = std::move(spec.pre_tokenizer);
  tok->normalizer_ = spec.normalizer;
  tok->ignore_merges_ = spec.ignore_merges;
  for (int special : {spec.bos_id, spec.eos_id}) {
    if (special < -1 || special >= static_cast<int>(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": BOS/EOS id ", special, " is outside the vocabulary"));
    }
  }
  tok->bos_id_ = spec.bos_id;
  tok->eos_id_ = spec.eos_id;
  return tok;
}

bool ByteLevelBpeTokenizer::IsSpecial(int id) const {
  return id >= 0 && id < vocab_size() && is_special_[id];
}

std::string ByteLevelBpeTokenizer::TokenString(int id) const {
  if (id < 0 || id >= vocab_size()) return "";
  if (!in_alphabet_[id]) return token_bytes_[id];
  std::string out;
  for (char c : token_bytes_[id]) out += ByteToUnicode(static_cast<uint8_t>(c));
  return out;
}

int ByteLevelBpeTokenizer::TokenToId(absl::string_view token) const {
  auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

bool ByteLevelBpeTokenizer::FindAddedToken(absl::string_view text, size_t from, size_t* begin,
                                           size_t* end, int* token) const {
  if (added_tokens_.empty()) return false;
  for (size_t pos = from; pos < text.size(); ++pos) {
    const auto& candidates = added_by_first_byte_[static_cast<unsigned char>(text[pos])];
    for (int idx : candidates) {
      const AddedToken& t = added_tokens_[idx];
      if (text.compare(pos, t.content.size(), t.content) != 0) continue;
      size_t b = pos, e = pos + t.content.size();
      if (t.single_word) {
        int len;
        if (b > 0 && IsWordChar(DecodeBefore(text, b, &len))) continue;
        if (e < text.size() && IsWordChar(unicode::DecodeAt(text, e, &len))) continue;
      }
      if (t.lstrip) {
        while (b > from) {
          int len;
          const uint32_t cp = DecodeBefore(text, b, &len);
          if (!unicode::IsWhiteSpace(cp)) break;
          b -= len;
        }
      }
      if (t.rstrip) {
        while (e < text.size()) {
          int len;
          const uint32_t cp = unicode::DecodeAt(text, e, &len);
          if (!unicode::IsWhiteSpace(cp)) break;
          e += len;
        }
      }
      *begin = b;
      *end = e;
      *token = idx;
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::vector<int>> ByteLevelBpeTokenizer::Encode(absl::string_view text,
                                                               bool add_bos) const {
  std::vector<int> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos) {
    if (bos_id_ < 0) {
      return absl::FailedPreconditionError(absl::StrCat(name(), ": has no BOS token"));
    }
    out.push_back(bos_id_);
  }
  // Segments between added tokens.
  std::vector<std::pair<absl::string_view, int>> segments;  // (text, -1) or ("", id)
  size_t pos = 0;
  while (pos < text.size()) {
    size_t b, e;
    int idx;
    if (!FindAddedToken(text, pos, &b, &e, &idx)) {
      segments.push_back({text.substr(pos), -1});
      break;
    }
    if (b > pos) segments.push_back({text.substr(pos, b - pos), -1});
    segments.push_back({absl::string_view(), added_tokens_[idx].id});
    pos = e;
  }
  for (const auto& seg : segments) {
    if (seg.second >= 0) {
      out.push_back(seg.second);
    } else if (normalizer_ == Normalizer::kNfc) {
      EncodeSegment(unicode::ToNfc(seg.first), &out);
    } else {
      EncodeSegment(seg.first, &out);
    }
  }
  return out;
}

void ByteLevelBpeTokenizer::EncodeSegment(absl::string_view text, std::vector<int>* out) const {
  std::vector<std::string> pieces;
  PreTokenize(pre_tokenizer_, text, &pieces);
  for (const std::string& piece : pieces) EncodePiece(piece, out);
}

void ByteLevelBpeTokenizer::EncodePiece(absl::string_view piece, std::vector<int>* out) const {
  if (piece.size() == 1) {
    out->push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (ignore_merges_) {
    auto it = bytes_to_id_.find(piece);
    if (it != bytes_to_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  constexpr size_t kMaxCachedPiece = 128;
  constexpr size_t kMaxCacheEntries = 1 << 16;
  const bool cacheable = piece.size() <= kMaxCachedPiece;
  if (cacheable) {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out->size();
  MergePiece(piece, out);
  if (cacheable) {
    absl::MutexLock lock(&cache_mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(piece), std::vector<int>(out->begin() + start, out->end()));
  }
}

void ByteLevelBpeTokenizer::MergePiece(absl::string_view piece, std::vector<int>* out) const {
  std::vector<int> tok(piece.size());
  for (size_t k = 0; k < piece.size(); ++k) tok[k] = byte_id_[static_cast<unsigned char>(piece[k])];
  MergeBpe<int>(&tok, [this](int left, int right, BpeMerge<int>* m) {
    auto it = merges_.find((static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right));
    if (it == merges_.end()) return false;
    *m = {it->second.rank, it->second.merged};
    return true;
  });
  out->insert(out->end(), tok.begin(), tok.end());
}

absl::StatusOr<std::string> ByteLevelBpeTokenizer::Decode(absl::Span<const int> ids) const {
  std::string out;
  for (size_t k = 0; k < ids.size(); ++k) {
    const int id = ids[k];
    if (id < 0 || id >= vocab_size()) return InvalidTokenIdError(name(), id, k, vocab_size());
    out += token_bytes_[id];
  }
  return out;
}

std::string ByteLevelBpeTokenizer::Piece(int id) const {
  if (id < 0 || id >= vocab_size()) return absl::StrCat("<invalid id ", id, ">");
  return DisplayBytes(token_bytes_[id]);
}

}  // namespace memlens
