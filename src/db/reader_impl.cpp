// Partition reading.
#include "db/reader_impl.hpp"

#include <fmt/format.h>

#include "db/db_impl.hpp"
#include "format/record_batch.hpp"
#include "format/record_decoder.hpp"
#include "util/clock.hpp"

namespace rivulet {

namespace {

// Batches shorter than this do not have the next one prefetched.
constexpr size_t kPrefetchFrom = 16 * 1024;
constexpr uint64_t kPopulateStep = 4u << 20;    // ahead of large batches
constexpr uint64_t kTailPopulateStep = 256u << 10;  // ahead of any batch

// Batches of the partition from the one holding `offset`, at most `limit`.
Status snapshot(DbImpl* db, uint32_t topic_id, int32_t partition, const std::string& topic,
                std::optional<int64_t> offset, std::optional<int64_t> time, size_t limit, ReaderSnapshot* out) {
  std::shared_lock state(db->state_mutex());
  const meta::TopicState* t = db->catalog().by_id(topic_id);
  if (!t || t->deleted) return {Code::not_found, fmt::format("{}: topic '{}' was deleted", db->path(), topic)};
  const meta::PartitionState& p = t->partitions[static_cast<size_t>(partition)];
  if (Status st = p.index.load(); !st.ok()) return with_path(db->path(), st);
  out->first_offset = p.first_offset;
  out->next_offset = p.visible_end;
  out->batches.clear();
  out->lowest_segment_seq = UINT64_MAX;
  // A reader at the end has nothing to look at: no batch, so no read mark
  // to set and clear again (a follower's idle polls are mostly this).
  if (offset && *offset >= p.visible_end) return Status::OK();
  std::optional<size_t> i = offset ? p.index.find_offset(*offset) : p.index.find_time(*time);
  // Compaction may have emptied (and dropped) the batches before the first
  // one left: the offset lies in a gap before it.
  if (!i && offset && p.index.size() > 0) i = 0;
  if (!i) return Status::OK();
  for (auto c = p.index.cursor(*i); c.valid() && out->batches.size() < limit; c.next()) {
    const index::BatchEntry& e = *c;
    out->batches.push_back({e.position, e.base_offset, e.checked});
    out->lowest_segment_seq =
        std::min(out->lowest_segment_seq, db->catalog().segments().seq_of(e.position));
  }
  return Status::OK();
}

// What to prefetch while the batch `bytes` (the k-th of `snap`) is decoded:
// the checksum has just brought it into the cache, and the records are
// decoded from there while the next batch comes in, so that its checksum
// finds it in the cache too. Without this the reader waits for memory and
// then computes, one after the other (a cold sequential read spent half its
// time in the checksum). The next batch is assumed as long as this one; the
// one after the snapshot's last is taken to follow it in the file. Small
// batches get nothing: they are read at the tail, where the bytes after
// them are the writer's next frame.
std::string_view next_batch_window(DbImpl* db, const ReaderSnapshot& snap, size_t k, std::string_view bytes,
                                   log::FileMap::Ahead* mapped) {
  if (bytes.size() < kPrefetchFrom) return {};
  const uint64_t next_position =
      k + 1 < snap.batches.size() ? snap.batches[k + 1].position : snap.batches[k].position + bytes.size();
  db->file_map().map_ahead(mapped, next_position, next_position + bytes.size(), kPopulateStep);
  Result<std::string_view> next = db->file_map().view(next_position, next_position + bytes.size());
  if (!next.ok()) return {};  // nothing to prefetch: the next batch is read as before
  // A prefetch into a page not mapped yet is dropped: map them now, with a
  // load per page (a fault maps 16 pages). The load does not wait. Bytes
  // past the read mark are harmless to touch: they are inside the file,
  // which never shrinks while open.
  for (size_t page = 0; page < next->size(); page += 4096) {
    asm volatile("" : : "r"(*reinterpret_cast<const volatile char*>(next->data() + page)));
  }
  return *next;
}

}  // namespace

Status ReaderImpl::named(const Status& st) const {
  return with_path(db_->path(), format::in_partition(st, topic_, partition_));
}

// Checks the batch's CRC before handing out any of its records, as Kafka's
// consumers do (check.crcs): open replays only the log after the newest
// checkpoint, so the batches before it are otherwise never checked again,
// and damage to them would be handed out as records.
Status ReaderImpl::checked_batch(const ReaderSpan& span, std::string_view* batch, format::BatchHeader* h) {
  const uint64_t position = span.position;
  log::FileMap& map = db_->file_map();
  // Everything up to the end of the file: the header check bounds the batch.
  Result<std::string_view> rest = map.view(position, UINT64_MAX, format::kBatchHeaderSize);
  if (!rest.ok()) return rest.status();
  if (Status st = format::parse_batch_header(*rest, position, h); !st.ok()) return named(st);
  // The batch CRC does not cover baseOffset: a batch that is not the one
  // the list says would hand its records out under wrong offsets.
  if (h->base_offset != span.base_offset) {
    return {Code::corruption,
            fmt::format("{}: record batch of '{}' partition {} at position {} starts at offset {}, but the "
                        "partition's batch list records offset {} for it",
                        db_->path(), topic_, partition_, position, h->base_offset, span.base_offset),
            position};
  }
  *batch = rest->substr(0, h->total_size());
  if (!span.checked && checked_ != std::pair(position, h->base_offset)) {
    if (!format::batch_crc_ok(*batch, *h)) {
      return {Code::corruption,
              fmt::format("{}: record batch of '{}' partition {} at position {} fails its checksum", db_->path(),
                          topic_, partition_, position),
              position};
    }
    checked_ = {position, h->base_offset};
  }
  return Status::OK();
}

// Looks the batches up and pins their segments with the read mark, so that
// no writer reuses or punches them while their records are handed out. A
// writer bumps the reclaim epoch before it reads the marks; if the epoch is
// the same after the mark is set as before the refresh, any writer
// reclaiming since will see the mark, and any that reclaimed before had
// already committed what made those segments free, which the refresh
// applied (so the lookup did not choose them). Otherwise look again.
Status ReaderImpl::pinned_snapshot(std::optional<int64_t> offset, std::optional<int64_t> time, size_t limit,
                                   ReaderSnapshot* snap) {
  for (;;) {
    uint64_t epoch = db_->reclaim_epoch();
    RIVULET_TRY(db_->refresh());
    RIVULET_TRY(snapshot(db_, topic_id_, partition_, topic_, offset, time, limit, snap));
    if (snap->batches.empty()) {
      db_->read_marks().clear(mark_);
      return Status::OK();
    }
    db_->read_marks().set(mark_, snap->lowest_segment_seq);
    if (db_->reclaim_epoch() == epoch) return Status::OK();
  }
}

Status ReaderImpl::fill(size_t max_records) {
  ReaderSnapshot& snap = snap_;
  const int64_t start = next_offset_;
  const size_t count_at_start = count_;
  // Enough batches for a full poll in the common case; the loop asks again.
  RIVULET_TRY(pinned_snapshot(next_offset_, std::nullopt, 64, &snap));
  if (next_offset_ < snap.first_offset) {
    return {Code::out_of_range, fmt::format("{}: offset {} of '{}' partition {} is no longer in the file",
                                            db_->path(), next_offset_, topic_, partition_)};
  }
  for (size_t k = 0; k < snap.batches.size(); ++k) {
    const ReaderSpan& b = snap.batches[k];
    if (count_ >= max_records || next_offset_ >= snap.next_offset) break;
    std::string_view bytes;
    format::BatchHeader h;
    // Damage after good records (a batch failing its CRC, a record failing
    // to decode): hand those out first; the next poll starts right after
    // them and reports the damage.
    auto damaged = [&](const Status& st) { return count_ > 0 ? Status::OK() : st; };
    // Mapping the pages ahead in one call costs ~1.3 us a page on the
    // development VM, a page fault ~25 us: a cold sequential read took one
    // every 16 pages (fault-around), and a read at the tail of a log this
    // process writes one every page (the writer writes through pwritev or a
    // mapping of its own, and fault-around maps only pages already in the
    // page cache). Small steps for any batch, large ones ahead of large
    // batches (next_batch_window).
    db_->file_map().map_ahead(&mapped_, b.position, b.position + format::kBatchHeaderSize, kTailPopulateStep);
    if (Status st = checked_batch(b, &bytes, &h); !st.ok()) return damaged(st);
    const std::string_view window = next_batch_window(db_, snap, k, bytes, &mapped_);
    // Room for every record of the batch the poll may still take, so that
    // the loop below checks only that one bound.
    const size_t room = std::min<size_t>(max_records - count_, static_cast<size_t>(std::max(h.records_count, 0)));
    if (views_.size() < count_ + room) views_.resize(std::max(count_ + room, views_.size() * 2));
    RecordView* out = views_.data() + count_;
    RecordView* const out_end = out + room;
    // Hoisted out of the loop: members would be reloaded after each store.
    const int32_t partition = partition_;
    const int64_t from = next_offset_, visible_end = snap.next_offset;
    const TimestampType type = h.log_append_time() ? TimestampType::log_append_time : TimestampType::create_time;
    RecordView* const first = out;
    size_t ahead = 0;  // how far into the window prefetched
    format::RecordDecoder decoder(bytes, h, b.position);
    const bool ok = room > 0 && decoder.for_each([&](const format::DecodedRecord& r) {
      // As far into the next batch as this record ends into its own.
      const size_t record_end = static_cast<size_t>(r.headers_raw.data() + r.headers_raw.size() - bytes.data());
      for (; ahead < std::min(record_end, window.size()); ahead += 64) __builtin_prefetch(window.data() + ahead);
      if (r.offset < from) return true;
      if (r.offset >= visible_end) return false;
      *out++ = RecordView{.partition = partition,
                          .offset = r.offset,
                          .timestamp_ms = r.timestamp_ms,
                          .timestamp_type = type,
                          .key = r.key(),
                          .value = r.value(),
                          .headers = RecordHeaders(r.headers_raw, r.header_count)};
      return out != out_end;
    });
    count_ = static_cast<size_t>(out - views_.data());
    if (out != first) next_offset_ = out[-1].offset + 1;
    if (room > 0 && !ok) return damaged(named(decoder.status()));
    // Compaction leaves gaps, up to the batch's last offset: skip them, so
    // a compacted-away tail never looks like records still to come.
    const int64_t batch_end = h.last_offset() + 1;
    if (count_ < max_records && batch_end > next_offset_) next_offset_ = std::min(batch_end, snap.next_offset);
  }
  // In a whole batch list the batch holding (or after) next_offset_ always
  // yields a record or moves past its gap. One that does neither below the
  // partition's end is a list that lies (its end past its last batch, or
  // batches that overlap): report it, as wait_any calls the reader ready,
  // rather than hand out nothing forever.
  if (count_ == count_at_start && next_offset_ == start && next_offset_ < snap.next_offset) {
    const uint64_t position = snap.batches.empty() ? 0 : snap.batches.back().position;
    return {Code::corruption,
            fmt::format("{}: '{}' partition {} ends at offset {}, but its batch list holds no record from offset "
                        "{} on",
                        db_->path(), topic_, partition_, snap.next_offset, next_offset_),
            position};
  }
  return Status::OK();
}

bool ReaderImpl::ready_locked() const {
  const meta::TopicState* t = db_->catalog().by_id(topic_id_);
  if (!t || t->deleted) return true;  // poll reports it
  const meta::PartitionState& p = t->partitions[static_cast<size_t>(partition_)];
  return next_offset_ < p.first_offset || next_offset_ < p.visible_end;
}

ReaderImpl::~ReaderImpl() {
  // In a forked child the marks' mutex may be held for ever (Db::~Db).
  if (!db_->inherited()) db_->read_marks().clear(mark_);
}

uint32_t ReaderImpl::wake_channel() const { return DbImpl::wake_channel(topic_id_, partition_); }

// A poll that hands out nothing lets go of the buffers the last ones grew:
// a reader of each of many partitions (a consumer owning thousands) would
// otherwise keep room for its largest poll for ever, ~100 bytes a record,
// most of them idle. A follower that waits in poll() gets its records
// without coming back empty, and a small vector comes back cheaply.
std::span<const RecordView> ReaderImpl::nothing() {
  views_ = {};
  snap_.batches = {};
  return {};
}

Result<std::span<const RecordView>> ReaderImpl::poll(std::chrono::milliseconds timeout, size_t max_records) {
  // The views of the last poll are released: so is what they pinned.
  count_ = 0;
  if (max_records == 0) {
    db_->read_marks().clear(mark_);
    return nothing();
  }
  // A poll that does not wait reads no clock, and one at the end of its
  // partition whose channel saw no commit since does not look again: a
  // follower of many partitions polls each with timeout 0 after every
  // wake-up, most of them idle.
  const bool waits = timeout.count() > 0;
  const uint32_t channel = wake_channel();
  if (!waits && idle_epoch_ && db_->nothing_new_since(channel, *idle_epoch_)) return std::span<const RecordView>();
  idle_epoch_.reset();
  const auto until =
      waits ? deadline_after(std::chrono::steady_clock::now(), timeout) : std::chrono::steady_clock::time_point();
  for (;;) {
    // Read the epoch first: a commit after this point changes it, so the
    // wait below cannot miss one that refresh() did not see.
    uint32_t seen = db_->commit_epoch(channel);
    int64_t from = next_offset_;
    if (Status st = fill(max_records); !st.ok()) {
      // Nothing handed out, so nothing to pin: a reader of a deleted topic
      // would otherwise keep every later segment from reuse while it lives.
      db_->read_marks().clear(mark_);
      return st;
    }
    if (count_ > 0) return std::span<const RecordView>(views_.data(), count_);
    if (next_offset_ != from) continue;  // only skipped a gap: look further now
    db_->read_marks().clear(mark_);
    if (!waits || std::chrono::steady_clock::now() >= until) {
      if (db_->finish_orphaned_sync()) continue;
      idle_epoch_ = seen;
      return nothing();
    }
    db_->wait_for_commit({&channel, 1}, {&seen, 1}, until);
  }
}

Result<int64_t> ReaderImpl::offset_for_time(int64_t ms) {
  Result<int64_t> found = look_up_time(ms);
  db_->read_marks().clear(mark_);  // found or not, it hands out no records
  return found;
}

Result<int64_t> ReaderImpl::look_up_time(int64_t ms) {
  // The first batch whose running maximum reaches `ms` usually holds the
  // record; after compaction (or with timestamps out of order) a later one,
  // possibly past this snapshot: look on until the end. Records below the
  // earliest offset (delete_records inside a batch) are not there.
  ReaderSnapshot snap;
  RIVULET_TRY(pinned_snapshot(std::nullopt, ms, 64, &snap));
  int64_t found = snap.next_offset;
  for (bool hit = false; !hit;) {
    int64_t after = -1;
    for (const ReaderSpan& b : snap.batches) {
      std::string_view bytes;
      format::BatchHeader h;
      RIVULET_TRY(checked_batch(b, &bytes, &h));
      format::RecordDecoder decoder(bytes, h, b.position);
      if (!decoder.for_each([&](const format::DecodedRecord& r) {
            if (r.offset < snap.first_offset || r.timestamp_ms < ms) return true;
            found = r.offset;
            hit = true;
            return false;
          })) {
        return named(decoder.status());
      }
      if (hit) break;
      after = h.last_offset() + 1;
    }
    if (hit || snap.batches.size() < 64 || after < 0 || after >= snap.next_offset) break;
    RIVULET_TRY(pinned_snapshot(after, std::nullopt, 64, &snap));
    found = snap.next_offset;
  }
  return std::min(found, snap.next_offset);  // the batch may not be visible yet
}

Status ReaderImpl::seek(StartAt start) {
  // The partition as the file has it now, other handles' commits included
  // (and the handle's fork and closed checks).
  RIVULET_TRY(db_->refresh());
  count_ = 0;
  idle_epoch_.reset();
  db_->read_marks().clear(mark_);
  ReaderSnapshot snap;
  RIVULET_TRY(snapshot(db_, topic_id_, partition_, topic_, 0, std::nullopt, 0, &snap));
  switch (start.kind) {
    case StartAt::Kind::earliest:
      next_offset_ = snap.first_offset;
      return Status::OK();
    case StartAt::Kind::latest:
      next_offset_ = snap.next_offset;
      return Status::OK();
    case StartAt::Kind::offset:
      if (start.value < snap.first_offset || start.value > snap.next_offset) {
        return {Code::out_of_range,
                fmt::format("{}: offset {} is out of range for '{}' partition {} (offsets {} to {})", db_->path(),
                            start.value, topic_, partition_, snap.first_offset, snap.next_offset)};
      }
      next_offset_ = start.value;
      return Status::OK();
    case StartAt::Kind::timestamp: {
      Result<int64_t> o = offset_for_time(start.value);
      if (!o.ok()) return o.status();
      next_offset_ = *o;
      return Status::OK();
    }
  }
  return {Code::invalid_argument, "unknown start kind"};
}

}  // namespace rivulet
