// The shared coordination area: attach, slots, the writer lock, group
// commit and commit wake-ups.
#include "coord/shared_state.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <thread>

#include <fmt/format.h>

#include "coord/futex.hpp"
#include "io/locks.hpp"
#include "util/clock.hpp"

namespace rivulet::coord {

namespace {

constexpr uint64_t kMagic = 0x01004D48534C5652;  // "RVLSHM\0\1"
// 2: consumer group members; 3: reclaim epoch, read marks by segment;
// 4: written seq beside committed seq and the commit epoch; 5: partition
// wake channels; 6: waits on them counted per slot too.
constexpr uint32_t kVersion = 6;
constexpr uint32_t kSlots = 1024;
// Lock words hold the holder's token: slot + 1 in the low 16 bits, the
// slot's generation (15 bits) above, and kContended when someone sleeps on
// the word.
constexpr uint32_t kGenerationMask = 0x7FFF;
constexpr uint32_t kContended = 1u << 31;
constexpr int kAttachAttempts = 1000;
constexpr std::chrono::microseconds kWriterSpin{20};

static_assert(std::atomic<uint64_t>::is_always_lock_free);

// The header fields (magic to slots used) are in the first page of every
// version's area, which is always larger.
constexpr uint64_t kHeaderPage = 4096;

Status other_version(const std::string& path) {
  return Status(Code::unsupported, fmt::format("{}: made by another version of Rivulet that still has the log open "
                                               "(close it there first)",
                                               path));
}

using Clock = std::chrono::steady_clock;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

struct alignas(64) Slot {
  std::atomic<uint32_t> generation;  // bumped by each handle that claims the slot
  std::atomic<uint32_t> pid;         // for people looking at the file; never trusted
  std::atomic<uint32_t> commit_waiting;
  std::atomic<uint32_t> sync_waiting;
  std::atomic<uint64_t> read_mark;
  std::atomic<uint32_t> writing;
};

// Zero bytes are a valid (empty) state for every field: a fresh area is a
// truncated file. Each group of fields that changes together has its own
// cache line.
struct Layout {
  alignas(64) uint64_t magic;
  uint32_t version;
  uint32_t slot_count;
  uint64_t log_device;
  uint64_t log_inode;
  uint64_t log_salt;
  std::atomic<uint32_t> ready;      // 1 once the head is published
  std::atomic<uint32_t> slots_used;  // slots below this may be live
  std::atomic<uint64_t> reclaim_epoch;  // bumped before each look at the read marks

  alignas(64) std::atomic<uint32_t> writer_lock;

  // What a waiting reader reads after each commit, in one cache line: it
  // then takes one line from the writer's core, not two.
  alignas(64) std::atomic<uint64_t> committed_seq;
  std::atomic<uint32_t> commit_epoch;
  std::atomic<uint32_t> commit_waiters;
  std::atomic<uint64_t> written_seq;

  alignas(64) std::atomic<uint64_t> durable_seq;
  std::atomic<uint32_t> sync_leader;
  std::atomic<uint32_t> sync_epoch;
  std::atomic<uint32_t> sync_waiters;
  std::atomic<uint32_t> writers;  // committers on their way to writing a frame

  Slot slots[kSlots];
  GroupArea groups;

  // The partition wake channels (SharedState::wake_channel).
  struct WakeChannel {
    std::atomic<uint32_t> epoch;
    std::atomic<uint32_t> waiters;
  };
  alignas(64) WakeChannel channels[SharedState::kWakeChannels + 1];  // the last is kBroadcastChannel

  // Each slot's share of every channel's waiter count, which whoever finds
  // the slot's handle dead takes back (as commit_waiting for the commit
  // epoch).
  alignas(64) std::atomic<uint16_t> channel_waits[kSlots][SharedState::kWakeChannels + 1];
};

// docs/FORMAT.md lists these offsets; another implementation relies on them.
static_assert(offsetof(Layout, ready) == 40 && offsetof(Layout, slots_used) == 44 &&
              offsetof(Layout, reclaim_epoch) == 48);
static_assert(offsetof(Layout, writer_lock) == 64);
static_assert(offsetof(Layout, committed_seq) == 128 && offsetof(Layout, commit_epoch) == 136 &&
              offsetof(Layout, commit_waiters) == 140 && offsetof(Layout, written_seq) == 144);
static_assert(offsetof(Layout, durable_seq) == 192 && offsetof(Layout, sync_leader) == 200 &&
              offsetof(Layout, sync_epoch) == 204 && offsetof(Layout, sync_waiters) == 208 &&
              offsetof(Layout, writers) == 212);
static_assert(offsetof(Layout, slots) == 256 && sizeof(Slot) == 64 && offsetof(Slot, read_mark) == 16 &&
              offsetof(Slot, writing) == 24);
static_assert(offsetof(Layout, groups) == 256 + 64 * kSlots);
static_assert(offsetof(Layout, channels) == 256 + 64 * kSlots + sizeof(GroupArea) &&
              sizeof(Layout::WakeChannel) == 8);
static_assert(offsetof(Layout, channel_waits) ==
              256 + 64 * kSlots + sizeof(GroupArea) + 8 * (SharedState::kWakeChannels + 1) + 56);
static_assert(sizeof(Layout) == offsetof(Layout, channel_waits) + 2 * kSlots * (SharedState::kWakeChannels + 1));

static void advance(std::atomic<uint64_t>& word, uint64_t to) {
  uint64_t cur = word.load(std::memory_order_acquire);
  while (cur < to && !word.compare_exchange_weak(cur, to, std::memory_order_acq_rel)) {
  }
}

SharedState::SharedState(io::Env* env, std::unique_ptr<io::SharedFile> file,
                         std::unique_ptr<io::SharedMapping> map, bool fresh)
    : env_(env),
      file_(std::move(file)),
      map_(std::move(map)),
      shared_(reinterpret_cast<Layout*>(map_->data())),
      fresh_(fresh),
      attached_(true) {}

SharedState::~SharedState() { detach(); }

const std::string& SharedState::path() const { return file_->path(); }

GroupArea& SharedState::groups() { return shared_->groups; }


Result<std::unique_ptr<SharedState>> SharedState::attach(io::Env* env, const std::string& path, const std::string& database,
                                                         const LogIdentity& log) {
  for (int attempt = 0; attempt < kAttachAttempts; ++attempt) {
    Result<std::unique_ptr<io::SharedFile>> opened = env->open_shared(path, database);
    if (!opened.ok()) return opened.status();
    std::unique_ptr<io::SharedFile> file = std::move(opened).value();
    // Whoever locks the attach byte exclusively is alone and rebuilds the
    // area; everyone else holds it shared (and waits here while a rebuild
    // is under way).
    Status excl = file->lock(io::kAttachLockByte, io::LockType::exclusive, false);
    bool fresh = excl.ok();
    if (!fresh && excl.code() != Code::busy) return excl;
    if (!fresh) RIVULET_TRY(file->lock(io::kAttachLockByte, io::LockType::shared, true));
    // The last handle to leave removes the file: make sure the path still
    // names the file we locked, or start over.
    Result<io::FileId> mine = file->id();
    if (!mine.ok()) return mine.status();
    Result<io::FileId> named = env->file_id(path);
    if (!named.ok() && named.status().code() != Code::not_found) return named.status();
    if (!named.ok() || *named != *mine) continue;

    uint64_t size = sizeof(Layout);
    if (fresh) {
      RIVULET_TRY(file->reset(sizeof(Layout)));
    } else {
      Result<uint64_t> got = file->size();
      if (!got.ok()) return got.status();
      size = *got;
      // Its builder died before sizing it, unless it is another version's
      // (of another size): only the first page may be touched then.
      if (size < kHeaderPage) continue;
    }
    Result<std::unique_ptr<io::SharedMapping>> map = file->map(sizeof(Layout));
    if (!map.ok()) return map.status();
    Layout* l = reinterpret_cast<Layout*>((*map)->data());
    if (!fresh && size < sizeof(Layout)) {
      if (l->ready.load(std::memory_order_acquire) == 1 && l->version != kVersion) return other_version(path);
      continue;
    }
    if (fresh) {
      l->magic = kMagic;
      l->version = kVersion;
      l->slot_count = kSlots;
      l->log_device = log.file.device;
      l->log_inode = log.file.inode;
      l->log_salt = log.salt;
    } else {
      if (l->ready.load(std::memory_order_acquire) != 1) continue;  // its builder died
      if (l->magic != kMagic || l->version != kVersion || l->slot_count != kSlots) return other_version(path);
      if (l->log_device != log.file.device || l->log_inode != log.file.inode || l->log_salt != log.salt) {
        return Status(Code::busy, fmt::format("{}: in use by processes that have another file open under this "
                                              "name (was the log deleted or replaced while in use?)",
                                              path));
      }
    }
    std::unique_ptr<SharedState> state(new SharedState(env, std::move(file), std::move(map).value(), fresh));
    RIVULET_TRY(state->claim_slot());
    return state;
  }
  return Status(Code::busy, fmt::format("{}: could not attach; the file kept changing", path));
}

Status SharedState::publish_initial(uint64_t last_seq, uint64_t durable_seq) {
  shared_->written_seq.store(last_seq);
  shared_->committed_seq.store(last_seq);
  shared_->durable_seq.store(std::min(durable_seq, last_seq));
  shared_->ready.store(1, std::memory_order_release);
  fresh_ = false;
  // Let the others in: converting to a shared lock never blocks.
  return file_->lock(io::kAttachLockByte, io::LockType::shared, false);
}

Status SharedState::claim_slot() {
  for (uint32_t i = 0; i < kSlots; ++i) {
    Status st = file_->lock(io::kSlotLockBase + i, io::LockType::exclusive, false);
    if (st.code() == Code::busy) continue;
    if (!st.ok()) return st;
    Slot& s = shared_->slots[i];
    take_back_shares(i);  // of a handle that died here, if a dead one has not been seen yet
    s.read_mark.store(kNoReadMark);
    generation_ = (s.generation.load() + 1) & kGenerationMask;
    if (generation_ == 0) generation_ = 1;
    s.generation.store(generation_);
    s.pid.store(static_cast<uint32_t>(getpid()));
    uint32_t used = shared_->slots_used.load();
    while (used < i + 1 && !shared_->slots_used.compare_exchange_weak(used, i + 1)) {
    }
    slot_ = i;
    return Status::OK();
  }
  return Status(Code::busy, fmt::format("{}: all {} handle slots are in use", path(), kSlots));
}

uint32_t SharedState::token() const { return (slot_ + 1) | (generation_ << 16); }

// A lock holder is alive while its slot still has the generation in its
// token and some description (its handle's) holds the slot's lock.
bool SharedState::holder_alive(uint32_t token) {
  uint32_t slot = (token & 0xFFFF) - 1;
  uint32_t generation = (token >> 16) & kGenerationMask;
  if (slot >= kSlots) return false;
  if (shared_->slots[slot].generation.load() != generation) return false;
  if (slot == slot_) return true;  // another thread of this handle
  Result<bool> held = file_->locked_by_other(io::kSlotLockBase + slot);
  return !held.ok() || *held;  // when in doubt, wait
}

// A futex mutex (Drepper's, with the holder's token instead of 1) that a
// waiter takes over when it finds the holder dead.
Status SharedState::lock_writer(bool* took_over) {
  *took_over = false;
  std::atomic<uint32_t>& word = shared_->writer_lock;
  uint32_t v = 0;
  if (word.compare_exchange_strong(v, token(), std::memory_order_acquire)) return Status::OK();
  // The lock is held for one memcpy-sized write: spinning a few
  // microseconds usually beats sleeping (a context switch costs more).
  Clock::time_point spin_until = Clock::now() + kWriterSpin;
  do {
    cpu_relax();
    v = word.load(std::memory_order_relaxed);
    if (v == 0 && word.compare_exchange_weak(v, token(), std::memory_order_acquire)) return Status::OK();
  } while (Clock::now() < spin_until);
  for (;;) {
    if (v == 0) {
      if (word.compare_exchange_weak(v, token() | kContended, std::memory_order_acquire)) return Status::OK();
      continue;
    }
    if (!(v & kContended)) {
      if (!word.compare_exchange_weak(v, v | kContended, std::memory_order_acquire)) continue;
      v |= kContended;
    }
    if (!futex_wait(&word, v, kLivenessCheck) && !holder_alive(v & ~kContended)) {
      if (word.compare_exchange_strong(v, token() | kContended, std::memory_order_acquire)) {
        *took_over = true;
        return Status::OK();
      }
      continue;
    }
    v = word.load(std::memory_order_acquire);
  }
}

void SharedState::unlock_writer() {
  if (shared_->writer_lock.exchange(0, std::memory_order_release) & kContended) {
    futex_wake(&shared_->writer_lock, 1);
  }
}

uint64_t SharedState::written_seq() const { return shared_->written_seq.load(std::memory_order_acquire); }
uint64_t SharedState::committed_seq() const { return shared_->committed_seq.load(std::memory_order_acquire); }
uint64_t SharedState::durable_seq() const { return shared_->durable_seq.load(std::memory_order_acquire); }
uint32_t SharedState::wake_channel(uint32_t topic_id, uint32_t partition) {
  // Fibonacci hashing: the top 8 bits of the pair times 2^64 / phi.
  uint64_t key = (uint64_t{topic_id} << 32) | partition;
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ull) >> 56);
}

std::atomic<uint32_t>& SharedState::epoch_word(uint32_t channel) const {
  return channel == kEveryChannel ? shared_->commit_epoch : shared_->channels[channel].epoch;
}

std::atomic<uint32_t>& SharedState::waiters_word(uint32_t channel) const {
  return channel == kEveryChannel ? shared_->commit_waiters : shared_->channels[channel].waiters;
}

uint32_t SharedState::channel_waiters(uint32_t channel) const { return waiters_word(channel).load(); }

uint32_t SharedState::commit_epoch(uint32_t channel) const {
  return epoch_word(channel).load(std::memory_order_acquire);
}

void SharedState::publish_written(uint64_t seq, bool visible, std::span<const uint32_t> channels) {
  shared_->written_seq.store(seq, std::memory_order_release);
  if (visible) advance(shared_->committed_seq, seq);
  bump_commit_epoch(channels);
}

void SharedState::wake_waiters() { bump_every_channel(); }

// An epoch moves before its waiter count is read, and a waiter counts
// itself before reading the epoch (both sequentially consistent): either
// the waiter sees the new epoch or the committer sees the waiter.
void SharedState::bump(uint32_t channel) {
  epoch_word(channel).fetch_add(1);
  if (waiters_word(channel).load() != 0 && futex_wake(&epoch_word(channel), INT_MAX) == 0) {
    // Nobody to wake: a waiter between counting itself and sleeping, or
    // one killed asleep (a consumer stopped with Ctrl-C).
    clear_dead_shares(&next_dead_waiter_look_, [&](uint32_t slot) {
      return channel == kEveryChannel ? shared_->slots[slot].commit_waiting.load() != 0
                                      : shared_->channel_waits[slot][channel].load() != 0;
    });
  }
}

void SharedState::bump_commit_epoch(std::span<const uint32_t> channels) {
  if (std::find(channels.begin(), channels.end(), kEveryChannel) != channels.end()) return bump_every_channel();
  bump(kEveryChannel);
  for (uint32_t c : channels) bump(c);
}

void SharedState::bump_every_channel() {
  for (uint32_t c = 0; c <= kBroadcastChannel; ++c) bump(c);
  bump(kEveryChannel);
}

void SharedState::publish_committed(uint64_t seq) {
  if (committed_seq() >= seq) return;
  advance(shared_->committed_seq, seq);
  bump_every_channel();
}

void SharedState::publish_durable(uint64_t seq) {
  advance(shared_->durable_seq, seq);
  publish_committed(seq);
}

void SharedState::wait_for_commit(std::span<const uint32_t> channels, std::span<const uint32_t> seen,
                                  Clock::time_point until, std::chrono::microseconds spin,
                                  const std::function<Status()>& fdatasync) {
  const size_t n = std::min(channels.size(), kMaxWaitChannels);  // callers pass at most that many
  std::atomic<uint32_t>* epochs[kMaxWaitChannels];
  for (size_t i = 0; i < n; ++i) epochs[i] = &epoch_word(channels[i]);
  auto unchanged = [&] {
    for (size_t i = 0; i < n; ++i) {
      if (epochs[i]->load() != seen[i]) return false;
    }
    return true;
  };
  if (spin.count() > 0) {
    Clock::time_point stop = std::min(until, deadline_after(Clock::now(), spin));
    do {
      if (!unchanged()) return;
      cpu_relax();
    } while (Clock::now() < stop);
  }
  // The slot keeps its share of each count, so that whoever finds this
  // handle dead can take it back (take_back_shares). Counted in the total
  // first and taken out of the slot first, so a death in between leaves a
  // spare count, never one short (a lost wake-up).
  Slot& mine = shared_->slots[slot_];
  for (size_t i = 0; i < n; ++i) {
    waiters_word(channels[i]).fetch_add(1);
    if (channels[i] == kEveryChannel) mine.commit_waiting.fetch_add(1);
    else shared_->channel_waits[slot_][channels[i]].fetch_add(1);  // a handle has far fewer than 2^16 waiting threads
  }
  bool help = false;
  while (unchanged()) {
    auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) break;
    bool pending = written_seq() > committed_seq();
    if (pending) left = std::min<Clock::duration>(left, kLivenessCheck);
    bool woken = n == 1 ? futex_wait(epochs[0], seen[0], left)
                        : futex_wait_any(std::span(epochs, n), seen.first(n), left);
    if (woken || !pending || written_seq() <= committed_seq()) continue;
    if (no_live_sync_leader()) {
      help = true;  // nobody is syncing what is written
      break;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (channels[i] == kEveryChannel) mine.commit_waiting.fetch_sub(1);
    else shared_->channel_waits[slot_][channels[i]].fetch_sub(1);
    waiters_word(channels[i]).fetch_sub(1);
  }
  // An error is the committers' to report (their own sync sees it too).
  if (help) sync_through(written_seq(), fdatasync).ignore();
}

bool SharedState::finish_orphaned_sync(const std::function<Status()>& fdatasync) {
  uint64_t written = written_seq();
  if (written <= committed_seq()) return false;
  // A live committer syncs within microseconds of writing: wait until the
  // same frames have been pending a while before suspecting it.
  int64_t now = Clock::now().time_since_epoch().count();
  if (pending_seen_seq_.exchange(written) != written) {
    pending_seen_at_.store(now);
    return false;
  }
  if (now - pending_seen_at_.load() < std::chrono::duration_cast<Clock::duration>(kLivenessCheck).count()) return false;
  pending_seen_at_.store(now);
  if (!no_live_sync_leader()) return false;  // a long fdatasync
  // An error is the committers' to report (their own sync sees it too).
  return sync_through(written, fdatasync).ok() && committed_seq() >= written;
}

bool SharedState::no_live_sync_leader() {
  uint32_t leader = shared_->sync_leader.load();
  if (leader == 0) return true;
  if (holder_alive(leader)) return false;
  shared_->sync_leader.compare_exchange_strong(leader, 0);  // it died syncing: free the role
  return true;
}

bool SharedState::can_wait_on_many_channels() { return futex_wait_any_supported(); }

void SharedState::note_sync_failure(const Status& st) { sync_failure_.set(st).ignore(); }

Status SharedState::sync_through(uint64_t seq, const std::function<Status()>& fdatasync) {
  Slot& mine = shared_->slots[slot_];
  for (;;) {
    if (uint64_t durable = durable_seq(); durable >= seq) {
      // A leader killed between publishing durable and committed leaves
      // durable frames invisible: finish its job (a no-op when done).
      publish_committed(durable);
      return Status::OK();
    }
    if (Status failed = sync_failure_.get(); !failed.ok()) return failed;
    uint32_t epoch = shared_->sync_epoch.load();
    uint32_t leader = 0;
    if (shared_->sync_leader.compare_exchange_strong(leader, token())) {
      Status st;
      int woken = -1;
      {
        // The role is given up however this ends: a leader that lives on
        // after an exception (out of memory) counts as alive, and would
        // hold it for ever.
        struct GiveUpRole {
          Layout* shared;
          int* woken;
          ~GiveUpRole() {
            shared->sync_leader.store(0);
            shared->sync_epoch.fetch_add(1);
            if (shared->sync_waiters.load() != 0) *woken = futex_wake(&shared->sync_epoch, INT_MAX);
          }
        } give_up{shared_, &woken};
        // Committers about to write would miss this sync by microseconds and
        // pay a whole one of their own: let them write first, briefly.
        Clock::time_point stop = Clock::now() + kGatherWriters;
        while (shared_->writers.load() != 0 && Clock::now() < stop) std::this_thread::yield();
        if (shared_->writers.load() != 0) {
          clear_dead_shares(&next_dead_writer_look_, [&](uint32_t slot) { return shared_->slots[slot].writing.load() != 0; });
        }
        // Everything written so far rides on this sync, ours included.
        uint64_t target = written_seq();
        // Another handle's sync may have covered ours, but only one that
        // covered the target lets us skip ours: frames written after it are
        // not durable yet.
        st = durable_seq() >= target ? Status::OK() : fdatasync();
        if (st.ok()) {
          advance(shared_->durable_seq, target);
          publish_committed(target);
        } else {
          note_sync_failure(st);  // before the waiters wake: none may retry
        }
      }
      if (woken == 0) {
        clear_dead_shares(&next_dead_waiter_look_,
                          [&](uint32_t slot) { return shared_->slots[slot].sync_waiting.load() != 0; });
      }
      return st;
    }
    shared_->sync_waiters.fetch_add(1);
    mine.sync_waiting.fetch_add(1);
    bool woken = shared_->sync_epoch.load() != epoch || futex_wait(&shared_->sync_epoch, epoch, kLivenessCheck);
    mine.sync_waiting.fetch_sub(1);
    shared_->sync_waiters.fetch_sub(1);
    if (!woken && shared_->sync_epoch.load() == epoch && !holder_alive(leader)) {
      // The leader died mid-sync: free the role; someone syncs again.
      shared_->sync_leader.compare_exchange_strong(leader, 0);
    }
  }
}

void SharedState::begin_write() {
  shared_->writers.fetch_add(1);
  shared_->slots[slot_].writing.fetch_add(1);
}

void SharedState::end_write() {
  shared_->slots[slot_].writing.fetch_sub(1);
  shared_->writers.fetch_sub(1);
}

uint32_t SharedState::writers() const { return shared_->writers.load(); }

// A handle that dies leaves its shares of the counts in the totals: a
// committer killed on its way to a frame (waiting for the writer lock, or
// writing) in `writers`, and every sync leader after it would wait the whole
// kGatherWriters for a frame that never comes; a reader killed asleep in a
// waiter count, and every commit would make a futex wake for nobody (as
// dear as the commit itself). Its slot says how much is its (the totals are
// raised first, so a share never exceeds what the total holds of it). The
// caller holds the slot's lock, so nobody claims it meanwhile.
void SharedState::take_back_shares(uint32_t slot) {
  Slot& s = shared_->slots[slot];
  if (uint32_t n = s.commit_waiting.exchange(0)) shared_->commit_waiters.fetch_sub(n);
  if (uint32_t n = s.sync_waiting.exchange(0)) shared_->sync_waiters.fetch_sub(n);
  if (uint32_t n = s.writing.exchange(0)) shared_->writers.fetch_sub(n);
  for (uint32_t c = 0; c <= kWakeChannels; ++c) {
    if (uint32_t n = shared_->channel_waits[slot][c].exchange(0)) shared_->channels[c].waiters.fetch_sub(n);
  }
}

// Gives back the shares of other handles that have_share() and are dead
// (their slot's lock is free: take it, as claim_slot does), at most once per
// kLivenessCheck per `next_look` (steady_clock ticks), since live ones are
// the usual answer.
template <typename HasShare>
void SharedState::clear_dead_shares(std::atomic<int64_t>* next_look, HasShare has_share) {
  const int64_t now = Clock::now().time_since_epoch().count();
  int64_t next = next_look->load(std::memory_order_relaxed);
  if (now < next || !next_look->compare_exchange_strong(next, now + Clock::duration(kLivenessCheck).count())) {
    return;
  }
  uint32_t used = shared_->slots_used.load();
  for (uint32_t i = 0; i < used && i < kSlots; ++i) {
    if (i == slot_ || !has_share(i)) continue;
    if (!file_->lock(io::kSlotLockBase + i, io::LockType::exclusive, false).ok()) continue;  // alive
    take_back_shares(i);
    file_->unlock(io::kSlotLockBase + i).ignore();
  }
}

// Sequentially consistent, as are the epoch's bump and load: the reader's
// store-then-load and the reclaimer's bump-then-load pair up (Dekker).
void SharedState::set_read_mark(uint64_t segment_seq) { shared_->slots[slot_].read_mark.store(segment_seq); }

void SharedState::bump_reclaim_epoch() { shared_->reclaim_epoch.fetch_add(1); }

uint64_t SharedState::reclaim_epoch() const { return shared_->reclaim_epoch.load(); }

Result<uint64_t> SharedState::lowest_read_mark() {
  uint64_t lowest = kNoReadMark;
  uint32_t used = shared_->slots_used.load();
  for (uint32_t i = 0; i < used; ++i) {
    uint64_t mark = shared_->slots[i].read_mark.load();
    if (mark >= lowest) continue;
    if (i != slot_) {
      Result<bool> live = file_->locked_by_other(io::kSlotLockBase + i);
      if (!live.ok()) return live.status();
      if (!*live) continue;  // a dead handle's mark
    }
    lowest = mark;
  }
  return lowest;
}

Result<uint32_t> SharedState::live_handles() {
  uint32_t live = 0;
  uint32_t used = shared_->slots_used.load();
  for (uint32_t i = 0; i < used; ++i) {
    if (i == slot_) {
      ++live;
      continue;
    }
    Result<bool> held = file_->locked_by_other(io::kSlotLockBase + i);
    if (!held.ok()) return held.status();
    live += *held;
  }
  return live;
}

void SharedState::detach() {
  if (!attached_) return;
  attached_ = false;
  // A file the test env killed (a simulated crash) belongs to a handle that
  // is gone already, and in a child forked since attaching the area is the
  // parent's: touch nothing shared.
  Result<io::FileId> mine = file_->id();
  if (mine.ok() && fork_generation_ == io::fork_guard::generation()) {
    if (slot_ != UINT32_MAX) {
      shared_->slots[slot_].read_mark.store(kNoReadMark);
      file_->unlock(io::kSlotLockBase + slot_).ignore();
    }
    // The last to leave removes the file, as SQLite removes its -shm; a
    // handle attaching meanwhile sees the path name no file, and starts over.
    if (file_->lock(io::kAttachLockByte, io::LockType::exclusive, false).ok()) {
      Result<io::FileId> named = env_->file_id(file_->path());
      if (named.ok() && *named == *mine) env_->remove(file_->path()).ignore();
    }
  }
  map_.reset();
  file_.reset();
}

}  // namespace rivulet::coord
