// How memlens shows a token to people, everywhere it does (`memlens run`, the report's
// metadata, tables and sentences): in double quotes, with escapes for what would not show or
// would break the line, so a space or newline token is `" "` or `"\n"`, never a blank cell.
// Header-only, so plugins (which link no core code) and the host share the one convention.
#ifndef MEMLENS_CORE_REPORT_TOKEN_TEXT_H_
#define MEMLENS_CORE_REPORT_TOKEN_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace memlens {

// `piece` quoted: \n \t \r \" \\ and \xNN for other control bytes; other bytes (UTF-8
// included) as they are.
inline std::string QuotedToken(absl::string_view piece) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : piece) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

}  // namespace memlens

#endif  // MEMLENS_CORE_REPORT_TOKEN_TEXT_H_
