// See utf8.hpp.
#include "util/utf8.hpp"

namespace rivulet {

static bool in(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t left = static_cast<size_t>(end - p);
    // The table of well-formed sequences in RFC 3629 section 4 (and Unicode
    // table 3-7): the second byte's range depends on the first byte.
    if (in(c, 0xC2, 0xDF)) {
      if (left < 2 || !in(p[1], 0x80, 0xBF)) return false;
      p += 2;
    } else if (in(c, 0xE0, 0xEF)) {
      unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlongs
      unsigned char hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
      if (left < 3 || !in(p[1], lo, hi) || !in(p[2], 0x80, 0xBF)) return false;
      p += 3;
    } else if (in(c, 0xF0, 0xF4)) {
      unsigned char lo = c == 0xF0 ? 0x90 : 0x80;  // no overlongs
      unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing past U+10FFFF
      if (left < 4 || !in(p[1], lo, hi) || !in(p[2], 0x80, 0xBF) || !in(p[3], 0x80, 0xBF)) {
        return false;
      }
      p += 4;
    } else {
      return false;  // 0x80..0xC1 (continuation or overlong lead), 0xF5..0xFF
    }
  }
  return true;
}

}  // namespace rivulet
