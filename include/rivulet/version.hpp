// Library version and the newest file format version this build reads.
#pragma once

namespace rivulet {

inline constexpr const char* kVersion = "0.1.0";
inline constexpr unsigned kFormatVersion = 4;

}  // namespace rivulet
