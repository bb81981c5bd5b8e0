#include "core/tokenizer/llama2c_tokenizer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/io/checked_file.h"
#include "core/tokenizer/bpe_merge.h"

namespace memlens {

namespace {

constexpr int kMaxTokenLengthLimit = 1 << 16;
constexpr int kMaxVocabSize = 1 << 24;

int32_t ReadI32(const char* p) {
  int32_t v;
  std::memcpy(&v, p, 4);  // little-endian hosts only (as llama2.c)
  return v;
}

float ReadF32(const char* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// "<0xHH>" (upper- or lower-case hex) -> byte value, else -1.
int ParseBytePiece(absl::string_view piece) {
  if (piece.size() != 6 || piece[0] != '<' || piece[1] != '0' || piece[2] != 'x' ||
      piece[5] != '>') {
    return -1;
  }
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = piece[i];
    int h;
    if (c >= '0' && c <= '9') {
      h = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      h = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      h = c - 'a' + 10;
    } else {
      return -1;
    }
    v = v * 16 + h;
  }
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Llama2cTokenizer::Load(
    const std::string& path, int vocab_size) {
  absl::StatusOr<std::string> data = ReadFileChecked(path, kTokenizerFile);
  if (!data.ok()) return data.status();
  return FromBytes(*data, vocab_size, path);
}

absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Llama2cTokenizer::FromBytes(
    absl::string_view data, int vocab_size, const std::string& source_name) {
  const std::string& src = source_name;
  if (vocab_size == kInferVocabSize && data.size() >= 4) {
    // Count the records; the checks below then report any problem precisely.
    const int32_t max_len = ReadI32(data.data());
    size_t off = 4;
    int count = 0;
    while (data.size() - off >= 8 && count < kMaxVocabSize) {
      const int32_t len = ReadI32(data.data() + off + 4);
      if (len < 0 || len > max_len || data.size() - off - 8 < static_cast<size_t>(len)) break;
      off += 8 + static_cast<size_t>(len);
      ++count;
    }
    vocab_size = off == data.size() ? count : count + 1;  // + 1: the bad record is reported
  }
  if (vocab_size < kByteOffset + 256 || vocab_size > kMaxVocabSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": model vocab_size ", vocab_size, " is out of range for a llama2.c tokenizer (",
        kByteOffset + 256, " to ", kMaxVocabSize, ": <unk>, BOS, EOS and 256 byte tokens)"));
  }
  if (data.size() < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": truncated llama2.c tokenizer: ", data.size(),
        " bytes, need at least 4 for max_token_length"));
  }
  auto tok = std::unique_ptr<Llama2cTokenizer>(new Llama2cTokenizer());
  tok->source_ = src;
  tok->max_token_length_ = ReadI32(data.data());
  if (tok->max_token_length_ <= 0 || tok->max_token_length_ > kMaxTokenLengthLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": max_token_length ", tok->max_token_length_,
                     " is out of range [1, ", kMaxTokenLengthLimit,
                     "] (not a llama2.c tokenizer file?)"));
  }
  // Each record takes at least 8 bytes: do not trust vocab_size for allocation.
  const size_t expected = std::min<size_t>(vocab_size, data.size() / 8);
  tok->pieces_.reserve(expected);
  tok->scores_.reserve(expected);
  tok->decoded_.reserve(expected);
  tok->ids_.reserve(expected);
  size_t off = 4;
  for (int i = 0; i < vocab_size; ++i) {
    if (data.size() - off < 8) {
      return absl::InvalidArgumentError(absl::StrCat(
          src, ": truncated at token ", i, " (byte offset ", off, "): the file holds ", i,
          " tokens but the model's vocab_size is ", vocab_size));
    }
    const float score = ReadF32(data.data() + off);
    const int32_t len = ReadI32(data.data() + off + 4);
    if (!std::isfinite(score)) {
      return absl::InvalidArgumentError(absl::StrCat(src, ": token ", i, " (byte offset ", off,
                                                     ") has a non-finite score"));
    }
    if (len < 0 || len > tok->max_token_length_) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": token ", i, " (byte offset ", off + 4, ") has length ", len,
                       ", outside [0, max_token_length ", tok->max_token_length_, "]"));
    }
    off += 8;
    if (data.size() - off < static_cast<size_t>(len)) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": truncated in token ", i, " (byte offset ", off, "): length ",
                       len, " but only ", data.size() - off, " bytes remain"));
    }
    std::string piece(data.data() + off, len);
    off += len;
    if (i >= kByteOffset && i < kByteOffset + 256) {
      if (ParseBytePiece(piece) != i - kByteOffset) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: token %d is \"%s\", expected the byte token <0x%02X> (ids 3..258 must be the "
            "256 byte-fallback tokens)",
            src, i, absl::CEscape(piece), i - kByteOffset));
      }
    }
    int b = ParseBytePiece(piece);
    if (i == kBosId || i == kEosId) {
      tok->decoded_.emplace_back();
    } else if (b >= 0) {
      tok->decoded_.emplace_back(1, static_cast<char>(b));
    } else {
      tok->decoded_.push_back(piece);
    }
    tok->ids_.emplace(piece, i);  // keeps the first (lowest) id on duplicates
    tok->pieces_.push_back(std::move(piece));
    tok->scores_.push_back(score);
  }
  if (off != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": ", data.size() - off, " bytes after token ", vocab_size - 1,
        " (byte offset ", off, "): the file holds more tokens than the model's vocab_size ",
        vocab_size));
  }
  return tok;
}

const std::string& Llama2cTokenizer::raw_piece(int id) const {
  static const std::string* empty = new std::string();
  if (id < 0 || id >= vocab_size()) return *empty;
  return pieces_[id];
}

float Llama2cTokenizer::score(int id) const {
  if (id < 0 || id >= vocab_size()) return 0.0f;
  return scores_[id];
}

int Llama2cTokenizer::Lookup(absl::string_view piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

absl::string_view Llama2cTokenizer::TokenBytes(int id) const { return decoded_[id]; }

absl::StatusOr<std::vector<int>> Llama2cTokenizer::Encode(absl::string_view text,
                                                          bool add_bos) const {
  std::vector<int> initial;
  initial.reserve(text.size() + 1);
  if (!text.empty()) {
    const int space = Lookup(" ");
    initial.push_back(space >= 0 ? space : ' ' + kByteOffset);
  }
  // One piece per UTF-8 character: a byte plus the continuation bytes after it (at most 4
  // bytes in all), as run.c groups them, so invalid UTF-8 falls back to byte tokens.
  size_t i = 0;
  while (i < text.size()) {
    size_t n = 1;
    while (i + n < text.size() && n < 4 &&
           (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) {
      ++n;
    }
    const int id = Lookup(text.substr(i, n));
    if (id >= 0) {
      initial.push_back(id);
    } else {
      for (size_t k = 0; k < n; ++k) {
        initial.push_back(static_cast<unsigned char>(text[i + k]) + kByteOffset);
      }
    }
    i += n;
  }

  // Highest score first (the priority is its negation, exact for floats), leftmost on ties.
  std::string buf;
  MergeBpe<float>(&initial, [&](int left, int right, BpeMerge<float>* m) {
    buf.assign(pieces_[left]);
    buf.append(pieces_[right]);
    const int merged = Lookup(buf);
    // run.c starts from best_score = -1e10 and needs a strictly greater score.
    if (merged < 0 || !(scores_[merged] > -1e10f)) return false;
    *m = {-scores_[merged], merged};
    return true;
  });
  std::vector<int> out;
  out.reserve(initial.size() + 1);
  if (add_bos) out.push_back(kBosId);
  out.insert(out.end(), initial.begin(), initial.end());
  return out;
}

absl::StatusOr<std::string> Llama2cTokenizer::Decode(absl::Span<const int> ids) const {
  std::string out;
  bool at_start = true;  // at the start of the sequence or right after BOS
  for (size_t k = 0; k < ids.size(); ++k) {
    const int id = ids[k];
    if (id < 0 || id >= vocab_size()) {
      return InvalidTokenIdError(name(), id, k, vocab_size());
    }
    if (id == kBosId) {
      at_start = true;
      continue;
    }
    absl::string_view bytes = TokenBytes(id);
    // The dummy prefix (a " ..." piece, or the byte token 0x20 when " " is not a piece).
    if (at_start && !bytes.empty() && bytes[0] == ' ') {
      bytes.remove_prefix(1);
    }
    at_start = false;
    out.append(bytes.data(), bytes.size());
  }
  return out;
}

std::string Llama2cTokenizer::Piece(int id) const {
  if (id < 0 || id >= vocab_size()) return absl::StrCat("<invalid id ", id, ">");
  if (id == kBosId) return "<s>";
  if (id == kEosId) return "</s>";
  if (ParseBytePiece(pieces_[id]) >= 0) return pieces_[id];
  return DisplayBytes(pieces_[id]);
}

}  // namespace memlens
