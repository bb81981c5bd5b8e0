#include "core/tokenizer/unicode.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace memlens {
namespace unicode {
namespace unicode_internal {

struct UnicodeRange {
  uint32_t lo;
  uint32_t hi;
  uint8_t value;
};

struct Decomposition {
  uint32_t cp;
  uint16_t offset;
  uint16_t length;
};

struct Composition {
  uint32_t first;
  uint32_t second;
  uint32_t composite;
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

// ---- NFC (UAX #15): canonical decomposition, canonical ordering, canonical composition.

namespace {

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t CombiningClass(uint32_t cp) {
  if (cp < 0x300) return 0;
  return LookUp(unicode_internal::kCombiningClassRanges, cp);
}

void Decompose(uint32_t cp, std::vector<uint32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  using unicode_internal::Decomposition;
  const Decomposition* begin = unicode_internal::kDecompositions;
  const Decomposition* end = begin + sizeof(unicode_internal::kDecompositions) /
                                         sizeof(unicode_internal::kDecompositions[0]);
  const Decomposition* it = std::lower_bound(
      begin, end, cp, [](const Decomposition& d, uint32_t c) { return d.cp < c; });
  if (it != end && it->cp == cp) {
    out->insert(out->end(), unicode_internal::kDecompositionPool + it->offset,
                unicode_internal::kDecompositionPool + it->offset + it->length);
    return;
  }
  out->push_back(cp);
}

// The primary composite of (a, b), or 0.
uint32_t Compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  using unicode_internal::Composition;
  const Composition* begin = unicode_internal::kCompositions;
  const Composition* end = begin + sizeof(unicode_internal::kCompositions) /
                                       sizeof(unicode_internal::kCompositions[0]);
  const Composition* it = std::lower_bound(
      begin, end, std::make_pair(a, b), [](const Composition& c, std::pair<uint32_t, uint32_t> k) {
        return c.first != k.first ? c.first < k.first : c.second < k.second;
      });
  if (it != end && it->first == a && it->second == b) return it->composite;
  return 0;
}

// Orders and composes the decomposed run `buf`, appending UTF-8 to *out.
void ComposeRun(std::vector<uint32_t>* buf, std::string* out) {
  std::vector<uint32_t>& b = *buf;
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < b.size();) {
    if (CombiningClass(b[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < b.size() && CombiningClass(b[j]) != 0) ++j;
    std::stable_sort(b.begin() + i, b.begin() + j, [](uint32_t x, uint32_t y) {
      return CombiningClass(x) < CombiningClass(y);
    });
    i = j;
  }
  // Canonical composition (the UAX #15 sample algorithm).
  std::vector<uint32_t> result;
  result.reserve(b.size());
  int starter = -1;
  int last_class = -1;
  for (uint32_t c : b) {
    const int cc = CombiningClass(c);
    if (starter >= 0 && (last_class < cc || last_class == 0)) {
      const uint32_t composite = Compose(result[starter], c);
      if (composite != 0) {
        result[starter] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter = static_cast<int>(result.size());
      last_class = 0;
    } else {
      // A non-starter that did not compose blocks later characters of a lower or equal
      // class from the starter.
      last_class = cc;
    }
    if (starter < 0) last_class = 256;  // no starter yet: nothing can compose
    result.push_back(c);
  }
  for (uint32_t c : result) AppendUtf8(c, out);
  b.clear();
}

}  // namespace

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string ToNfc(absl::string_view text) {
  if (IsCertainlyNfc(text)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::vector<uint32_t> buf;
  size_t pos = 0;
  while (pos < text.size()) {
    int len;
    const uint32_t cp = DecodeAt(text, pos, &len);
    if (cp == kInvalid) {
      ComposeRun(&buf, &out);  // invalid bytes pass through and block composition
      out.push_back(text[pos]);
    } else {
      Decompose(cp, &buf);
    }
    pos += len;
  }
  ComposeRun(&buf, &out);
  return out;
}

}  // namespace unicode
}  // namespace memlens
