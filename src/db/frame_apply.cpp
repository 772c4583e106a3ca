// Replaying a frame into the catalog.
#include "db/frame_apply.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

namespace rivulet::db {

Status for_each_record(const format::BatchRef& b, std::string_view topic,
                       const std::function<Status(const format::DecodedRecord&)>& take) {
  format::RecordDecoder decoder(b.bytes, b.header, b.position);
  format::DecodedRecord rec;
  while (decoder.next(&rec)) RIVULET_TRY(take(rec));
  return format::in_partition(decoder.status(), topic, b.partition);
}

static Status apply_offsets_batch(meta::Catalog& catalog, const format::BatchRef& b, uint64_t seq) {
  return for_each_record(b, format::kOffsetsTopicName, [&](const format::DecodedRecord& rec) {
    format::OffsetKey key;
    std::optional<format::OffsetValue> value;
    RIVULET_TRY(format::decode_offset_record(rec.key(), rec.value(), b.position, &key, &value));
    catalog.offsets().apply(key, value, rec.timestamp_ms, seq);
    return Status::OK();
  });
}

static Status apply_meta_batch(meta::Catalog& catalog, const format::BatchRef& b) {
  return for_each_record(b, format::kMetaTopicName, [&](const format::DecodedRecord& rec) {
    format::MetaChange change;
    RIVULET_TRY(format::decode_meta(rec.key(), rec.value(), b.position, &change));
    return catalog.apply_meta(change, b.position);
  });
}

Status apply_frame(meta::Catalog& catalog, const format::ParsedFrame& frame) {
  if (frame.checkpoint()) return Status::OK();
  if (frame.relocated()) {
    for (const format::BatchRef& b : frame.batches) {
      RIVULET_TRY(catalog.apply_relocated(b.topic_id, b.partition, b.header, b.position));
    }
    return Status::OK();
  }
  for (const format::BatchRef& b : frame.batches) {
    if (b.topic_id == format::kMetaTopicId) {
      if (b.partition != 0) {
        return {Code::corruption, "metadata batch for a partition other than 0", b.position};
      }
      RIVULET_TRY(apply_meta_batch(catalog, b));
    } else if (b.topic_id == catalog.offsets_topic_id()) {
      RIVULET_TRY(apply_offsets_batch(catalog, b, frame.header.seq));
    }
    RIVULET_TRY(catalog.apply_batch(b.topic_id, b.partition, b.header, b.position));
  }
  return Status::OK();
}

// One block for a checkpoint's state, on huge pages where the kernel allows:
// every 4 KiB page first touched costs a page fault (tens of microseconds
// on a virtual machine), and a 4 GiB file's state is over a megabyte.
static std::shared_ptr<char> allocate_state(size_t size) {
  constexpr size_t kHugePage = 2u << 20;
  if (size < kHugePage / 2) return std::shared_ptr<char>(new char[std::max<size_t>(size, 1)], std::default_delete<char[]>());
  size_t rounded = (size + kHugePage - 1) / kHugePage * kHugePage;
  void* block = std::aligned_alloc(kHugePage, rounded);
  if (!block) throw std::bad_alloc();
  ::madvise(block, rounded, MADV_HUGEPAGE);  // advice only: without huge pages, small pages
  return std::shared_ptr<char>(static_cast<char*>(block), std::free);
}

Status Replay::apply(const format::ParsedFrame& frame, const log::ChainPos& at, const log::ChainPos& next) {
  if (frame.segment_end()) {
    uint32_t index = catalog_->segments().index_of(next.pos);
    catalog_->enter_segment(index, next.segment_seq);
    if (in_checkpoint_) entered_.emplace_back(index, next.segment_seq);
    return Status::OK();  // a checkpoint run may span segments
  }
  if (!frame.checkpoint()) {
    if (loading_) {
      return {Code::corruption,
              fmt::format("the log should start with a checkpoint at position {}, but frame {} there is not one "
                          "or the checkpoint ends before its last frame",
                          in_checkpoint_ ? run_position_ : frame.position, frame.header.seq),
              frame.position};
    }
    in_checkpoint_ = false;  // a run its writer did not finish: ignored
    since_checkpoint_ += format::align8(frame.header.frame_length);
    if (frame.relocated()) {
      catalog_->note_cleaned();
    } else {
      catalog_->note_appended(format::align8(frame.header.frame_length));
    }
    return apply_frame(*catalog_, frame);
  }
  if (frame.checkpoint_start()) {
    // A run its writer did not finish may come just before: start over.
    in_checkpoint_ = true;
    run_start_seq_ = at.segment_seq;
    run_position_ = frame.position;
    run_bytes_ = 0;
    pieces_.clear();
    entered_.assign(1, {catalog_->segments().index_of(frame.position), at.segment_seq});
  } else if (!in_checkpoint_) {
    // The rest of a run whose start is not on this walk (nor its state).
    if (loading_) return {Code::corruption, "the log starts inside a checkpoint, not at its first frame", frame.position};
    return Status::OK();
  }
  run_bytes_ += format::align8(frame.header.frame_length);
  if (loading_) {
    for (const format::BatchRef& b : frame.batches) {
      if (b.topic_id != format::kMetaTopicId || b.partition != format::kCheckpointPartition) {
        return {Code::corruption, "checkpoint frame holding a batch of another partition", b.position};
      }
      RIVULET_TRY(for_each_record(b, format::kMetaTopicName, [&](const format::DecodedRecord& r) {
        if (Bytes v = r.value()) pieces_.emplace_back(v->data(), v->size());
        return Status::OK();
      }));
    }
  }
  if (!frame.checkpoint_end()) return Status::OK();
  if (loading_) {
    size_t size = 0;
    for (std::string_view p : pieces_) size += p.size();
    std::shared_ptr<char> state = allocate_state(size);
    char* at = state.get();
    for (std::string_view p : pieces_) at = std::copy(p.begin(), p.end(), at);
    pieces_ = {};
    RIVULET_TRY(catalog_->decode_checkpoint({state.get(), size}, state, run_position_));
    for (auto [index, seq] : entered_) {
      const meta::SegmentState* s = index < catalog_->segments().size() ? &catalog_->segments().at(index) : nullptr;
      if (!s || s->use != meta::SegmentState::Use::in_use || s->seq != seq) catalog_->enter_segment(index, seq);
    }
    loading_ = false;
  }
  catalog_->apply_checkpoint_end(run_start_seq_);
  in_checkpoint_ = false;
  since_checkpoint_ = 0;
  last_checkpoint_bytes_ = run_bytes_;
  ++checkpoints_;
  return Status::OK();
}

Status Replay::finish() const {
  if (!loading_) return Status::OK();
  return {Code::corruption,
          fmt::format("the log should start with the checkpoint at position {} (the superblock says so), but it "
                      "is damaged or incomplete",
                      run_position_),
          run_position_};
}

}  // namespace rivulet::db
