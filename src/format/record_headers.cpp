// Lazy decoding of a record's headers (Kafka's record-header encoding) for
// RecordHeaders iteration. The reader validated the bytes already; this code
// still stays inside [pos, end) and simply ends iteration on bad bytes.
#include "rivulet/record.hpp"
#include "util/varint.hpp"

namespace rivulet {

RecordHeaders::iterator::iterator(const char* pos, const char* end, uint32_t left)
    : pos_(pos), end_(end), left_(left) {
  if (left_ > 0) decode();
}

RecordHeaders::iterator& RecordHeaders::iterator::operator++() {
  if (left_ > 0 && --left_ > 0) decode();
  return *this;
}

// Reads the header at pos_ into current_ and moves pos_ past it; on
// malformed bytes becomes the end iterator.
void RecordHeaders::iterator::decode() {
  int32_t key_len = 0;
  const char* p = varint::get32(pos_, end_, &key_len);
  if (p == nullptr || key_len < 0 || key_len > end_ - p) {
    left_ = 0;
    return;
  }
  const std::string_view key(p, static_cast<size_t>(key_len));
  p += key_len;

  int32_t value_len = 0;
  p = varint::get32(p, end_, &value_len);
  if (p == nullptr || value_len < -1 || value_len > end_ - p) {
    left_ = 0;
    return;
  }
  current_.key = key;
  if (value_len < 0) {
    current_.value = std::nullopt;
  } else {
    current_.value = std::string_view(p, static_cast<size_t>(value_len));
    p += value_len;
  }
  pos_ = p;
}

}  // namespace rivulet
