// Strict UTF-8 as RFC 3629 (and nlohmann's JSON parser) define it: no
// overlong forms, no surrogates, nothing above U+10FFFF. Strings that pass
// can be written as JSON strings and parse back unchanged; the CLI routes
// other bytes to base64, offset records refuse them.
#pragma once

#include <string_view>

namespace rivulet {

bool is_valid_utf8(std::string_view s);

}  // namespace rivulet
