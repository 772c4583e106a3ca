// The catalog's state as a checkpoint holds it (docs/FORMAT.md,
// "Checkpoints"): topics with their configs, every partition's offsets,
// byte counts and index, the committed offsets of every group, and the
// segment table. Numbers are zigzag varints (as in Kafka records); topic
// definitions and committed offsets reuse their record encodings, so there
// is one way to write each.
#include <fmt/format.h>

#include "format/offset_record.hpp"
#include "format/record_batch.hpp"
#include "index/batch_list.hpp"
#include "meta/catalog.hpp"
#include "util/varint.hpp"

namespace rivulet::meta {

namespace {

constexpr uint32_t kCheckpointMagic = 0x4b435652;  // "RVCK"
// 2 puts each partition's batch entries in a `bytes` field, so a reader can
// step over them and decode them when first used; 1 (read too) did not.
constexpr int64_t kCheckpointVersion = 2;

class Out {
 public:
  explicit Out(std::string* s) : s_(s) {}
  void num(int64_t v) {
    char buf[varint::kMax64];
    s_->append(buf, static_cast<size_t>(varint::put64(buf, v) - buf));
  }
  void bytes(std::string_view b) {
    num(static_cast<int64_t>(b.size()));
    s_->append(b);
  }
  // A partition's batch list, as bytes() would write its encoding.
  void batch_list(const index::EntryBlocks& entries) {
    num(static_cast<int64_t>(entries.encoded_list_size()));
    entries.encode_list(s_);
  }

 private:
  std::string* s_;
};

class In {
 public:
  In(std::string_view b, uint64_t position) : p_(b.data()), end_(b.data() + b.size()), position_(position) {}
  Status num(int64_t* v) {
    const char* next = varint::get64(p_, end_, v);
    if (!next) return bad("a number runs past its end");
    p_ = next;
    return Status::OK();
  }
  template <typename T>
  Status num(T* v, int64_t lo, int64_t hi) {
    int64_t x = 0;
    RIVULET_TRY(num(&x));
    if (x < lo || x > hi) return bad(fmt::format("value {} outside {}..{}", x, lo, hi));
    *v = static_cast<T>(x);
    return Status::OK();
  }
  Status bytes(std::string_view* b) {
    size_t n = 0;
    RIVULET_TRY(num(&n, 0, end_ - p_));
    *b = std::string_view(p_, n);
    p_ += n;
    return Status::OK();
  }
  // Version 1's batch entries, which only decoding them steps over.
  // `whose(why)` says whose list it is.
  template <typename Whose>
  Status batch_list(size_t count, int64_t next_offset, std::string_view* list, const Whose& whose) {
    const char* why = "";
    const char* next = index::decode_batch_list(p_, end_, count, next_offset, nullptr, &why);
    if (!next) return bad(whose(why));
    *list = std::string_view(p_, static_cast<size_t>(next - p_));
    p_ = next;
    return Status::OK();
  }
  bool done() const { return p_ == end_; }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  Status bad(const std::string& what) const {
    return {Code::corruption, fmt::format("checkpoint at position {} is damaged: {}", position_, what), position_};
  }

 private:
  const char* p_;
  const char* end_;
  uint64_t position_;
};

}  // namespace

Status Catalog::encode_checkpoint(std::string* state) const {
  state->clear();  // its capacity stays: the caller may have reserved it
  Out out(state);
  std::string list;
  out.num(kCheckpointMagic);
  out.num(kCheckpointVersion);
  out.num(next_id_);
  out.num(static_cast<int64_t>(topics_.size()));
  for (const auto& [id, t] : topics_) {
    if (id == format::kMetaTopicId) {
      out.bytes({});  // the metadata topic exists in every catalog
    } else {
      format::EncodedMeta m = format::encode_meta({format::MetaChange::Kind::topic_create, id, t->name, t->config});
      out.bytes(m.key);
      out.bytes(m.value);
    }
    out.num(t->deleted ? 1 : 0);
    for (const PartitionState& p : t->partitions) {
      out.num(p.first_offset);
      out.num(p.next_offset);
      out.num(static_cast<int64_t>(p.bytes));
      out.num(static_cast<int64_t>(p.dead_bytes));
      size_t count = 0;
      if (p.index.copy_encoded(&list, &count)) {
        out.num(static_cast<int64_t>(count));
        out.bytes(list);
        continue;
      }
      Status loaded = p.index.load();
      // A deleted topic's entries are never read again: a damaged list
      // of one must not fail every checkpoint from now on.
      if (!loaded.ok() && !t->deleted) return loaded;
      // Written in place: a partition's list can be most of the state.
      out.num(static_cast<int64_t>(p.index.size()));
      out.batch_list(p.index.entries());
    }
  }
  size_t committed = 0;
  for (const auto& [group, offsets] : offsets_.groups()) committed += offsets.size();
  out.num(static_cast<int64_t>(committed));
  for (const auto& [group, offsets] : offsets_.groups()) {
    for (const auto& [tp, c] : offsets) {
      out.bytes(format::encode_offset_key({group, tp.first, tp.second}));
      out.bytes(format::encode_offset_value({c.offset, c.metadata}));
      out.num(c.commit_ms);
    }
  }
  out.num(static_cast<int64_t>(segments_.size()));
  for (size_t i = 0; i < segments_.size(); ++i) {
    const SegmentState& s = segments_.at(i);
    out.num(static_cast<int64_t>(s.use));
    out.num(static_cast<int64_t>(s.seq));
    out.num(static_cast<int64_t>(s.live));
    out.num(static_cast<int64_t>(s.dead));
    out.num(static_cast<int64_t>(s.dead_shares.size()));
    for (const SegmentState::DeadShare& d : s.dead_shares) {
      out.num(d.topic_id);
      out.num(d.partition);
      out.num(static_cast<int64_t>(d.bytes));
    }
  }
  out.num(static_cast<int64_t>(appended_));
  out.num(static_cast<int64_t>(cleaned_at_));
  return Status::OK();
}

Status Catalog::decode_checkpoint(std::string_view state, std::shared_ptr<const void> owner, uint64_t position) {
  In in(state, position);
  int64_t magic = 0, version = 0;
  RIVULET_TRY(in.num(&magic));
  RIVULET_TRY(in.num(&version));
  if (magic != kCheckpointMagic) return in.bad("no checkpoint magic");
  if (version != 1 && version != kCheckpointVersion) {
    return in.bad(fmt::format("unknown checkpoint version {}", version));
  }
  Catalog c;
  c.segments_.set_segment_size(segments_.segment_size());
  uint32_t next_id = 0;
  size_t topic_count = 0;
  RIVULET_TRY(in.num(&next_id, 1, UINT32_MAX));
  RIVULET_TRY(in.num(&topic_count, 1, in.left()));
  for (size_t k = 0; k < topic_count; ++k) {
    std::string_view key, value;
    RIVULET_TRY(in.bytes(&key));
    TopicState* t = c.by_id(format::kMetaTopicId);
    if (!key.empty()) {
      RIVULET_TRY(in.bytes(&value));
      format::MetaChange change;
      RIVULET_TRY(format::decode_meta(Bytes(key), Bytes(value), position, &change));
      if (change.kind != format::MetaChange::Kind::topic_create || change.topic_id == format::kMetaTopicId) {
        return in.bad("a topic entry that does not define a topic");
      }
      RIVULET_TRY(c.apply_meta(change, position));
      t = c.by_id(change.topic_id);
    }
    int deleted = 0;
    RIVULET_TRY(in.num(&deleted, 0, 1));
    if (deleted) {
      t->deleted = true;
      c.live_.erase(t->name);
    }
    for (uint32_t i = 0; i < t->partitions.size(); ++i) {
      PartitionState& p = t->partitions[i];
      size_t entries = 0;
      RIVULET_TRY(in.num(&p.first_offset));
      RIVULET_TRY(in.num(&p.next_offset));
      // No writer gets past kOffsetLimit; past it, offset sums would overflow.
      if (p.first_offset < 0 || p.next_offset < p.first_offset || p.next_offset > format::kOffsetLimit) {
        return in.bad(fmt::format("topic '{}' partition {} has first offset {} and next offset {}, not within 0..{}",
                                  t->name, i, p.first_offset, p.next_offset, format::kOffsetLimit));
      }
      RIVULET_TRY(in.num(&p.bytes, 0, INT64_MAX));
      RIVULET_TRY(in.num(&p.dead_bytes, 0, INT64_MAX));
      RIVULET_TRY(in.num(&entries, 0, in.left() / 4));
      std::string_view list;
      // Formatted only for an error: opening does little per partition.
      auto whose = [&](std::string_view why) {
        return fmt::format("the batch list of topic '{}' partition {}: {}", t->name, i, why);
      };
      if (version == 1) {
        RIVULET_TRY(in.batch_list(entries, p.next_offset, &list, whose));
      } else {
        RIVULET_TRY(in.bytes(&list));
        if (list.size() < entries * 4) return in.bad(whose("shorter than its entries"));
      }
      p.index.restore({owner, list, entries, p.next_offset, position, t->name, i});
      p.visible_end = p.next_offset;  // a checkpoint holds only what was committed before it
    }
  }
  c.next_id_ = std::max(c.next_id_, next_id);
  size_t committed = 0;
  RIVULET_TRY(in.num(&committed, 0, in.left()));
  for (size_t k = 0; k < committed; ++k) {
    std::string_view key, value;
    int64_t commit_ms = 0;
    RIVULET_TRY(in.bytes(&key));
    RIVULET_TRY(in.bytes(&value));
    RIVULET_TRY(in.num(&commit_ms));
    format::OffsetKey ok;
    std::optional<format::OffsetValue> ov;
    RIVULET_TRY(format::decode_offset_record(Bytes(key), Bytes(value), position, &ok, &ov));
    if (!ov) return in.bad("a committed offset without a value");
    c.offsets_.apply(ok, ov, commit_ms);
  }
  size_t segment_count = 0;
  RIVULET_TRY(in.num(&segment_count, 0, in.left()));
  std::vector<SegmentState> segments(segment_count);
  for (SegmentState& s : segments) {
    size_t shares = 0;
    RIVULET_TRY(in.num(&s.use, 0, 2));
    RIVULET_TRY(in.num(&s.seq, 0, INT64_MAX));
    RIVULET_TRY(in.num(&s.live, 0, INT64_MAX));
    RIVULET_TRY(in.num(&s.dead, 0, INT64_MAX));
    RIVULET_TRY(in.num(&shares, 0, in.left() / 3));
    s.dead_shares.resize(shares);
    for (SegmentState::DeadShare& d : s.dead_shares) {
      RIVULET_TRY(in.num(&d.topic_id, 0, UINT32_MAX));
      RIVULET_TRY(in.num(&d.partition, 0, UINT32_MAX));
      RIVULET_TRY(in.num(&d.bytes, 0, INT64_MAX));
    }
  }
  c.segments_.restore(std::move(segments));
  RIVULET_TRY(in.num(&c.appended_, 0, INT64_MAX));
  RIVULET_TRY(in.num(&c.cleaned_at_, 0, static_cast<int64_t>(c.appended_)));
  if (!in.done()) return in.bad("bytes after its end");
  topics_ = std::move(c.topics_);
  live_ = std::move(c.live_);
  next_id_ = c.next_id_;
  offsets_topic_id_ = c.offsets_topic_id_;
  offsets_ = std::move(c.offsets_);
  segments_ = std::move(c.segments_);
  appended_ = c.appended_;
  cleaned_at_ = c.cleaned_at_;
  return Status::OK();
}

}  // namespace rivulet::meta
