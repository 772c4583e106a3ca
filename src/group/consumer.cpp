// rivulet::Consumer: a group member that reads the partitions the round-
// robin assignor gives it, owning each through its partition lock.
//
// Rebalancing is incremental and needs no leader: at each look a member
// recomputes the assignment from the live members and topics, gives up what
// is no longer its own (revoked callback, auto-commit, unlock) and takes
// what is (lock, committed offset, assigned callback). A partition whose
// lock another member still holds is retried every kRetry until that member
// lets it go at its next poll.
//
// A member looks when the member table's epoch moved (a join or a leave,
// which also wakes every waiting poll), and otherwise on a timer, which is
// how a death is noticed: kLook after the last look while records come,
// backing off to kIdleLook while they do not, so an idle member wakes 20
// times a second instead of 100.
#include "rivulet/consumer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "coord/group_area.hpp"
#include "coord/group_membership.hpp"
#include "db/db_impl.hpp"
#include "db/reader_impl.hpp"
#include "group/assignor.hpp"
#include "group/group_name.hpp"
#include "meta/catalog.hpp"
#include "util/clock.hpp"

namespace rivulet {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kLook{10};
// A death in an idle file is noticed within kIdleLook: issue 4 asks for a
// survivor reading a dead member's partitions within 100 ms.
constexpr std::chrono::milliseconds kIdleLook{50};
constexpr std::chrono::milliseconds kRetry{2};

std::string name_of(const TopicPartition& tp) { return fmt::format("{}[{}]", tp.topic, tp.partition); }

}  // namespace

class ConsumerImpl {
 public:
  ConsumerImpl(Db& db, DbImpl& impl, ConsumerOptions options) : db_(db), impl_(impl), options_(std::move(options)) {}

  Status subscribe(std::span<const std::string> topics);
  Status unsubscribe();
  Result<std::span<const ConsumerRecord>> poll(std::chrono::milliseconds timeout);
  Status commit();
  Status commit(std::span<const OffsetCommit> offsets);
  Status add_offsets_to(WriteBatch& batch);
  std::vector<TopicPartition> assignment() const;
  std::vector<TopicPartition> awaiting() const { return awaiting_; }
  Result<int64_t> position(const TopicPartition& tp) const;
  Status seek(const TopicPartition& tp, StartAt start);
  Result<std::optional<CommittedOffset>> committed(const TopicPartition& tp);
  Status set_paused(std::span<const TopicPartition> partitions, bool paused);
  Status close();
  const std::string& group() const { return options_.group; }

 private:
  struct Owned {
    TopicPartition tp;
    uint32_t topic_id = 0;
    std::unique_ptr<ReaderImpl> reader;
    bool paused = false;
  };

  Status check_open() const;
  // subscribe, unsubscribe, poll and close change what the consumer owns:
  // from inside on_assigned/on_revoked they would do it again under the
  // move being announced.
  Status check_not_in_callback(std::string_view call) const;
  // Runs a callback with in_callback_ set.
  void announce(const std::function<void(std::span<const TopicPartition>)>& callback,
                std::span<const TopicPartition> partitions);
  Status rebalance(bool force);
  // Records came: the next look is due kLook after the last.
  void note_activity();
  Status take(const TopicPartition& tp, uint32_t topic_id, std::vector<TopicPartition>* taken);
  // Revokes the partitions for which `drop` says so (all with null).
  Status revoke(const std::function<bool(const Owned&)>& drop);
  // The positions of the partitions `which` selects, but for a topic
  // deleted (or deleted and created again) since its partition was taken;
  // with `only_moved`, only those the group has not committed already.
  Result<std::vector<OffsetCommit>> positions(const std::function<bool(const Owned&)>& which, bool only_moved);
  // Auto-commit passes only_moved, so an idle member writes nothing.
  Status commit_positions(const std::function<bool(const Owned&)>& which, bool only_moved);
  // The position of `o` is gone (`why`): seek as auto_offset_reset says, or
  // fail under none.
  Status reset_position(Owned& o, const Status& why);
  Owned* find(const TopicPartition& tp);
  const Owned* find(const TopicPartition& tp) const;

  Db& db_;
  DbImpl& impl_;
  ConsumerOptions options_;
  std::unique_ptr<coord::GroupMembership> member_;
  std::vector<Owned> owned_;  // sorted by topic and partition
  std::vector<ConsumerRecord> records_;
  uint32_t seen_epoch_ = 0;
  // Partitions of ours whose lock another member still holds, as of the
  // last look: retried every kRetry.
  std::vector<TopicPartition> awaiting_;
  Clock::time_point next_look_{};
  Clock::time_point last_look_{};
  // Between looks that change nothing: kLook, doubling up to kIdleLook.
  std::chrono::milliseconds look_interval_ = kLook;
  Clock::time_point next_auto_commit_{};
  size_t first_ = 0;  // where the next poll starts, so every partition gets its turn
  bool closed_ = false;
  bool in_callback_ = false;
};

Status ConsumerImpl::check_open() const {
  if (closed_) return {Code::invalid_argument, fmt::format("consumer of group '{}' is closed", options_.group)};
  return Status::OK();
}

Status ConsumerImpl::check_not_in_callback(std::string_view call) const {
  if (!in_callback_) return Status::OK();
  return {Code::invalid_argument,
          fmt::format("consumer of group '{}': {} cannot be called from on_assigned or on_revoked", options_.group, call)};
}

void ConsumerImpl::announce(const std::function<void(std::span<const TopicPartition>)>& callback,
                            std::span<const TopicPartition> partitions) {
  if (!callback || partitions.empty()) return;
  in_callback_ = true;
  struct Reset {
    bool* flag;
    ~Reset() { *flag = false; }
  } reset{&in_callback_};
  callback(partitions);
}

Status ConsumerImpl::subscribe(std::span<const std::string> topics) {
  RIVULET_TRY(check_open());
  RIVULET_TRY(check_not_in_callback("subscribe"));
  std::vector<uint64_t> hashes;
  for (const std::string& t : topics) {
    RIVULET_TRY(meta::Catalog::validate_name(t));
    if (meta::Catalog::is_internal(t)) {
      return {Code::invalid_argument, fmt::format("topic '{}' is internal to Rivulet", t)};
    }
    uint64_t h = coord::topic_hash(t.data(), t.size());
    if (std::find(hashes.begin(), hashes.end(), h) == hashes.end()) hashes.push_back(h);
  }
  if (hashes.empty()) return {Code::invalid_argument, "subscribe needs at least one topic (or call unsubscribe)"};
  if (hashes.size() > coord::kMaxSubscribedTopics) {
    return {Code::invalid_argument, fmt::format("a member may subscribe to at most {} topics, not {}",
                                                coord::kMaxSubscribedTopics, hashes.size())};
  }
  RIVULET_TRY(unsubscribe());
  Result<std::unique_ptr<coord::GroupMembership>> joined =
      coord::GroupMembership::join(*impl_.shared(), options_.group, hashes);
  if (!joined.ok()) return joined.status();
  member_ = std::move(joined).value();
  next_auto_commit_ = deadline_after(Clock::now(), options_.auto_commit_interval);
  Status st = rebalance(true);
  if (!st.ok()) {
    // Give back what the look took and leave: a member that stays would be
    // assigned partitions that nobody polls.
    unsubscribe().ignore();
  }
  return st;
}

Status ConsumerImpl::unsubscribe() {
  RIVULET_TRY(check_open());
  RIVULET_TRY(check_not_in_callback("unsubscribe"));
  if (!member_) return Status::OK();
  Status st = revoke(nullptr);
  awaiting_.clear();
  member_.reset();  // leaves
  return st;
}

ConsumerImpl::Owned* ConsumerImpl::find(const TopicPartition& tp) {
  auto it = std::lower_bound(owned_.begin(), owned_.end(), tp, [](const Owned& o, const TopicPartition& t) { return o.tp < t; });
  return it != owned_.end() && it->tp == tp ? &*it : nullptr;
}

const ConsumerImpl::Owned* ConsumerImpl::find(const TopicPartition& tp) const {
  return const_cast<ConsumerImpl*>(this)->find(tp);
}

Status ConsumerImpl::rebalance(bool force) {
  Clock::time_point now = Clock::now();
  uint32_t epoch = member_->epoch();
  if (!force && epoch == seen_epoch_ && now < next_look_) return Status::OK();
  // The epoch these members are: clearing dead ones moved it, and a join
  // after the look must still count as unseen.
  const uint32_t epoch_before = seen_epoch_;
  Result<std::vector<coord::LiveMember>> members = member_->members(&seen_epoch_);
  if (!members.ok()) return members.status();
  Result<std::vector<TopicInfo>> topics = db_.list_topics();
  if (!topics.ok()) return topics.status();

  std::vector<group::AssignTopic> assign = group::assign_topics(*topics);
  std::vector<group::AssignMember> inputs;
  size_t me = 0;
  for (const coord::LiveMember& m : *members) {
    if (m.index == member_->index()) me = inputs.size();
    inputs.push_back({m.join_seq, m.topics});
  }
  std::vector<std::vector<group::AssignedPartition>> all = group::assign_round_robin(assign, inputs);
  struct Target {
    TopicPartition tp;
    uint32_t topic_id;
  };
  std::vector<Target> target;
  for (const group::AssignedPartition& a : all[me]) target.push_back({{assign[a.topic].name, a.partition}, assign[a.topic].id});
  std::sort(target.begin(), target.end(), [](const Target& a, const Target& b) { return a.tp < b.tp; });

  // Give up first, so that members waiting for our partitions get them
  // (a topic deleted and created again under its name is a new partition).
  const size_t owned_before = owned_.size();
  RIVULET_TRY(revoke([&](const Owned& o) {
    auto it = std::lower_bound(target.begin(), target.end(), o.tp, [](const Target& t, const TopicPartition& tp) { return t.tp < tp; });
    return it == target.end() || it->tp != o.tp || it->topic_id != o.topic_id;
  }));
  std::vector<TopicPartition> taken;
  awaiting_.clear();
  Status st;
  for (const Target& t : target) {
    if (find(t.tp)) continue;
    st = take(t.tp, t.topic_id, &taken);
    if (!st.ok()) break;
  }
  announce(options_.on_assigned, taken);
  const bool changed = seen_epoch_ != epoch_before || owned_.size() != owned_before || !taken.empty() ||
                       !awaiting_.empty() || !st.ok();
  look_interval_ = changed ? kLook : std::min<std::chrono::milliseconds>(look_interval_ * 2, kIdleLook);
  last_look_ = now;
  next_look_ = now + (awaiting_.empty() ? look_interval_ : std::chrono::milliseconds(kRetry));
  return st;
}

void ConsumerImpl::note_activity() {
  look_interval_ = kLook;
  next_look_ = std::min(next_look_, last_look_ + kLook);
}

Status ConsumerImpl::take(const TopicPartition& tp, uint32_t topic_id, std::vector<TopicPartition>* taken) {
  Result<bool> owned = member_->try_own(topic_id, tp.partition);
  if (!owned.ok()) return owned.status();
  if (!*owned) {
    awaiting_.push_back(tp);
    return Status::OK();
  }
  // The lock is ours, so whoever read the partition before has committed
  // what it will: start from there.
  Result<std::optional<CommittedOffset>> c = db_.committed(options_.group, tp.topic, tp.partition);
  StartAt start = options_.auto_offset_reset == OffsetReset::earliest ? StartAt::earliest() : StartAt::latest();
  if (!c.ok()) {
    member_->disown(topic_id, tp.partition);
    return c.status();
  }
  if (*c) {
    start = StartAt::offset((*c)->offset);
  } else if (options_.auto_offset_reset == OffsetReset::none) {
    member_->disown(topic_id, tp.partition);
    return {Code::not_found, fmt::format("group '{}' has no committed offset for {} and auto_offset_reset is none",
                                         options_.group, name_of(tp))};
  }
  Result<std::unique_ptr<ReaderImpl>> reader = impl_.reader(tp.topic, tp.partition, start);
  if (!reader.ok() && *c && reader.status().code() == Code::out_of_range) {
    // The committed offset is gone (retention) or beyond the end: as Kafka
    // does, fall back to the reset policy, which none forbids.
    if (options_.auto_offset_reset == OffsetReset::none) {
      member_->disown(topic_id, tp.partition);
      return {Code::out_of_range,
              fmt::format("group '{}' committed offset {} for {}, which is out of range ({}), and auto_offset_reset "
                          "is none",
                          options_.group, (*c)->offset, name_of(tp), reader.status().message())};
    }
    reader = impl_.reader(tp.topic, tp.partition,
                          options_.auto_offset_reset == OffsetReset::earliest ? StartAt::earliest() : StartAt::latest());
  }
  if (!reader.ok()) {
    member_->disown(topic_id, tp.partition);
    return reader.status();
  }
  Owned o;
  o.tp = tp;
  o.topic_id = topic_id;
  o.reader = std::move(reader).value();
  owned_.insert(std::lower_bound(owned_.begin(), owned_.end(), tp,
                                 [](const Owned& a, const TopicPartition& t) { return a.tp < t; }),
                std::move(o));
  taken->push_back(tp);
  return Status::OK();
}

Status ConsumerImpl::revoke(const std::function<bool(const Owned&)>& drop) {
  std::vector<TopicPartition> revoked;
  for (const Owned& o : owned_) {
    if (!drop || drop(o)) revoked.push_back(o.tp);
  }
  if (revoked.empty()) return Status::OK();
  announce(options_.on_revoked, revoked);
  Status st;
  if (options_.enable_auto_commit) st = commit_positions([&](const Owned& o) { return !drop || drop(o); }, true);
  // Records handed out earlier point into readers about to go.
  records_.clear();
  std::erase_if(owned_, [&](Owned& o) {
    if (drop && !drop(o)) return false;
    o.reader.reset();
    member_->disown(o.topic_id, o.tp.partition);
    return true;
  });
  first_ = 0;
  return st;
}

Result<std::vector<OffsetCommit>> ConsumerImpl::positions(const std::function<bool(const Owned&)>& which,
                                                          bool only_moved) {
  std::vector<OffsetCommit> offsets;
  std::optional<std::vector<TopicInfo>> topics;  // listed once, if anything is to be committed
  for (const Owned& o : owned_) {
    if (!which(o)) continue;
    int64_t pos = o.reader->position();
    if (only_moved) {
      // What the group has committed, not what this consumer last did:
      // add_offsets_to and Db::commit_offsets move it too.
      Result<std::optional<CommittedOffset>> c = db_.committed(options_.group, o.tp.topic, o.tp.partition);
      if (!c.ok()) return c.status();
      if (*c && (*c)->offset == pos) continue;
    }
    if (!topics) {
      Result<std::vector<TopicInfo>> listed = db_.list_topics();
      if (!listed.ok()) return listed.status();
      topics = std::move(listed).value();
    }
    // A topic deleted (or deleted and created again) since the partition was
    // taken has nothing left to commit: the commit would fail (for good:
    // the next look, which gives the partition up, comes after it) or put
    // the old topic's position on the new one.
    if (std::none_of(topics->begin(), topics->end(),
                     [&](const TopicInfo& t) { return t.name == o.tp.topic && t.id == o.topic_id; })) {
      continue;
    }
    offsets.push_back({o.tp.topic, o.tp.partition, pos, {}});
  }
  return offsets;
}

Status ConsumerImpl::commit_positions(const std::function<bool(const Owned&)>& which, bool only_moved) {
  Result<std::vector<OffsetCommit>> offsets = positions(which, only_moved);
  if (!offsets.ok()) return offsets.status();
  if (offsets->empty()) return Status::OK();
  return db_.commit_offsets(options_.group, *offsets);
}

Result<std::span<const ConsumerRecord>> ConsumerImpl::poll(std::chrono::milliseconds timeout) {
  RIVULET_TRY(check_open());
  RIVULET_TRY(check_not_in_callback("poll"));
  if (!member_) return Status(Code::invalid_argument, "poll before subscribe");
  records_.clear();
  // The last poll's records are released: so must be the segments a paused
  // partition's reader pinned for them (a poll for no records does that),
  // or a pause would hold space reclaiming back for as long as it lasts.
  for (Owned& o : owned_) {
    if (o.paused) RIVULET_TRY(o.reader->poll(std::chrono::milliseconds(0), 0).status());
  }
  Clock::time_point until = deadline_after(Clock::now(), timeout);
  bool looked_again = false;
  for (;;) {
    if (options_.enable_auto_commit && Clock::now() >= next_auto_commit_) {
      RIVULET_TRY(commit_positions([](const Owned&) { return true; }, true));
      next_auto_commit_ = deadline_after(Clock::now(), options_.auto_commit_interval);
    }
    RIVULET_TRY(rebalance(false));
    std::vector<ReaderImpl*> waiting;
    Status failed;  // the first partition's error, returned if no other has records
    for (size_t k = 0; k < owned_.size() && records_.size() < options_.max_poll_records; ++k) {
      Owned& o = owned_[(first_ + k) % owned_.size()];
      if (o.paused) continue;
      Result<std::span<const RecordView>> got =
          o.reader->poll(std::chrono::milliseconds(0), options_.max_poll_records - records_.size());
      if (!got.ok() && got.status().code() == Code::out_of_range) {
        // Retention or delete_records passed the position: as Kafka does,
        // apply auto_offset_reset, which none forbids.
        Status reset = reset_position(o, got.status());
        got = reset.ok() ? o.reader->poll(std::chrono::milliseconds(0), options_.max_poll_records - records_.size())
                         : Result<std::span<const RecordView>>(reset);
      }
      if (!got.ok()) {
        // An error here (damage, say): hand out the other partitions'
        // records first (their readers have moved past them); a poll that
        // has none reports it, as Reader::poll does within a partition.
        if (failed.ok()) failed = got.status();
        continue;
      }
      for (const RecordView& r : *got) {
        ConsumerRecord c;
        static_cast<RecordView&>(c) = r;
        c.topic = o.tp.topic;
        records_.push_back(c);
      }
      waiting.push_back(o.reader.get());
    }
    if (!owned_.empty()) first_ = (first_ + 1) % owned_.size();
    if (!records_.empty()) {
      note_activity();
      return std::span<const ConsumerRecord>(records_);
    }
    if (!failed.ok()) {
      // not_found: a topic deleted since the last look, which gives its
      // partitions up; look now rather than fail until the next one.
      if (failed.code() != Code::not_found || looked_again) return failed;
      looked_again = true;
      RIVULET_TRY(rebalance(true));
      continue;
    }
    Clock::time_point now = Clock::now();
    if (now >= until) return std::span<const ConsumerRecord>();
    // Wake for a commit to any partition of ours (its records then count as
    // activity), and in time for the next look at the group.
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(std::min(until, std::max(next_look_, now)) - now);
    Result<int> ready = impl_.wait_any(waiting, std::max(wait, std::chrono::milliseconds(1)));
    if (!ready.ok()) return ready.status();
  }
}

Status ConsumerImpl::reset_position(Owned& o, const Status& why) {
  if (options_.auto_offset_reset == OffsetReset::none) {
    return {Code::out_of_range,
            fmt::format("group '{}': position {} of {} is no longer in the partition ({}), and auto_offset_reset is "
                        "none",
                        options_.group, o.reader->position(), name_of(o.tp), why.message())};
  }
  return o.reader->seek(options_.auto_offset_reset == OffsetReset::earliest ? StartAt::earliest() : StartAt::latest());
}

Status ConsumerImpl::commit() {
  RIVULET_TRY(check_open());
  return commit_positions([](const Owned&) { return true; }, false);
}

Status ConsumerImpl::commit(std::span<const OffsetCommit> offsets) {
  RIVULET_TRY(check_open());
  return db_.commit_offsets(options_.group, offsets);
}

Status ConsumerImpl::add_offsets_to(WriteBatch& batch) {
  RIVULET_TRY(check_open());
  Result<std::vector<OffsetCommit>> offsets = positions([](const Owned&) { return true; }, false);
  if (!offsets.ok()) return offsets.status();
  for (const OffsetCommit& c : *offsets) RIVULET_TRY(batch.add_offset(options_.group, c));
  return Status::OK();
}

std::vector<TopicPartition> ConsumerImpl::assignment() const {
  std::vector<TopicPartition> out;
  for (const Owned& o : owned_) out.push_back(o.tp);
  return out;
}

Result<int64_t> ConsumerImpl::position(const TopicPartition& tp) const {
  const Owned* o = find(tp);
  if (!o) return Status(Code::invalid_argument, fmt::format("{} is not assigned to this consumer", name_of(tp)));
  return o->reader->position();
}

Status ConsumerImpl::seek(const TopicPartition& tp, StartAt start) {
  RIVULET_TRY(check_open());
  Owned* o = find(tp);
  if (!o) return {Code::invalid_argument, fmt::format("{} is not assigned to this consumer", name_of(tp))};
  return o->reader->seek(start);
}

Result<std::optional<CommittedOffset>> ConsumerImpl::committed(const TopicPartition& tp) {
  RIVULET_TRY(check_open());
  return db_.committed(options_.group, tp.topic, tp.partition);
}

Status ConsumerImpl::set_paused(std::span<const TopicPartition> partitions, bool paused) {
  RIVULET_TRY(check_open());
  for (const TopicPartition& tp : partitions) {
    if (!find(tp)) return {Code::invalid_argument, fmt::format("{} is not assigned to this consumer", name_of(tp))};
  }
  for (const TopicPartition& tp : partitions) find(tp)->paused = paused;
  return Status::OK();
}

Status ConsumerImpl::close() {
  if (closed_) return Status::OK();
  RIVULET_TRY(check_not_in_callback("close"));
  Status st = unsubscribe();
  closed_ = true;
  return st;
}

// ---- the public handle ----

Consumer::Consumer(std::unique_ptr<ConsumerImpl> impl) : impl_(std::move(impl)) {}
Consumer::~Consumer() {
  if (impl_) impl_->close().ignore();
}

Result<std::unique_ptr<Consumer>> Consumer::create(Db& db, ConsumerOptions options) {
  RIVULET_TRY(with_path(db.impl_->path(), group::check_group_name(options.group)));
  if (options.max_poll_records == 0) return Status(Code::invalid_argument, "max_poll_records must be at least 1");
  RIVULET_TRY(db.impl_->refresh());  // a closed, failed or inherited handle says so
  if (!db.impl_->shared()) {
    return Status(Code::read_only, fmt::format("{}: a consumer needs a handle that can write the shared area beside "
                                               "the file (open it without read_only)",
                                               db.impl_->path()));
  }
  return std::unique_ptr<Consumer>(new Consumer(std::make_unique<ConsumerImpl>(db, *db.impl_, std::move(options))));
}

Status Consumer::subscribe(std::span<const std::string> topics) { return impl_->subscribe(topics); }
Status Consumer::unsubscribe() { return impl_->unsubscribe(); }
Result<std::span<const ConsumerRecord>> Consumer::poll(std::chrono::milliseconds timeout) { return impl_->poll(timeout); }
Status Consumer::commit() { return impl_->commit(); }
Status Consumer::commit(std::span<const OffsetCommit> offsets) { return impl_->commit(offsets); }
Status Consumer::add_offsets_to(WriteBatch& batch) { return impl_->add_offsets_to(batch); }
std::vector<TopicPartition> Consumer::assignment() const { return impl_->assignment(); }
std::vector<TopicPartition> Consumer::awaiting() const { return impl_->awaiting(); }
Result<int64_t> Consumer::position(const TopicPartition& tp) const { return impl_->position(tp); }
Status Consumer::seek(const TopicPartition& tp, StartAt start) { return impl_->seek(tp, start); }
Result<std::optional<CommittedOffset>> Consumer::committed(const TopicPartition& tp) { return impl_->committed(tp); }
Status Consumer::pause(std::span<const TopicPartition> partitions) { return impl_->set_paused(partitions, true); }
Status Consumer::resume(std::span<const TopicPartition> partitions) { return impl_->set_paused(partitions, false); }
Status Consumer::close() { return impl_->close(); }
const std::string& Consumer::group() const { return impl_->group(); }

}  // namespace rivulet
