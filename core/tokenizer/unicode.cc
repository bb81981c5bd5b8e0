#include "core/tokenizer/unicode.h"

#include <algorithm>

#include "core/tokenizer/tokenizer.h"

namespace memlens {
namespace unicode {
namespace unicode_internal {

struct UnicodeRange {
  uint32_t lo;
  uint32_t hi;
  uint8_t value;
};

#include "core/tokenizer/unicode_tables.inc"

template <size_t N>
uint8_t LookUp(const UnicodeRange (&table)[N], uint32_t cp) {
  const UnicodeRange* end = table + N;
  const UnicodeRange* it = std::upper_bound(
      table, end, cp, [](uint32_t c, const UnicodeRange& r) { return c < r.lo; });
  if (it == table) return 0;
  --it;
  return cp <= it->hi ? it->value : 0;
}

}  // namespace unicode_internal

using unicode_internal::LookUp;

uint32_t DecodeAt(absl::string_view s, size_t pos, int* len) {
  const unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  const int n = Utf8SequenceLength(s.substr(pos));
  if (n == 0) {
    *len = 1;
    return kInvalid;
  }
  *len = n;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data() + pos);
  if (n == 2) return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
  if (n == 3) return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
  return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
         (p[3] & 0x3Fu);
}

bool IsLetter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  if (cp == kInvalid) return false;
  return LookUp(unicode_internal::kCategoryRanges, cp) == 1;
}

bool IsNumber(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  if (cp == kInvalid) return false;
  return LookUp(unicode_internal::kCategoryRanges, cp) == 2;
}

bool IsWhiteSpace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  if (cp == kInvalid) return false;
  return LookUp(unicode_internal::kWhiteSpaceRanges, cp) == 1;
}

bool IsCertainlyNfc(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {  // ASCII: always safe
      ++pos;
      continue;
    }
    int len;
    const uint32_t cp = DecodeAt(text, pos, &len);
    // Invalid bytes are not text: a normalizer leaves them alone.
    if (cp != kInvalid && LookUp(unicode_internal::kNfcUnsafeRanges, cp) != 0) return false;
    pos += len;
  }
  return true;
}

const char* TablesVersion() { return MEMLENS_UNICODE_VERSION; }

}  // namespace unicode
}  // namespace memlens
