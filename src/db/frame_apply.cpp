// Replaying a frame into the catalog.
#include "db/frame_apply.hpp"

namespace rivulet::db {

Status for_each_record(const format::BatchRef& b, const std::function<Status(const format::DecodedRecord&)>& take) {
  format::RecordDecoder decoder(b.bytes, b.header, b.position);
  format::DecodedRecord rec;
  for (;;) {
    Result<bool> more = decoder.next(&rec);
    if (!more.ok()) return more.status();
    if (!*more) return Status::OK();
    RIVULET_TRY(take(rec));
  }
}

static Status apply_offsets_batch(meta::Catalog& catalog, const format::BatchRef& b) {
  return for_each_record(b, [&](const format::DecodedRecord& rec) {
    format::OffsetKey key;
    std::optional<format::OffsetValue> value;
    RIVULET_TRY(format::decode_offset_record(rec.key, rec.value, b.position, &key, &value));
    catalog.offsets().apply(key, value, rec.timestamp_ms);
    return Status::OK();
  });
}

static Status apply_meta_batch(meta::Catalog& catalog, const format::BatchRef& b) {
  return for_each_record(b, [&](const format::DecodedRecord& rec) {
    format::MetaChange change;
    RIVULET_TRY(format::decode_meta(rec.key, rec.value, b.position, &change));
    return catalog.apply_meta(change, b.position);
  });
}

Status apply_frame(meta::Catalog& catalog, const format::ParsedFrame& frame) {
  for (const format::BatchRef& b : frame.batches) {
    if (b.topic_id == format::kMetaTopicId) {
      if (b.partition != 0) {
        return {Code::corruption, "metadata batch for a partition other than 0", b.position};
      }
      RIVULET_TRY(apply_meta_batch(catalog, b));
    } else if (b.topic_id == catalog.offsets_topic_id()) {
      RIVULET_TRY(apply_offsets_batch(catalog, b));
    }
    RIVULET_TRY(catalog.apply_batch(b.topic_id, b.partition, b.header, b.position));
  }
  return Status::OK();
}

}  // namespace rivulet::db
