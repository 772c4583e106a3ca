// A consumer in a group, in the style of a Kafka client: subscribe, poll,
// commit. The members of a group (threads or processes) share the
// partitions of the topics they subscribe to; each partition is read by
// exactly one live member at a time. When a member joins, leaves or dies
// (SIGKILL included), the partitions move to the live members: the OS tells
// survivors of a death at once (a lock the member's process held is gone),
// so there are no heartbeats or session timeouts to tune.
//
// Thread safety: a Consumer belongs to one thread at a time. Make one per
// thread to consume in parallel; they coordinate as members of the group.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rivulet/db.hpp"

namespace rivulet {

class ConsumerImpl;

// Where a partition starts when the group has no committed offset for it,
// or one no longer in the partition (retention, delete_records), and where
// a member goes on when retention or delete_records passes its position:
// Kafka's auto.offset.reset.
enum class OffsetReset {
  earliest,
  latest,
  // subscribe() or poll() fails: not_found without an offset, out_of_range
  // for a gone one (a gone position fails every poll until a seek()).
  none,
};

struct ConsumerOptions {
  // Required: the group this consumer is a member of; 1 to 248 bytes of
  // UTF-8 without control characters.
  std::string group;
  OffsetReset auto_offset_reset = OffsetReset::latest;  // Kafka's default
  // At-least-once without thinking about it: poll() commits the positions
  // of the records the previous poll() returned (so processed) once this
  // interval has passed, and so do a revocation and close().
  bool enable_auto_commit = true;
  std::chrono::milliseconds auto_commit_interval{5000};
  size_t max_poll_records = 500;
  // Called from poll() (and close()) on the consumer's thread when
  // partitions move. Revoked runs before the partitions are released, with
  // the positions still committable; the consumer never returns records of
  // a partition after its revocation. With several members joining at once,
  // assigned may run more than once per move, each time with the partitions
  // just taken. A callback may commit, seek, pause and look at positions;
  // subscribe, unsubscribe, poll and close fail (invalid_argument) from it.
  std::function<void(std::span<const TopicPartition>)> on_assigned;
  std::function<void(std::span<const TopicPartition>)> on_revoked;
};

// A record with the topic it came from. The views are valid until the next
// poll() (or seek(), unsubscribe(), close()) of the consumer that returned it.
struct ConsumerRecord : RecordView {
  std::string_view topic;
};

class Consumer {
 public:
  // A consumer of `db` (which must outlive it). Fails for a bad group name
  // (ConsumerOptions::group) or a handle without the shared area (a member
  // has to write it). A read-only handle that has the shared area can be
  // a member and read, but its commits (and auto-commits) fail with
  // read_only.
  static Result<std::unique_ptr<Consumer>> create(Db& db, ConsumerOptions options);
  ~Consumer();  // close(), errors lost

  // Joins the group subscribed to `topics` (replacing an earlier
  // subscription), at most 28 of them. Topics that do not exist yet are
  // picked up once created. Partitions are assigned during poll(), and the
  // first time here. A bad or internal topic name, or too many topics,
  // fails before anything changes; a
  // failure after that (the earlier subscription's auto-commit, no free
  // entry in the shared member table, or taking a partition: none without
  // a committed offset, say) leaves the consumer unsubscribed, holding no
  // partition (on_revoked runs for any on_assigned announced): subscribe
  // again.
  Status subscribe(std::span<const std::string> topics);
  Status subscribe(std::initializer_list<std::string> topics) {
    return subscribe(std::span<const std::string>(topics.begin(), topics.size()));
  }
  // Leaves the group (revoking, and auto-committing, everything).
  Status unsubscribe();

  // Records from the assigned, unpaused partitions: whatever is there, at
  // most max_poll_records, or waits up to `timeout` for some. Rebalances
  // happen here. Empty if nothing came. A position that retention or
  // delete_records passed moves as auto_offset_reset says (none: the poll
  // fails with out_of_range naming it). An error reading one partition
  // (damaged bytes are a corruption error, as in Reader::poll) is returned
  // by a poll that has no records of other partitions to hand out; that
  // partition's position stays before the damage.
  Result<std::span<const ConsumerRecord>> poll(std::chrono::milliseconds timeout);

  // Commits the positions of all assigned partitions (synchronously, in one
  // atomic commit), whatever the group committed before. Offsets committed
  // are the next ones to read. A partition whose topic was deleted (or
  // deleted and created again under its name) since it was assigned is left
  // out: offsets are keyed by name, and the old topic's position would land
  // on the new one. Auto-commit does the same, but skips positions the group
  // has committed already.
  Status commit();
  // Commits `offsets` as given, by topic name.
  Status commit(std::span<const OffsetCommit> offsets);
  // Adds the positions of all assigned partitions to `batch` as the group's
  // offsets: records produced from what poll() returned and the offsets of
  // the input then commit atomically, so each input is processed exactly
  // once even across crashes (Kafka's sendOffsetsToTransaction). Leaves
  // out a partition of a deleted topic as commit() does.
  Status add_offsets_to(WriteBatch& batch);

  std::vector<TopicPartition> assignment() const;
  // Partitions the group gives this consumer that another member still
  // holds: that member lets them go at its next poll(), and a poll() here
  // then takes them (and they move to assignment()). Empty once the
  // consumer has its whole share. A caller that drains its share and stops
  // at the first empty poll() would miss these; `consume --group` without
  // --follow waits for them.
  std::vector<TopicPartition> awaiting() const;
  // Next offset poll() returns for an assigned partition.
  Result<int64_t> position(const TopicPartition& tp) const;
  Status seek(const TopicPartition& tp, StartAt start);
  Result<std::optional<CommittedOffset>> committed(const TopicPartition& tp);
  // Paused partitions stay assigned but poll() returns nothing from them.
  Status pause(std::span<const TopicPartition> partitions);
  Status resume(std::span<const TopicPartition> partitions);

  // Revokes everything (auto-committing) and leaves the group.
  Status close();

  const std::string& group() const;

 private:
  explicit Consumer(std::unique_ptr<ConsumerImpl> impl);
  std::unique_ptr<ConsumerImpl> impl_;
};

}  // namespace rivulet
