#include "core/tokenizer/tokenizer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace memlens {

int Utf8SequenceLength(absl::string_view s) {
  if (s.empty()) return 0;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t avail = s.size();
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;
    if (c == 0xED && p[1] >= 0xA0) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) {
      return 0;
    }
    if (c == 0xF0 && p[1] < 0x90) return 0;
    if (c == 0xF4 && p[1] >= 0x90) return 0;
    return 4;
  }
  return 0;
}

std::string DisplayBytes(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = Utf8SequenceLength(bytes.substr(i));
    if (n > 0) {
      out.append(bytes.data() + i, n);
      i += n;
    } else {
      absl::StrAppendFormat(&out, "<0x%02X>", static_cast<unsigned char>(bytes[i]));
      ++i;
    }
  }
  return out;
}

absl::Status InvalidTokenIdError(absl::string_view tokenizer_name, int id, size_t index,
                                 int vocab_size) {
  return absl::InvalidArgumentError(absl::StrCat(tokenizer_name, ": token id ", id,
                                                 " at position ", index,
                                                 " is outside the vocabulary [0, ",
                                                 vocab_size, ")"));
}

}  // namespace memlens
