// Opening, recovery and the write path.
#include "db/db_impl.hpp"

#include <limits.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "db/frame_apply.hpp"
#include "group/live_groups.hpp"
#include "db/reader_impl.hpp"
#include "db/retention.hpp"
#include "format/frame.hpp"
#include "io/locks.hpp"
#include "log/file_start.hpp"
#include "meta/topic_config.hpp"
#include "util/clock.hpp"

namespace rivulet {

Status with_path(const std::string& path, const Status& st) {
  if (st.ok() || st.message().starts_with(path + ": ")) return st;  // named once is enough
  return {st.code(), fmt::format("{}: {}", path, st.message()), st.position()};
}

namespace {

constexpr uint64_t kMinAllocationStep = 64u << 10;
constexpr uint64_t kMaxAllocationStep = 4u << 20;
// map_ahead_of_replay maps this much at a time, again once the head is
// within the margin of the end.
constexpr uint64_t kMapAhead = 256u << 10;
constexpr uint64_t kMapAheadMargin = 64u << 10;
// Closing writes a checkpoint if more than this (or checkpoint_bytes)
// came since the last.
constexpr uint64_t kCheckpointAtClose = 1u << 20;
// A checkpoint restates every partition's batch list (about 6 bytes a
// batch), so it grows with the file's batches, not with the log since the
// last one. A commit writes one only once the log since the last is this
// many times that one's size (and checkpoint_bytes): else a file of
// one-record commits writes ever larger checkpoints at the same interval,
// the work and the file growing with the square of its records (0.76 M
// records/s at 1 M records fell to 0.05 M/s at 8 M, the file to 528 bytes a
// record). So checkpoints cost at most a quarter of the log written, and an
// open after a crash replays at most four times the state it loads.
constexpr uint64_t kLogPerCheckpointByte = 4;
// At close, once the log since the last is as large as the checkpoint: an
// open then replays at most what it would have loaded.
constexpr uint64_t kLogPerCheckpointByteAtClose = 1;

uint64_t random_u64() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(now_ms()) << 20;
}

// Every call on a closed handle; named, as a program may have several open.
Status closed_error(const std::string& path) {
  return {Code::invalid_argument, fmt::format("{}: the file is closed", path)};
}

// The shared area lives beside the log under its real name, so a symlink
// and its target share one area.
std::string shared_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::canonical(path, ec);
  return (ec ? path : real.string()) + "-shm";
}

// The shared area's name is the file's (its real one) with "-shm" added, so
// the file's may be at most NAME_MAX - 4 bytes long. Other processes find
// the area by that name: it cannot be shortened.
Status check_shm_name(const std::string& shm) {
  const size_t slash = shm.find_last_of('/');
  const size_t length = slash == std::string::npos ? shm.size() : shm.size() - slash - 1;
  if (length <= NAME_MAX) return Status::OK();
  return {Code::invalid_argument,
          fmt::format("a file name of {} bytes is too long: the shared area beside the file adds \"-shm\" to it, "
                      "and a name may have at most {} bytes, so the file's at most {}",
                      length - 4, NAME_MAX, NAME_MAX - 4)};
}

}  // namespace

DbImpl::DbImpl(std::string path, const OpenOptions& options)
    : path_(std::move(path)), options_(options), env_(options.env ? options.env : io::Env::posix()) {}

DbImpl::~DbImpl() {
  close().ignore();
  delete spare_batch_.load();
}

std::unique_ptr<WriteBatch::Rep> DbImpl::take_spare_batch() {
  return std::unique_ptr<WriteBatch::Rep>(spare_batch_.exchange(nullptr));
}

void DbImpl::keep_spare_batch(std::unique_ptr<WriteBatch::Rep> rep) {
  delete spare_batch_.exchange(rep.release());
}

Result<std::unique_ptr<DbImpl>> DbImpl::open(const std::string& path, const OpenOptions& options) {
  RIVULET_TRY(io::check_path(path));
  if (!options.read_only &&
      (options.auto_create_partitions < 1 || options.auto_create_partitions > TopicConfig::kMaxPartitions)) {
    // Checked now, not when a produce first creates a topic with it.
    return Status(Code::invalid_argument, fmt::format("auto_create_partitions must be between 1 and {}, not {}",
                                                      TopicConfig::kMaxPartitions, options.auto_create_partitions));
  }
  if (options.checkpoint_bytes < 1) return Status(Code::invalid_argument, "checkpoint_bytes must be at least 1");
  std::unique_ptr<DbImpl> db(new DbImpl(path, options));
  Status st = db->open_file();
  if (st.ok()) st = db->load();
  if (!st.ok()) {
    db->closed_ = true;  // nothing to flush
    return with_path(path, st);
  }
  db->opened_ = true;
  return db;
}

Status DbImpl::open_file() {
  io::OpenMode mode = options_.read_only ? io::OpenMode::read_only : io::OpenMode::read_write;
  Result<std::unique_ptr<io::File>> f = env_->open(path_, mode);
  if (!f.ok() && f.status().code() == Code::not_found) {
    if (!options_.create_if_missing || options_.read_only) return {Code::not_found, "no such file"};
    RIVULET_TRY(check_shm_name(path_ + "-shm"));  // before making a file no handle could open
    RIVULET_TRY(create_file());
    f = env_->open(path_, mode);
  }
  if (!f.ok()) return f.status();
  RIVULET_TRY(check_shm_name(shared_path(path_)));  // before load() writes to an empty file
  file_ = std::move(f).value();
  std::error_code ec;
  absolute_path_ = std::filesystem::absolute(path_, ec).string();
  if (ec) absolute_path_ = path_;
  // Under full every commit is followed by an fdatasync, which would make
  // the next mapped write fault (io::File::set_mapped_writes).
  file_->set_mapped_writes(options_.sync != Sync::full);
  // Under normal the fdatasync at a segment change would otherwise write
  // the whole segment while the writer lock is held (io::File::set_write_behind).
  file_->set_write_behind(options_.sync == Sync::normal);
  map_ = std::make_unique<log::FileMap>(file_.get());
  writer_id_ = random_u64();
  return Status::OK();
}

// The first 16 KiB of a new file: header, one valid superblock, zeros.
static std::string initial_blocks(uint32_t segment_size) {
  std::string blocks(format::kFirstSegmentPos, '\0');
  format::FileHeader h;
  h.segment_size = segment_size;
  h.file_salt = random_u64();
  h.created_ms = now_ms();
  format::encode_file_header(h, blocks.data());
  format::Superblock sb;
  sb.generation = 1;
  sb.log_start = format::kFirstSegmentPos + format::kSegmentHeaderSize;
  sb.first_seq = 1;
  sb.first_prev_crc = format::file_header_crc(blocks);
  format::encode_superblock(sb, blocks.data() + format::kSuperblockPos[sb.generation % 2]);
  return blocks;
}

static Status check_segment_size(uint32_t s) {
  if (s < format::kMinSegmentSize || s > format::kMaxSegmentSize || s % format::kBlockSize != 0) {
    return {Code::invalid_argument, fmt::format("segment_size {} must be a multiple of 4096 between {} and {}", s,
                                                format::kMinSegmentSize, format::kMaxSegmentSize)};
  }
  return Status::OK();
}

// A new file is written whole under a temporary name and renamed into place,
// so no process ever sees half a header; if another process wins the race,
// its file is used.
Status DbImpl::create_file() {
  RIVULET_TRY(check_segment_size(options_.segment_size));
  // Beside the file under a short name: a longer name than the file's
  // would fail for a file name near the file system's limit.
  const size_t slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
  std::string tmp = fmt::format("{}.rvl-new-{:016x}", dir, random_u64());
  Result<std::unique_ptr<io::File>> f = env_->open(tmp, io::OpenMode::create_exclusive_rw);
  if (!f.ok()) return f.status();
  std::string blocks = initial_blocks(options_.segment_size);
  std::string_view part(blocks);
  Status st = (*f)->write_at(0, {&part, 1});
  if (st.ok()) st = (*f)->sync();
  f->reset();
  if (st.ok()) {
    st = env_->rename_noreplace(tmp, path_);
    if (st.code() == Code::already_exists) st = Status::OK();  // created meanwhile by another process
  }
  env_->remove(tmp).ignore();  // gone after a rename; left over after a failure
  if (st.ok()) st = env_->sync_parent_dir(path_);
  return st;
}

// What an initialiser killed mid-write leaves: whole pages (the kernel
// copies a write page by page) of a prefix of the first blocks (the file
// header, then the first superblock at kSuperblockPos[1]) and zeros. A file
// that ever held more has a later superblock at kSuperblockPos[0].
static bool left_by_initialiser(std::string_view b) {
  if (b.size() % format::kBlockSize != 0) return false;
  auto zero = [&](size_t from, size_t to) {
    std::string_view part = b.substr(std::min(from, b.size()), to - from);
    return std::all_of(part.begin(), part.end(), [](char c) { return c == 0; });
  };
  std::string_view magic(format::kFileMagic.data(), std::min(b.size(), format::kFileMagic.size()));
  bool header = b.starts_with(magic) || zero(0, format::kFileHeaderSize);
  return header && zero(format::kFileHeaderSize, format::kSuperblockPos[1]) &&
         zero(format::kSuperblockPos[1] + format::kSuperblockSize, format::kFirstSegmentPos);
}

// An empty existing file becomes a new Rivulet file, as sqlite3 treats an
// empty database file, under the writer lock byte: whoever finds the file
// shorter than its first blocks waits for the one writing them, then looks
// again. What a dead initialiser left is written again; anything else is
// left for read_file_start to refuse.
Status DbImpl::init_short_file() {
  const bool ro = options_.read_only;
  if (!ro) RIVULET_TRY(check_segment_size(options_.segment_size));
  RIVULET_TRY(file_->lock(io::kWriterLockByte, ro ? io::LockType::shared : io::LockType::exclusive, true));
  Status st = init_short_file_locked();
  file_->unlock(io::kWriterLockByte).ignore();
  return st;
}

Status DbImpl::init_short_file_locked() {
  Result<uint64_t> size = file_->size();
  if (!size.ok()) return size.status();
  if (*size >= format::kFirstSegmentPos) return Status::OK();  // written meanwhile
  std::string old(*size, '\0');
  RIVULET_TRY(file_->read_at(0, old.data(), old.size()));
  if (!left_by_initialiser(old)) return Status::OK();
  // Made a Rivulet file only by a writer asked to create one.
  if (options_.read_only || !options_.create_if_missing) {
    return {Code::not_rivulet_file, *size == 0 ? "empty file, not a Rivulet file yet"
                                               : "its first blocks are half-written, not a Rivulet file yet"};
  }
  std::string blocks = initial_blocks(options_.segment_size);
  std::string_view part(blocks);
  RIVULET_TRY(file_->write_at(0, {&part, 1}));
  return file_->sync();
}

Status DbImpl::load() {
  Result<uint64_t> size = file_->size();
  if (!size.ok()) return size.status();
  if (*size < format::kFirstSegmentPos) RIVULET_TRY(init_short_file());
  boot_tag_ = env_->boot_tag();
  Result<log::FileStart> start = log::read_file_start(*file_, boot_tag_);
  if (!start.ok()) return start.status();
  header_ = start->header;
  adopt_superblocks(start->slots, start->choice);
  if (header_.format_version < format::kOldestWritableVersion && !options_.read_only) {
    // Older files are a subset of this format, so reading them is safe; a
    // newer record in them would make the build that wrote them call them
    // corrupt, and the header's version cannot change in place safely.
    return {Code::unsupported,
            fmt::format("file format {} is older than this build writes (format {} and newer): open it read-only, or copy it into "
                        "a new file as docs/FORMAT.md (\"Older format versions\") shows",
                        header_.format_version, format::kOldestWritableVersion)};
  }
  scanner_ = std::make_unique<log::LogScanner>(map_.get(), header_.segment_size, header_.format_version);
  catalog_.segments().set_segment_size(header_.segment_size);
  RIVULET_TRY(attach_shared());
  return recover();
}

Status DbImpl::attach_shared() {
  Result<io::FileId> id = file_->id();
  if (!id.ok()) return id.status();
  Result<std::unique_ptr<coord::SharedState>> shared =
      coord::SharedState::attach(env_, shared_path(path_), path_, {*id, header_.file_salt});
  if (!shared.ok()) {
    // A read-only handle on a file nobody may write beside (a read-only
    // directory or medium) reads without the shared area, polling.
    if (options_.read_only && shared.status().code() == Code::read_only) return Status::OK();
    return shared.status();
  }
  shared_ = std::move(shared).value();
  marks_.attach(shared_.get());
  return Status::OK();
}

// The first handle to attach (or one without a shared area) walks the whole
// chain and judges its tail; later ones walk only as far as the others say
// is written, since frames past it may be half-written right now.
Status DbImpl::recover() {
  std::unique_lock follow(follow_mu_);
  if (shared_ && !shared_->fresh()) {
    // Pin the segment the walk starts in before walking, as a reader pins
    // (ReaderImpl::pinned_snapshot): a writer may be freeing segments before
    // a newer checkpoint right now. If the epoch moved, the superblock may
    // have too: read it again.
    for (;;) {
      uint64_t epoch = shared_->reclaim_epoch();
      RIVULET_TRY(reread_superblock_locked());
      marks_.set_floor(superblock_.log_start_segment_seq);
      if (shared_->reclaim_epoch() == epoch) break;
    }
  }
  head_ = log::chain_start({0, header_, superblock_});
  marks_.set_floor(head_.segment_seq);
  replay_ = std::make_unique<db::Replay>(&catalog_, superblock_.checkpoint_pos != 0, head_.pos);
  // Without a checkpoint the chain starts in a segment nothing entered yet.
  if (superblock_.checkpoint_pos == 0) {
    catalog_.enter_segment(catalog_.segments().index_of(head_.pos), head_.segment_seq);
  }
  synced_seq_ = superblock_.durable_seq;
  auto apply = [&](const format::ParsedFrame& f) { return apply_locked(f); };
  if (shared_ && !shared_->fresh()) {
    uint64_t written = shared_->written_seq();
    visible_target_ = shared_->committed_seq();
    RIVULET_TRY(scanner_->walk(head_, apply, nullptr, false, written));
    RIVULET_TRY(replay_->finish());
    if (last_seq() < written) {
      return {Code::corruption,
              fmt::format("the log ends after frame {} but other handles have written through frame {}",
                          last_seq(), written),
              head_.pos};
    }
    make_visible_locked(shared_->committed_seq());
    return Status::OK();
  }
  std::string why;
  visible_target_ = UINT64_MAX;
  RIVULET_TRY(scanner_->walk(head_, apply, &why));
  RIVULET_TRY(replay_->finish());
  const meta::SegmentTable& segments = catalog_.segments();
  Result<log::TailInfo> tail =
      log::classify_tail(map_.get(), header_.segment_size, head_, superblock_.durable_seq, why, [&](uint64_t index) {
        return index < segments.size() && segments.at(static_cast<uint32_t>(index)).use == meta::SegmentState::Use::in_use;
      });
  if (!tail.ok()) return tail.status();
  tail_ = *tail;
  if (tail_.kind == log::TailInfo::Kind::corrupt) return {Code::corruption, tail_.detail, tail_.position};
  // Under full nothing is visible before it is durable, and that holds for
  // frames whose committer died between writing and syncing them too:
  // rebuilding the area after a crash must not show them unsynced, whatever
  // this handle's own mode (a frame does not say its writer's). fdatasync
  // works on a read-only descriptor; if it fails, the frames may never
  // reach the disk, so the open fails rather than show them.
  if (shared_ && last_seq() > synced_seq_) {
    RIVULET_TRY(file_->sync());
    synced_seq_ = last_seq();
  }
  make_visible_locked(last_seq());
  if (shared_) RIVULET_TRY(shared_->publish_initial(last_seq(), synced_seq_));
  return Status::OK();
}

Status DbImpl::apply_locked(const format::ParsedFrame& frame) {
  {
    std::unique_lock state(state_mu_);
    log::ChainPos next = scanner_->advance(head_, frame);
    catalog_.offsets().hide_after(visible_target_);
    Status st = replay_->apply(frame, head_, next);
    if (!st.ok()) return fail(st);  // the catalog may be half-updated
    if (next.segment_seq != head_.segment_seq) {
      marks_.set_floor(next.segment_seq);
      const uint64_t begin = format::segment_start(format::segment_index(next.pos, header_.segment_size), header_.segment_size);
      map_->forget_populated(begin, begin + header_.segment_size);
    }
    head_ = next;
    ++frames_;
    bool appends = !frame.checkpoint() && !frame.relocated();
    for (const format::BatchRef& b : appends ? frame.batches : std::span<const format::BatchRef>()) {
      meta::PartitionState* p = &catalog_.by_id(b.topic_id)->partitions[b.partition];
      if (frame.header.seq <= visible_target_) {
        p->visible_end = p->next_offset;
      } else {
        pending_.push_back({frame.header.seq, p, p->next_offset});
      }
    }
  }
  synced_seq_ = std::max(synced_seq_, frame.header.synced_seq);
  applied_seq_.store(frame.header.seq, std::memory_order_release);
  return Status::OK();
}

void DbImpl::make_visible_locked(uint64_t seq) {
  seq = std::min(seq, last_seq());
  if (seq <= visible_seq_.load(std::memory_order_relaxed)) return;
  // pending_ changes only under follow_mu_, which the caller holds: most
  // frames were made visible as they were applied, and need no lock here.
  if (!pending_.empty()) {
    std::unique_lock state(state_mu_);
    while (!pending_.empty() && pending_.front().seq <= seq) {
      meta::PartitionState* p = pending_.front().partition;
      p->visible_end = std::max(p->visible_end, pending_.front().end);
      pending_.pop_front();
    }
    catalog_.offsets().reveal_through(seq);
  }
  visible_seq_.store(seq, std::memory_order_release);
  if (!shared_) private_epoch_.fetch_add(1, std::memory_order_release);
}

Status DbImpl::catch_up_locked() {
  if (!shared_) {
    // No one to say how far the log is written: follow the chain to its end.
    map_ahead_of_replay();
    visible_target_ = UINT64_MAX;
    RIVULET_TRY(with_path(path_, scanner_->walk(
        head_, [&](const format::ParsedFrame& f) { return apply_locked(f); }, nullptr, /*peek=*/true)));
    make_visible_locked(last_seq());
    return Status::OK();
  }
  uint64_t written = shared_->written_seq();
  uint64_t committed = shared_->committed_seq();
  visible_target_ = committed;
  if (last_seq() < written) {
    map_ahead_of_replay();
    // Frames others wrote since: damage in them names the file, as at open.
    RIVULET_TRY(with_path(path_, scanner_->walk(
        head_, [&](const format::ParsedFrame& f) { return apply_locked(f); }, nullptr, false, written)));
    if (last_seq() < written) {
      return fail({Code::corruption,
                   fmt::format("{}: frame {} is missing or damaged, though its writer finished it", path_,
                               last_seq() + 1),
                   head_.pos});
    }
  }
  make_visible_locked(committed);
  return Status::OK();
}

// Other handles' frames are read here through the mapping, as they are
// written at the tail of the log, where this process has no page mapped
// yet: each process took a page fault per page (~25 us on the development
// VM; fault-around maps only pages already in the page cache), about one
// per commit with 16 processes writing small frames. Mapping the tail
// ahead in one call costs ~1.3 us a page there.
void DbImpl::map_ahead_of_replay() {
  map_->map_ahead(&replay_ahead_, head_.pos, head_.pos + kMapAheadMargin, kMapAhead);
}

Status DbImpl::refresh() {
  if (inherited()) [[unlikely]] return inherited_error();
  if (Status failed = failure_.get(); !failed.ok()) return failed;
  if (closed_) return closed_error(path_);
  if (shared_ && shared_->written_seq() == applied_seq_.load(std::memory_order_acquire) &&
      shared_->committed_seq() <= visible_seq_.load(std::memory_order_acquire)) {
    return Status::OK();  // nothing new: no locks taken
  }
  std::unique_lock follow(follow_mu_);
  return catch_up_locked();
}

Result<int> DbImpl::wait_any(std::span<ReaderImpl* const> readers, std::chrono::milliseconds timeout) {
  auto until = deadline_after(std::chrono::steady_clock::now(), timeout);
  // Sleep on the readers' wake channels (several at once where the kernel
  // allows), else on every commit; with no readers, only for what wakes
  // everyone (a group member with no partitions waits so for its next look).
  std::vector<uint32_t> channels;
  for (ReaderImpl* r : readers) {
    uint32_t c = r->wake_channel();
    if (std::find(channels.begin(), channels.end(), c) == channels.end()) channels.push_back(c);
  }
  if (channels.empty()) {
    channels.push_back(coord::SharedState::kBroadcastChannel);
  } else if ((channels.size() > 1 && !coord::SharedState::can_wait_on_many_channels()) ||
             channels.size() > coord::SharedState::kMaxWaitChannels) {
    channels.assign(1, kEveryChannel);
  }
  std::vector<uint32_t> seen(channels.size());
  for (;;) {
    for (size_t i = 0; i < channels.size(); ++i) seen[i] = commit_epoch(channels[i]);
    RIVULET_TRY(refresh());
    {
      std::shared_lock state(state_mu_);
      for (size_t i = 0; i < readers.size(); ++i) {
        if (readers[i]->ready_locked()) return static_cast<int>(i);
      }
    }
    if (std::chrono::steady_clock::now() >= until) {
      if (finish_orphaned_sync()) continue;
      return -1;
    }
    wait_for_commit(channels, seen, until);
  }
}

uint32_t DbImpl::commit_epoch(uint32_t channel) const {
  return shared_ ? shared_->commit_epoch(channel) : private_epoch_.load(std::memory_order_acquire);
}

Status DbImpl::fail(Status st) {
  // An open that fails hands out no handle, so there is none to stop.
  if (!opened_) return st;
  st = with_path(path_, st);  // the lasting failure is seen far from where it arose
  return failure_.set(Status(st.code(), st.message() + " (this handle can no longer be used; reopen the file)",
                             st.position()));
}

// A file deleted or replaced (renamed over) while open stays readable and
// writable through this handle, but what is committed to it is lost once
// the last handle closes: nobody can open it again. Checked where it costs
// nothing next to the work around it (a segment change, close), so a
// writer hears of it instead of losing its commits silently.
Status DbImpl::check_still_named() {
  Result<io::FileId> mine = file_->id();
  Result<io::FileId> named = env_->file_id(absolute_path_);
  bool deleted = !named.ok() && named.status().code() == Code::not_found;
  bool replaced = named.ok() && mine.ok() && !(*named == *mine);
  if (!deleted && !replaced) return Status::OK();  // other errors tell nothing either way
  return {Code::io_error,
          fmt::format("{}: the file was {} while open: commits made through this handle are not in the file "
                      "at this path",
                      path_, deleted ? "deleted" : "replaced")};
}

Status DbImpl::inherited_error() const {
  return {Code::invalid_argument,
          fmt::format("{}: this handle was opened before fork(); open the file again in this process", path_)};
}

Status DbImpl::check_writable() {
  if (inherited()) [[unlikely]] return inherited_error();
  if (closed_) return closed_error(path_);
  if (options_.read_only) return {Code::read_only, fmt::format("{}: opened read-only", path_)};
  return failure_.get();
}

void DbImpl::wait_for_commit(std::span<const uint32_t> channels, std::span<const uint32_t> seen,
                             std::chrono::steady_clock::time_point until) {
  if (shared_) {
    return shared_->wait_for_commit(channels, seen, until, options_.poll_spin, [&] { return file_->sync(); });
  }
  // Without the shared area, commits are only seen by reading the file:
  // look in growing steps.
  auto step = std::chrono::microseconds(200);
  while (std::chrono::steady_clock::now() < until) {
    if (!refresh().ok() || commit_epoch() != seen[0]) return;  // one epoch for every channel here
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(step, until - std::chrono::steady_clock::now()));
    step = std::min<std::chrono::microseconds>(step * 2, std::chrono::milliseconds(10));
  }
}

bool DbImpl::finish_orphaned_sync() {
  return shared_ && shared_->finish_orphaned_sync([&] { return file_->sync(); });
}

bool DbImpl::nothing_new_since(uint32_t channel, uint32_t seen) {
  if (!shared_ || inherited() || failure_.failed() || closed_.load(std::memory_order_relaxed)) return false;
  return shared_->commit_epoch(channel) == seen && !finish_orphaned_sync();
}

// ---- the write path ----

// Makes sure the head segment is allocated on disk up to `end`, through
// this handle's File: also where another process allocated it, so the File
// knows it may write there through its mapping (io::File::allocate). Only
// the segment being written: a segment begun past a gap (the previous one
// was left early) never allocates the space between. allocated_end_ counts
// only in the use of the segment it was allocated for (allocated_seq_): a
// segment reused since, below it or the very same one, is allocated afresh,
// step by step like a new one, since another process may have punched it (a
// write through the mapping into a hole needs a block, and a full disk
// would SIGBUS the process instead of failing the commit), and the File
// then forgets the range it allocated before.
Status DbImpl::ensure_allocated(uint64_t end) {
  const uint64_t segment =
      format::segment_start(format::segment_index(end - 1, header_.segment_size), header_.segment_size);
  const uint64_t segment_end = segment + header_.segment_size;
  if (allocated_seq_ != head_.segment_seq || allocated_end_ <= segment || allocated_end_ > segment_end) {
    allocated_end_ = segment;
    allocated_seq_ = head_.segment_seq;
  }
  if (end <= allocated_end_) return Status::OK();
  Result<uint64_t> size = map_->refresh_size();
  if (!size.ok()) return size.status();
  // Grow by a quarter of what the segment holds, between 64 KiB and 4 MiB:
  // small files stay small, big ones make few fallocate calls.
  uint64_t step = std::clamp<uint64_t>((end - segment) / 4, kMinAllocationStep, kMaxAllocationStep);
  uint64_t target = std::min((end + step + kMinAllocationStep - 1) / kMinAllocationStep * kMinAllocationStep,
                             segment_end);
  if (*size > target && *size <= segment_end) target = *size;
  target = std::max(target, end);
  RIVULET_TRY(file_->allocate(std::max(allocated_end_, segment), target));
  allocated_end_ = target;
  map_->note_size(target);
  return Status::OK();
}

Status DbImpl::sync_locked() {
  Status st = file_->sync();
  if (!st.ok()) {
    shared_->note_sync_failure(st);
    // After a failed fdatasync Linux may have dropped the dirty pages: what
    // the file holds is unknown, so stop (as PostgreSQL does).
    return fail({st.code(), fmt::format("{}: {}; commits since the last successful sync may be lost", path_,
                                        st.message())});
  }
  shared_->publish_durable(last_seq());
  return Status::OK();
}

// Records that every frame up to `durable_seq` is durable, and moves the log
// start to `checkpoint` (if given). The log is synced first: a superblock
// must never vouch for frames a power cut could still take. Unless `synced`
// is false (format 4, and the boot is known): then nothing is synced, the
// superblock says so, and it goes into the slot that does not hold the
// newest synced one, which stays for recovery to fall back to after a power
// cut; durable_seq does not move.
Status DbImpl::update_superblock_locked(uint64_t durable_seq, const log::ChainPos* checkpoint, bool synced) {
  RIVULET_TRY(reread_superblock_locked());
  // Without a synced slot to keep (the other is damaged), write a synced one.
  if (header_.format_version < 4 || boot_tag_ == 0 || superblock_choice_.synced < 0) synced = true;
  if (synced) RIVULET_TRY(sync_locked());
  format::Superblock sb = superblock_;
  // A checkpoint another writer made later than this one wins.
  bool move_start = checkpoint && checkpoint->next_seq > sb.first_seq;
  bool settle = synced && sb.unsynced_boot != 0;
  if ((sb.durable_seq >= durable_seq || !synced) && !move_start && !settle) return Status::OK();
  const int slot = 1 - (superblock_choice_.synced >= 0 ? superblock_choice_.synced : superblock_choice_.use);
  sb.generation = superblock_choice_.max_generation + 1;
  if (sb.generation % 2 != static_cast<uint64_t>(slot)) sb.generation += 1;
  if (synced) sb.durable_seq = std::max(sb.durable_seq, durable_seq);
  sb.unsynced_boot = synced ? 0 : boot_tag_;
  if (move_start) {
    sb.log_start = checkpoint->pos;
    sb.first_seq = checkpoint->next_seq;
    sb.first_prev_crc = checkpoint->prev_crc;
    sb.log_start_segment_seq = checkpoint->segment_seq;
    sb.checkpoint_pos = checkpoint->pos;
  }
  char out[format::kSuperblockSize];
  format::encode_superblock(sb, out);
  std::string_view part(out, sizeof out);
  RIVULET_TRY(file_->write_at(format::kSuperblockPos[slot], {&part, 1}));
  if (synced) RIVULET_TRY(sync_locked());
  return reread_superblock_locked();
}

void DbImpl::adopt_superblocks(const log::SuperblockSlots& slots, const log::SuperblockChoice& choice) {
  superblock_ = slots.slot[choice.use];
  superblock_choice_ = choice;
  if (choice.synced >= 0) synced_superblock_ = slots.slot[choice.synced];
}

// Another process may have written a newer superblock: take the newest on
// disk that may be used.
Status DbImpl::reread_superblock_locked() {
  char raw[2][format::kSuperblockSize];
  std::string_view bytes[2];
  for (int i = 0; i < 2; ++i) {
    RIVULET_TRY(file_->read_at(format::kSuperblockPos[i], raw[i], format::kSuperblockSize));
    bytes[i] = {raw[i], format::kSuperblockSize};
  }
  log::SuperblockSlots slots = log::decode_superblock_slots(bytes, header_.format_version);
  Result<log::SuperblockChoice> choice = log::choose_superblock(slots.slot, slots.valid, boot_tag_);
  if (!choice.ok()) return choice.status();
  if (slots.slot[choice->use].generation >= superblock_.generation) adopt_superblocks(slots, *choice);
  return Status::OK();
}

// The wake channels a frame moves: its partitions'. Every channel for
// metadata (a topic deleted under a reader ends its wait), for frames of
// many partitions, and for checkpoints and segment ends: a handle whose
// readers sleep through other partitions' commits still catches up at
// these, so the segment where its walk of the chain stands (which space
// reclaiming must keep) is never more than about one checkpoint interval
// or one segment behind.
static size_t wake_channels_of(const format::ParsedFrame& frame, std::array<uint32_t, 8>* out) {
  bool every = (frame.header.flags & (format::kFrameSegmentEnd | format::kFrameCheckpoint)) != 0;
  size_t n = 0;
  for (const format::BatchRef& b : frame.batches) {
    if (every || b.topic_id == format::kMetaTopicId) {
      every = true;
      break;
    }
    uint32_t c = DbImpl::wake_channel(b.topic_id, static_cast<int32_t>(b.partition));
    if (std::find(out->begin(), out->begin() + n, c) != out->begin() + n) continue;
    if (n == out->size()) {
      every = true;
      break;
    }
    (*out)[n++] = c;
  }
  if (!every) return n;
  (*out)[0] = DbImpl::kEveryChannel;
  return 1;
}

// Once a frame is whole in the file: publish it to the other handles,
// visible at once unless it must first be durable, then apply it here.
// Publishing first wakes waiting readers while the writer indexes the
// frame (they read it from the file, not from this handle). A frame this
// handle then fails to apply fails the handle; it is whole in the log
// either way, as after a crash at this point.
Status DbImpl::written_locked(const format::ParsedFrame& frame) {
  bool visible = options_.sync != Sync::full;
  std::array<uint32_t, 8> channels;
  size_t n = wake_channels_of(frame, &channels);
  shared_->publish_written(frame.header.seq, visible, std::span<const uint32_t>(channels.data(), n));
  RIVULET_TRY(apply_locked(frame));
  if (visible) make_visible_locked(frame.header.seq);
  return Status::OK();
}

// Ends the current segment with a segment-end frame naming where the chain
// goes on: the lowest free segment no reader may still be reading, else a
// new one at the end of the file. Under normal and full the log is synced
// and the superblock records it as durable, which bounds what a power cut
// can take and lets recovery call any earlier damage corruption.
Status DbImpl::roll_segment_locked() {
  if (Status st = check_still_named(); !st.ok()) return fail(st);
  RIVULET_TRY(reread_superblock_locked());
  Result<uint64_t> readable = reclaimable_below_locked();
  if (!readable.ok()) return readable.status();
  // The lowest free segment whose seq is below `bound`, else a new one.
  auto pick = [&](uint64_t bound) -> std::optional<uint32_t> {
    std::shared_lock state(state_mu_);
    const meta::SegmentTable& table = catalog_.segments();
    for (uint32_t i = 0; i < table.size(); ++i) {
      const meta::SegmentState& seg = table.at(i);
      if (seg.use == meta::SegmentState::Use::free && seg.seq < bound) return i;
    }
    return std::nullopt;
  };
  std::optional<uint32_t> reuse = pick(*readable);
  if (!reuse && superblock_.unsynced_boot != 0) {
    Result<uint64_t> unsynced = reclaimable_below_locked(false);
    if (!unsynced.ok()) return unsynced.status();
    if (pick(*unsynced)) {
      // Only the unsynced checkpoint freed one: sync it rather than grow.
      RIVULET_TRY(settle_superblock_locked());
      readable = reclaimable_below_locked();
      if (!readable.ok()) return readable.status();
      reuse = pick(*readable);
    }
  }
  uint32_t next;
  {
    std::shared_lock state(state_mu_);
    next = reuse.value_or(static_cast<uint32_t>(catalog_.segments().size()));
  }
  format::FrameHeader h;
  h.seq = head_.next_seq;
  h.synced_seq = shared_->durable_seq();
  h.writer_id = writer_id_;
  h.prev_crc = head_.prev_crc;
  h.flags = format::kFrameSegmentEnd;
  h.next_segment = next;
  std::string bytes;
  format::encode_frame_head(&h, {}, &bytes);
  RIVULET_TRY(ensure_allocated(head_.pos + bytes.size()));
  std::string_view part(bytes);
  RIVULET_TRY(file_->write_at(head_.pos, {&part, 1}));
  format::ParsedFrame frame;
  frame.position = head_.pos;
  frame.header = h;
  frame.bytes = bytes;
  RIVULET_TRY(written_locked(frame));
  if (options_.sync != Sync::off) RIVULET_TRY(update_superblock_locked(h.seq));
  return Status::OK();
}

// Segments whose segment_seq is below the returned value may be reused or
// punched now: they lie wholly before the checkpoint the newest synced
// superblock names (so recovery never reads them, even after a power cut)
// and before every live read mark. Bumping
// the reclaim epoch before reading the marks pairs with readers, which
// publish their mark before checking the epoch (ReaderImpl::pin): either
// this sees the mark, or the reader sees the bump and looks again.
Result<uint64_t> DbImpl::reclaimable_below_locked(bool synced_start) {
  shared_->bump_reclaim_epoch();
  Result<uint64_t> mark = shared_->lowest_read_mark();
  if (!mark.ok()) return mark.status();
  // Recovery after a power cut starts from the newest synced superblock.
  uint64_t start = !synced_start                    ? superblock_.log_start_segment_seq
                   : superblock_choice_.synced >= 0 ? synced_superblock_.log_start_segment_seq
                                                    : 0;
  return std::min(*mark, start);
}

// Gives the blocks of free segments back to the file system, so the file's
// size on disk follows its live data. The file never shrinks: other
// processes map it.
Status DbImpl::punch_free_locked() {
  Result<uint64_t> below = reclaimable_below_locked();
  if (!below.ok()) return below.status();
  std::vector<uint32_t> todo;
  {
    std::shared_lock state(state_mu_);
    const meta::SegmentTable& table = catalog_.segments();
    if (punched_.size() < table.size()) punched_.resize(table.size(), UINT64_MAX);
    for (uint32_t i = 0; i < table.size(); ++i) {
      const meta::SegmentState& seg = table.at(i);
      if (seg.use == meta::SegmentState::Use::free && seg.seq < *below && punched_[i] != seg.seq) todo.push_back(i);
    }
  }
  for (uint32_t i : todo) {
    RIVULET_TRY(file_->punch_hole(format::segment_start(i, header_.segment_size), header_.segment_size));
    std::shared_lock state(state_mu_);
    punched_[i] = catalog_.segments().at(i).seq;
  }
  return Status::OK();
}

// Faults in the pages of [data, data + size) in one call (MADV_POPULATE_WRITE,
// Linux 5.14): fresh pages faulted one by one cost ~11 us each on the
// development VM, twice as much as populated together. Advice only.
static void prefault_for_writing(char* data, size_t size) {
#ifdef MADV_POPULATE_WRITE
  const uintptr_t page = 4096;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + size) / page * page;
  if (end > begin + 16 * page) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
  (void)data;
  (void)size;
#endif
}

// Writes the catalog's state as a checkpoint (a run of frames), makes it
// durable and points the superblock at it; then segments before it that
// hold nothing live are free.
Status DbImpl::write_checkpoint_locked() {
  std::string state;
  // About the last one's size, and room to grow: no doubling copies.
  const uint64_t last = replay_->last_checkpoint_bytes();
  state.reserve(last + last / 4 + (64u << 10));
  prefault_for_writing(state.data(), state.capacity());
  {
    std::shared_lock lock(state_mu_);
    RIVULET_TRY(catalog_.encode_checkpoint(&state));
  }
  // Frames small enough for any segment, records small enough for a frame.
  const size_t chunk = std::min<size_t>(256u << 10, header_.segment_size / 8);
  const size_t per_frame = 4;
  std::vector<format::BatchBuilder> builders(per_frame);
  std::optional<log::ChainPos> start;
  for (size_t at = 0; at < state.size() || !start;) {
    std::vector<format::OutgoingBatch> out;
    for (size_t k = 0; k < per_frame && (at < state.size() || out.empty()); ++k) {
      std::string_view piece = std::string_view(state).substr(at, chunk);
      builders[k].reset();
      builders[k].add(std::nullopt, piece, {}, now_ms());
      out.push_back({format::kMetaTopicId, format::kCheckpointPartition, builders[k].finish(0)});
      at += piece.size();
    }
    bool last = at >= state.size();
    uint16_t flags = format::kFrameCheckpoint | (last ? format::kFrameCheckpointEnd : 0) |
                     (start ? 0 : format::kFrameCheckpointStart);
    RIVULET_TRY(write_frame_locked(out, flags, start ? nullptr : &start.emplace()));
    if (last) break;
  }
  RIVULET_TRY(update_superblock_locked(last_seq(), &*start, !unsynced_checkpoints()));
  return punch_free_locked();
}

bool DbImpl::unsynced_checkpoints() const {
  return header_.format_version >= 4 && boot_tag_ != 0 && options_.sync != Sync::full;
}

Status DbImpl::settle_superblock_locked() {
  if (superblock_.unsynced_boot == 0) return Status::OK();
  RIVULET_TRY(update_superblock_locked(last_seq()));
  return punch_free_locked();
}

Status DbImpl::maybe_checkpoint_locked(uint64_t threshold, uint64_t per_state) {
  // Read without state_mu_: only holders of follow_mu_ (the caller) change it.
  uint64_t since = replay_->bytes_since_checkpoint();
  threshold = std::max(threshold, per_state * replay_->last_checkpoint_bytes());
  if (since < threshold || since == 0) return Status::OK();
  Status st = write_checkpoint_locked();
  if (!st.ok()) return with_path(path_, {st.code(), "while writing a checkpoint: " + st.message(), st.position()});
  return Status::OK();
}

Status DbImpl::clean_step_locked(const db::CleanerLimits& limits, uint64_t budget, uint64_t* read) {
  std::vector<db::Relocation> moves;
  uint64_t looked = 0;
  Status st;
  {
    std::shared_lock state(state_mu_);
    st = cleaner_.plan(catalog_, *map_, head_.pos, limits, budget, now_ms(), &moves, &looked);
  }
  if (st.ok()) st = write_relocations_locked(moves);
  // A step not written (ENOSPC) is planned again: moving on past it would
  // leave its segments uncleaned, or its batches uncompacted while the pass
  // drops the tombstones that deleted their records.
  cleaner_.step_done(st.ok());
  RIVULET_TRY(st);
  if (read) *read += looked;
  return Status::OK();
}

Status DbImpl::write_relocations_locked(const std::vector<db::Relocation>& moves) {
  const uint64_t max_frame = max_frame_bytes();
  std::vector<format::OutgoingBatch> out;
  for (const db::Relocation& m : moves) {
    format::OutgoingBatch b{m.topic_id, m.partition, m.bytes};
    out.push_back(b);
    if (out.size() > 1 && (out.size() > 65535 || format::frame_length(out) > max_frame)) {
      out.pop_back();
      RIVULET_TRY(write_frame_locked(out, format::kFrameRelocated));
      out.assign(1, b);
    }
  }
  if (!out.empty()) RIVULET_TRY(write_frame_locked(out, format::kFrameRelocated));
  return Status::OK();
}

// Cleaning owes as many bytes as the log grew by since the last relocated
// frame (written by any handle), in steps of at least kMinCleanStep. A
// step that found nothing to clean is not tried again for as long.
Status DbImpl::maybe_clean_locked() {
  // Read without state_mu_: only holders of follow_mu_ (the caller) change them.
  uint64_t owed = catalog_.appended_since_cleaning();
  uint64_t appended = catalog_.appended();
  if (owed < kMinCleanStep || appended < idle_cleaner_until_) return Status::OK();
  uint64_t read = 0;
  Status st = clean_step_locked(db::CleanerLimits{}, std::min(owed, kMaxCleanStep), &read);
  if (st.ok() && read == 0) idle_cleaner_until_ = appended + kMinCleanStep;
  if (!st.ok()) return with_path(path_, {st.code(), "while cleaning: " + st.message(), st.position()});
  return Status::OK();
}

// A full pass: every segment that existed when it began and is not nearly
// full of live batches is emptied, every compact partition compacted; then a
// synced checkpoint frees what that left dead and the blocks are punched. Steps
// take the writer lock one at a time, so other writers go on meanwhile.
Result<VacuumReport> DbImpl::vacuum(const std::function<void(uint64_t done, uint64_t total)>& progress) {
  RIVULET_TRY(check_writable());  // file_ is gone after close()
  VacuumReport report;
  Result<uint64_t> before = file_->disk_bytes();
  if (!before.ok()) return before.status();
  report.disk_bytes_before = *before;
  db::CleanerLimits limits;
  limits.max_live_fraction = 0.98;
  limits.spare_retention = false;
  limits.min_dirty_fraction = 0;
  limits.min_dirty_bytes = 1;
  limits.set_damage_aside = false;  // a vacuum that meets damage says so
  uint64_t total = 0;
  RIVULET_TRY(with_path(path_, write_locked([&] {
    // The segment being written is never cleaned: if it holds dead bytes,
    // end it first (a small file may have only this one).
    bool roll = false;
    {
      std::shared_lock state(state_mu_);
      roll = catalog_.segments().at(catalog_.segments().index_of(head_.pos)).dead > 0;
    }
    if (roll) RIVULET_TRY(roll_segment_locked());
    cleaner_.forget_passes();  // every compact partition, whatever was written since its last pass
    std::shared_lock state(state_mu_);
    limits.below_seq = head_.segment_seq;
    total = cleaner_.pending_bytes(catalog_, head_.pos, limits);
    return Status::OK();
  })));
  // Other writers may add to the work; this bounds it.
  const uint64_t limit = 2 * total + (64u << 20);
  for (uint64_t done = 0;;) {
    if (progress) progress(std::min(done, total), total);
    uint64_t read = 0;
    RIVULET_TRY(with_path(path_, write_locked([&] { return clean_step_locked(limits, kMaxCleanStep, &read); })));
    done += read;
    report.bytes_read += read;
    if (read == 0 || done > limit) break;
  }
  if (progress) progress(total, total);
  // Synced, whatever the mode: the caller asked for the space now.
  RIVULET_TRY(with_path(path_, write_locked([&] {
    RIVULET_TRY(write_checkpoint_locked());
    return settle_superblock_locked();
  })));
  Result<uint64_t> after = file_->disk_bytes();
  if (!after.ok()) return after.status();
  report.disk_bytes_after = *after;
  return report;
}

Status DbImpl::write_frame_locked(std::span<const format::OutgoingBatch> batches, uint16_t flags,
                                  log::ChainPos* written_at) {
  format::FrameHeader h;
  h.flags = flags;
  h.writer_id = writer_id_;
  h.frame_length = static_cast<uint32_t>(std::min<uint64_t>(format::frame_length(batches), UINT32_MAX));
  uint64_t max_frame = max_frame_bytes();
  if (h.frame_length > max_frame) {
    return {Code::too_large, fmt::format("{}: commit of {} bytes does not fit in a segment ({} bytes at most)",
                                         path_, h.frame_length, max_frame)};
  }
  // A frame must leave room after it for a segment-end frame.
  if (head_.pos + format::align8(h.frame_length) + format::kFrameHeaderSize > scanner_->segment_end(head_.pos)) {
    RIVULET_TRY(roll_segment_locked());
  }
  if (written_at) *written_at = head_;
  written_since_retention_ += h.frame_length;
  h.seq = head_.next_seq;
  h.synced_seq = shared_->durable_seq();
  h.prev_crc = head_.prev_crc;
  std::string& head = frame_head_;
  format::encode_frame_head(&h, batches, &head);

  uint64_t pos = head_.pos;
  bool new_segment = pos == format::segment_start(format::segment_index(pos, header_.segment_size),
                                                  header_.segment_size) +
                                format::kSegmentHeaderSize;
  char seg[format::kSegmentHeaderSize];
  std::vector<std::string_view>& parts = frame_parts_;
  parts.clear();
  if (new_segment) {
    format::encode_segment_header({head_.segment_seq, h.seq, writer_id_}, seg);
    parts.emplace_back(seg, sizeof seg);
  }
  parts.emplace_back(head);
  for (const format::OutgoingBatch& b : batches) parts.emplace_back(b.bytes);
  uint64_t write_pos = new_segment ? pos - format::kSegmentHeaderSize : pos;
  RIVULET_TRY(ensure_allocated(pos + h.frame_length));
  Status st = file_->write_at(write_pos, parts);
  if (!st.ok()) {
    // Part of the frame may be on disk; wipe its header so that no reader
    // can ever take it, or stop if even that fails.
    char zeros[format::kFrameHeaderSize] = {};
    std::string_view z(zeros, sizeof zeros);
    if (!file_->write_at(pos, {&z, 1}).ok()) return fail(st);
    return st;
  }

  format::ParsedFrame& frame = written_frame_;
  frame.position = pos;
  frame.header = h;
  frame.batches.clear();
  uint64_t at = pos + head.size();
  for (const format::OutgoingBatch& b : batches) {
    // Apply decodes metadata and offset batches from the caller's buffers:
    // copying the frame would cost a large transaction more than writing it.
    format::BatchRef ref{b.topic_id, b.partition, at, {}, b.bytes};
    RIVULET_TRY(format::parse_batch_header(b.bytes, at, &ref.header));
    frame.batches.push_back(ref);
    at += b.bytes.size();
  }
  return written_locked(frame);
}

Status DbImpl::write_locked(const std::function<Status()>& locked) {
  // Before the queue: a parent thread leading a commit at fork() left the
  // child's copy of the queue saying a leader is writing.
  if (inherited()) [[unlikely]] return inherited_error();
  uint64_t last_written = 0;
  try {
    return commits_.run(
        locked, [&](db::CommitQueue::Group group) { last_written = write_group(group); },
        [&](db::CommitQueue::Group group) {
          if (options_.sync == Sync::full) sync_group(group, last_written);
        });
  } catch (const std::exception& e) {
    // Out of memory midway: the locks are released on the way out, but
    // what this handle knows of the log may be half updated.
    return fail({Code::io_error, fmt::format("{} while committing; the commit may or may not be in the file", e.what())});
  } catch (...) {
    return fail({Code::io_error, "an exception while committing; the commit may or may not be in the file"});
  }
}

namespace {
// Releases the writer lock however its scope ends: a holder that lives on
// after an exception (out of memory) would otherwise keep it for ever, as
// it counts as alive.
struct WriterLockGuard {
  coord::SharedState* shared;
  ~WriterLockGuard() { shared->unlock_writer(); }
};
}  // namespace

uint64_t DbImpl::write_group(db::CommitQueue::Group group) {
  auto fail_all = [&](const Status& st) {
    for (db::CommitQueue::Member* m : group) m->status = st;
    return uint64_t{0};
  };
  Status st = check_writable();
  if (!st.ok()) return fail_all(st);
  shared_->begin_write();
  struct EndWrite {
    coord::SharedState* s;
    ~EndWrite() { s->end_write(); }
  } end_write{shared_.get()};
  std::lock_guard write(write_mu_);
  st = check_writable();
  // Frames other processes wrote are replayed before the writer lock is
  // taken, as a reader would: under it, only those written meanwhile.
  // Otherwise each writer replays the others' frames while they queue for
  // the lock, and 16 processes committing at once were held to ~40 k
  // commits/s by that serial work (16 threads of one handle: ~70 k/s).
  if (st.ok()) st = refresh();
  if (!st.ok()) return fail_all(st);
  bool took_over = false;  // a dead holder's half frame, if any, is overwritten
  st = shared_->lock_writer(&took_over);
  if (!st.ok()) return fail_all(st);
  WriterLockGuard unlock{shared_.get()};
  uint64_t last_written = 0;
  {
    std::unique_lock follow(follow_mu_);
    st = catch_up_locked();
    for (db::CommitQueue::Member* m : group) {
      // Upkeep comes before each caller's frames: if it fails, that commit
      // fails whole, never after its frame is in the log.
      Status mine = st.ok() ? check_writable() : st;
      if (mine.ok()) mine = apply_retention_locked();
      if (mine.ok()) mine = maybe_clean_locked();
      if (mine.ok()) mine = maybe_checkpoint_locked(options_.checkpoint_bytes, kLogPerCheckpointByte);
      if (mine.ok()) mine = (*m->work)();
      m->status = mine;
    }
    last_written = last_seq();
  }
  return last_written;
}

// Group commit: the writer lock is free again, so other committers (in
// this handle's next group and in other processes) write their frames while
// one fdatasync runs for all of them.
void DbImpl::sync_group(db::CommitQueue::Group group, uint64_t last_written) {
  bool any_ok = false;
  for (db::CommitQueue::Member* m : group) any_ok |= m->status.ok();
  if (!any_ok) return;
  Status st = shared_->sync_through(last_written, [&] { return file_->sync(); });
  if (st.ok()) return;  // visible now; readers see the frames at their next refresh
  st = fail({st.code(), fmt::format("{}: {}; the last commit may or may not be in the file", path_, st.message())});
  for (db::CommitQueue::Member* m : group) {
    if (m->status.ok()) m->status = st;
  }
}

Status DbImpl::commit(WriteBatch::Rep& batch) {
  if (batch.committed) return {Code::invalid_argument, "this batch was already committed; clear() it first"};
  if (batch.parts.empty()) return Status::OK();
  if (batch.parts.size() > WriteBatch::Rep::kMaxParts) {  // add() refuses more: a backstop
    return {Code::too_large, fmt::format("{}: a commit may hold at most {} partitions", path_,
                                         WriteBatch::Rep::kMaxParts)};
  }
  Status st = write_locked([&]() -> Status {
    std::vector<format::OutgoingBatch>& out = outgoing_;
    out.clear();
    int64_t append_time = -1;  // read only for log_append_time topics
    {
      std::shared_lock state(state_mu_);
      for (WriteBatch::Rep::Part& p : batch.parts) {
        const meta::TopicState* t = catalog_.by_id(p.topic_id);
        if (!t || t->deleted) {
          return Status(Code::not_found, fmt::format("{}: topic '{}' was deleted before the commit", path_,
                                                     t ? t->name : std::to_string(p.topic_id)));
        }
        p.base_offset = t->partitions[static_cast<size_t>(p.partition)].next_offset;
        RIVULET_TRY(offsets_left(t->name, p.partition, p.base_offset, p.builder.count()));
        // As the topic is now: add() may have seen it before another handle
        // changed its timestamp type.
        p.log_append_time = t->config.timestamp_type == TimestampType::log_append_time;
        if (p.log_append_time && append_time < 0) append_time = now_ms();
        std::string_view bytes = p.builder.finish(p.base_offset, p.log_append_time ? append_time : -1);
        out.push_back({p.topic_id, static_cast<uint32_t>(p.partition), bytes});
      }
    }
    batch.append_time = append_time;
    return write_frame_locked(out);
  });
  if (st.ok()) {
    batch.committed = true;
  } else {
    for (WriteBatch::Rep::Part& p : batch.parts) p.base_offset = -1;
  }
  return st;
}

// Only a damaged checkpoint can bring a partition near kOffsetLimit: refuse
// to write a batch that every reader would then call corrupt.
Status DbImpl::offsets_left(std::string_view topic, int32_t partition, int64_t next, uint64_t count) const {
  if (count <= static_cast<uint64_t>(format::kOffsetLimit - next)) return Status::OK();
  return {Code::corruption, fmt::format("{}: '{}' partition {} is at offset {}, too near the offset limit {} for {} "
                                        "more records (the file is damaged)",
                                        path_, topic, partition, next, format::kOffsetLimit, count)};
}

// Writes one metadata change in a frame of its own. `prepare` checks the
// change against the catalog (caught up, under the writer lock) and fills
// it in, or leaves topic_id 0 when there is nothing to change. `then`, if
// given, runs after the frame, under the same writer lock.
Status DbImpl::commit_meta(const std::function<Status(format::MetaChange*)>& prepare,
                           const std::function<Status()>& then) {
  Status st = write_locked([&]() -> Status {
    format::MetaChange change;
    {
      std::shared_lock state(state_mu_);
      RIVULET_TRY(prepare(&change));
    }
    if (change.topic_id == 0) return Status::OK();  // nothing to change
    RIVULET_TRY(write_meta_locked({&change, 1}));
    return then ? then() : Status::OK();
  });
  return with_path(path_, st);
}

// Metadata changes in one batch of one frame (the writer lock is held).
Status DbImpl::write_meta_locked(std::span<const format::MetaChange> changes) {
  int64_t base = 0;
  {
    std::shared_lock state(state_mu_);
    base = catalog_.by_id(format::kMetaTopicId)->partitions[0].next_offset;
  }
  RIVULET_TRY(offsets_left(format::kMetaTopicName, 0, base, changes.size()));
  format::BatchBuilder builder;
  int64_t now = now_ms();
  for (const format::MetaChange& change : changes) {
    format::EncodedMeta m = format::encode_meta(change);
    builder.add(std::string_view(m.key), std::string_view(m.value), {}, now);
  }
  format::OutgoingBatch b{format::kMetaTopicId, 0, builder.finish(base)};
  return write_frame_locked({&b, 1});
}

// Retention runs inline, as SQLite does its upkeep: the first write of this
// handle after each second moves the earliest offsets that retention.ms and
// retention.bytes allow, in a frame before the caller's.
Status DbImpl::apply_retention_locked() {
  auto now = coarse_steady_now();
  if (now < next_retention_ && written_since_retention_ < std::min(kRetentionEveryBytes, options_.checkpoint_bytes)) {
    return Status::OK();
  }
  next_retention_ = now + std::chrono::seconds(1);
  written_since_retention_ = 0;
  std::vector<format::MetaChange> changes;
  {
    std::shared_lock state(state_mu_);
    changes = db::retention_changes(catalog_, now_ms(), kMaxRetentionChanges);
  }
  if (changes.empty()) return Status::OK();
  if (changes.size() == kMaxRetentionChanges) next_retention_ = now;  // more to do: again next write
  Status st = write_meta_locked(changes);
  if (!st.ok()) return {st.code(), "while applying retention: " + st.message(), st.position()};
  return Status::OK();
}

Status DbImpl::alter_topic(std::string_view name, const TopicConfig& config) {
  // A shorter retention applies now, not at this handle's next write. The
  // config is written by then: retention failing here (a full disk) must not
  // report the alter as failed. The next write tries again, and reports it.
  auto retain_now = [&] {
    next_retention_ = {};
    if (!apply_retention_locked().ok()) next_retention_ = {};
    return Status::OK();
  };
  return commit_meta([&](format::MetaChange* change) {
    if (meta::Catalog::is_internal(name)) {
      return Status(Code::invalid_argument, fmt::format("topic '{}' is internal: Rivulet configures it", name));
    }
    const meta::TopicState* t = catalog_.find(name);
    if (!t) return Status(Code::not_found, fmt::format("unknown topic '{}'", name));
    RIVULET_TRY(meta::check_topic_config(name, config));
    if (config.partitions != t->config.partitions) {
      return Status(Code::invalid_argument, fmt::format("topic '{}' has {} partitions; altering cannot change that",
                                                        name, t->config.partitions));
    }
    change->kind = format::MetaChange::Kind::topic_config;
    change->topic_id = t->id;
    change->name = std::string(name);
    change->config = config;
    return Status::OK();
  }, retain_now);
}

Status DbImpl::delete_records(std::string_view topic, int32_t partition, int64_t before_offset) {
  return commit_meta([&](format::MetaChange* change) {
    const meta::TopicState* t = meta::Catalog::is_internal(topic) ? nullptr : catalog_.find(topic);
    if (!t) return Status(Code::not_found, fmt::format("unknown topic '{}'", topic));
    if (partition < 0 || static_cast<size_t>(partition) >= t->partitions.size()) {
      return Status(Code::out_of_range,
                    fmt::format("topic '{}' has no partition {} (it has {})", topic, partition, t->partitions.size()));
    }
    const meta::PartitionState& p = t->partitions[static_cast<size_t>(partition)];
    if (before_offset < 0 || before_offset > p.visible_end) {
      return Status(Code::out_of_range, fmt::format("offset {} is outside '{}' partition {} ({} to {})",
                                                    before_offset, topic, partition, p.first_offset, p.visible_end));
    }
    // Already gone: nothing to write (the earliest offset never moves back).
    if (before_offset <= p.first_offset) return Status::OK();
    // A batch list that does not decode says not which batches to drop:
    // refused as a reader would be, or their space would never free.
    RIVULET_TRY(p.index.load());
    change->kind = format::MetaChange::Kind::partition_start;
    change->topic_id = t->id;
    change->partition = partition;
    change->start_offset = before_offset;
    return Status::OK();
  });
}

Status DbImpl::create_topic(std::string_view name, const TopicConfig& config) {
  return commit_meta([&](format::MetaChange* change) {
    RIVULET_TRY(catalog_.check_create(name, config));
    change->kind = format::MetaChange::Kind::topic_create;
    change->topic_id = catalog_.next_topic_id();
    change->name = std::string(name);
    change->config = config;
    return Status::OK();
  });
}

Status DbImpl::delete_topic(std::string_view name) {
  return commit_meta([&](format::MetaChange* change) {
    // Replay refuses the deletion of the offsets topic as corruption: the
    // frame must never be written.
    if (meta::Catalog::is_internal(name)) {
      return Status(Code::invalid_argument, fmt::format("topic '{}' is internal: it cannot be deleted", name));
    }
    const meta::TopicState* t = catalog_.find(name);
    if (!t) return Status(Code::not_found, fmt::format("unknown topic '{}'", name));
    change->kind = format::MetaChange::Kind::topic_delete;
    change->topic_id = t->id;
    change->name = std::string(name);
    return Status::OK();
  });
}

static void fill_cached(const meta::TopicState& t, WriteBatch::Rep::CachedTopic* out) {
  out->name = t.name;
  out->id = t.id;
  out->partitions = static_cast<int32_t>(t.partitions.size());
  out->config = t.config;
  out->round_robin = &const_cast<meta::TopicState&>(t).round_robin;
  out->changes = &t.changes;
  out->changes_seen = t.changes.load(std::memory_order_relaxed);  // under the state lock
}

Status DbImpl::resolve_topic(std::string_view name, WriteBatch::Rep::CachedTopic* out, bool create) {
  if (meta::Catalog::is_internal(name)) {
    return {Code::invalid_argument, fmt::format("{}: topic '{}' is internal: Rivulet writes it itself", path_, name)};
  }
  auto lookup = [&] {
    std::shared_lock state(state_mu_);
    const meta::TopicState* t = catalog_.find(name);
    if (t) fill_cached(*t, out);
    return t != nullptr;
  };
  if (lookup()) return Status::OK();
  RIVULET_TRY(refresh());  // another process may have created it since we last looked
  if (lookup()) return Status::OK();
  // A name no topic can have: say why, rather than how to create it.
  if (Status valid = meta::Catalog::validate_name(name); !valid.ok()) return with_path(path_, valid);
  if (!create || !options_.auto_create_topics || options_.read_only) {
    return {Code::not_found, fmt::format("{}: unknown topic '{}' (create it with: rivulet {} topic create {})",
                                         path_, name, path_, name)};
  }
  TopicConfig config;
  config.partitions = options_.auto_create_partitions;
  Status st = create_topic(name, config);
  if (!st.ok() && st.code() != Code::already_exists) return st;
  if (lookup()) return Status::OK();
  return {Code::not_found, fmt::format("{}: topic '{}' vanished while being created", path_, name)};
}

Status DbImpl::resolve_offsets_topic(uint32_t* id) {
  auto lookup = [&] {
    std::shared_lock state(state_mu_);
    *id = catalog_.offsets_topic_id();
    return *id != 0;
  };
  if (lookup()) return Status::OK();
  RIVULET_TRY(refresh());
  if (lookup()) return Status::OK();
  RIVULET_TRY(check_writable());
  Status st = commit_meta([&](format::MetaChange* change) {
    if (catalog_.offsets_topic_id() != 0) return Status(Code::already_exists, "created meanwhile");
    change->kind = format::MetaChange::Kind::topic_create;
    change->topic_id = catalog_.next_topic_id();
    change->name = std::string(format::kOffsetsTopicName);
    change->config.partitions = 1;
    change->config.max_message_bytes = UINT32_MAX;
    return Status::OK();
  });
  if (!st.ok() && st.code() != Code::already_exists) return st;
  if (lookup()) return Status::OK();
  return {Code::not_found, fmt::format("{}: the offsets topic vanished while being created", path_)};
}

// ---- consumer groups ----

Status DbImpl::commit_offsets(std::string_view group, std::span<const OffsetCommit> offsets) {
  WriteBatch::Rep batch;
  batch.db = this;
  for (const OffsetCommit& o : offsets) RIVULET_TRY(batch.add_offset(group, o));
  return commit(batch);
}

Result<std::optional<CommittedOffset>> DbImpl::committed(std::string_view group, std::string_view topic,
                                                         int32_t partition) {
  RIVULET_TRY(refresh());
  std::shared_lock state(state_mu_);
  std::optional<meta::Committed> c = catalog_.offsets().visible(std::string(group), std::string(topic), partition);
  if (!c) return std::optional<CommittedOffset>();
  return std::optional<CommittedOffset>(CommittedOffset{c->offset, c->metadata, c->commit_ms});
}

GroupInfo DbImpl::describe(const std::string& name, const meta::GroupOffsets::Group& group) const {
  GroupInfo info;
  info.name = name;
  for (const auto& [tp, c] : group) {
    GroupPartitionInfo p;
    p.topic = tp.first;
    p.partition = tp.second;
    p.committed = {c.offset, c.metadata, c.commit_ms};
    const meta::TopicState* t = catalog_.find(tp.first);
    if (t && static_cast<size_t>(tp.second) < t->partitions.size()) {
      p.end_offset = t->partitions[static_cast<size_t>(tp.second)].visible_end;
      p.lag = std::max<int64_t>(0, p.end_offset - c.offset);
    }
    info.partitions.push_back(std::move(p));
  }
  return info;
}

// Groups with committed offsets or live members (or both), by name.
Result<std::vector<GroupInfo>> DbImpl::groups_now() {
  std::vector<TopicInfo> topics;
  std::vector<GroupInfo> out;
  {
    RIVULET_TRY(refresh());
    std::shared_lock state(state_mu_);
    for (const meta::TopicState* t : catalog_.live_topics()) topics.push_back(describe(*t));
    for (const auto& [name, group] : catalog_.offsets().visible_groups()) out.push_back(describe(name, group));
  }
  if (!shared_) return out;
  Result<std::vector<GroupInfo>> live = group::live_groups(*shared_, topics);
  if (!live.ok()) return live.status();
  for (GroupInfo& g : *live) {
    auto it = std::lower_bound(out.begin(), out.end(), g.name,
                               [](const GroupInfo& a, const std::string& name) { return a.name < name; });
    if (it != out.end() && it->name == g.name) {
      it->members = std::move(g.members);
    } else {
      out.insert(it, std::move(g));
    }
  }
  return out;
}

Result<std::vector<GroupInfo>> DbImpl::list_groups() { return groups_now(); }

Result<GroupInfo> DbImpl::describe_group(std::string_view group) {
  Result<std::vector<GroupInfo>> all = groups_now();
  if (!all.ok()) return all.status();
  for (GroupInfo& g : *all) {
    if (g.name == group) return std::move(g);
  }
  return Status(Code::not_found,
                fmt::format("{}: group '{}' has no committed offsets and no live members", path_, group));
}

Status DbImpl::delete_group(std::string_view group) {
  Result<GroupInfo> info = describe_group(group);
  if (!info.ok()) return info.status();
  if (!info->members.empty()) {
    // As Kafka refuses to delete a non-empty group: its members would commit
    // again, and they read from the offsets being deleted.
    return Status(Code::busy, fmt::format("{}: group '{}' has {} live member(s); stop them first", path_, group,
                                          info->members.size()));
  }
  if (info->partitions.empty()) {
    return Status(Code::not_found, fmt::format("{}: group '{}' has no committed offsets", path_, group));
  }
  WriteBatch::Rep batch;
  batch.db = this;
  for (const GroupPartitionInfo& p : info->partitions) {
    RIVULET_TRY(batch.add_offset_record({std::string(group), p.topic, p.partition}, std::nullopt));
  }
  return commit(batch);
}

// ---- reading state ----

TopicInfo DbImpl::describe(const meta::TopicState& t) const {
  TopicInfo info;
  info.name = t.name;
  info.id = t.id;
  info.config = t.config;
  for (size_t i = 0; i < t.partitions.size(); ++i) {
    const meta::PartitionState& p = t.partitions[i];
    info.partitions.push_back({static_cast<int32_t>(i), p.first_offset, p.visible_end,
                               p.visible_end - p.first_offset, p.bytes, p.dead_bytes});
  }
  return info;
}

Result<std::vector<TopicInfo>> DbImpl::list_topics() {
  RIVULET_TRY(refresh());
  std::shared_lock state(state_mu_);
  std::vector<TopicInfo> out;
  for (const meta::TopicState* t : catalog_.live_topics()) out.push_back(describe(*t));
  return out;
}

Result<TopicInfo> DbImpl::describe_topic(std::string_view name) {
  RIVULET_TRY(refresh());
  std::shared_lock state(state_mu_);
  // Internal topics are hidden, as from list_topics.
  const meta::TopicState* t = meta::Catalog::is_internal(name) ? nullptr : catalog_.find(name);
  if (!t) return Status(Code::not_found, fmt::format("{}: unknown topic '{}'", path_, name));
  return describe(*t);
}

Result<DbStats> DbImpl::stat() {
  RIVULET_TRY(refresh());
  Result<uint64_t> size = map_->refresh_size();
  if (!size.ok()) return size.status();
  Result<uint64_t> disk = file_->disk_bytes();
  if (!disk.ok()) return disk.status();
  Result<log::FileStart> start = log::read_file_start(*file_, boot_tag_);  // the superblock now
  if (!start.ok()) return start.status();
  std::shared_lock state(state_mu_);
  DbStats s;
  s.disk_bytes = *disk;
  s.path = path_;
  s.format_version = header_.format_version;
  s.file_size = *size;
  s.log_end = head_.pos;
  s.segment_size = header_.segment_size;
  s.checkpoint_position = start->superblock.checkpoint_pos;
  s.frames = frames_;
  const meta::SegmentTable& table = catalog_.segments();
  for (uint32_t i = 0; i < table.size(); ++i) {
    const meta::SegmentState& seg = table.at(i);
    if (seg.use == meta::SegmentState::Use::unused) continue;
    bool free = seg.use == meta::SegmentState::Use::free;
    s.segments.push_back({i, seg.seq, free ? SegmentInfo::State::free : SegmentInfo::State::in_use, seg.live, seg.dead});
    if (!free) ++s.segments_used;
  }
  if (shared_) {
    Result<uint32_t> handles = shared_->live_handles();
    if (!handles.ok()) return handles.status();
    s.open_handles = *handles;
    Result<uint64_t> mark = shared_->lowest_read_mark();
    if (!mark.ok()) return mark.status();
    s.lowest_read_mark = *mark;
  }
  for (const meta::TopicState* t : catalog_.live_topics()) s.topics.push_back(describe(*t));
  return s;
}

Result<std::unique_ptr<ReaderImpl>> DbImpl::reader(std::string_view topic, int32_t partition, StartAt start) {
  RIVULET_TRY(refresh());
  uint32_t id;
  {
    std::shared_lock state(state_mu_);
    // The offsets topic holds the file's private encoding of group offsets.
    const meta::TopicState* t = meta::Catalog::is_internal(topic) ? nullptr : catalog_.find(topic);
    if (!t) return Status(Code::not_found, fmt::format("{}: unknown topic '{}'", path_, topic));
    if (partition < 0 || static_cast<size_t>(partition) >= t->partitions.size()) {
      return Status(Code::out_of_range, fmt::format("{}: topic '{}' has no partition {} (it has {})", path_,
                                                    topic, partition, t->partitions.size()));
    }
    id = t->id;
  }
  auto r = std::make_unique<ReaderImpl>(this, std::string(topic), id, partition);
  RIVULET_TRY(r->seek(start));
  return r;
}

Status DbImpl::close() {
  if (closed_) return Status::OK();
  if (inherited()) {
    // A child forked after open: the file and the shared area are the
    // parent's (and inert here, see io/fork_guard.hpp), and a parent
    // thread may have held any of this handle's mutexes at fork(), in this
    // copy for ever. Touch nothing; Db's destructor leaks the rest.
    closed_ = true;
    return Status::OK();
  }
  Status st;
  {
    std::lock_guard write(write_mu_);
    if (!options_.read_only && !failure_.failed() && shared_ &&
        header_.format_version >= format::kOldestWritableVersion) {
      // A checkpoint keeps the next open short. Otherwise, record how far
      // the log is durable, so that later damage before this point is
      // reported as corruption rather than cut off as a torn tail.
      bool took_over = false;
      st = shared_->lock_writer(&took_over);
      if (st.ok()) {
        WriterLockGuard unlock{shared_.get()};
        try {
          std::unique_lock follow(follow_mu_);
          st = catch_up_locked();
          if (st.ok()) st = maybe_checkpoint_locked(std::min(kCheckpointAtClose, options_.checkpoint_bytes),
                                                      kLogPerCheckpointByteAtClose);
          if (st.ok() && options_.sync != Sync::off &&
              (last_seq() > superblock_.durable_seq || superblock_.unsynced_boot != 0)) {
            st = update_superblock_locked(last_seq());
          }
        } catch (const std::exception& e) {
          st = {Code::io_error, fmt::format("{}: {} while closing", path_, e.what())};
        }
      }
    }
    if (st.ok() && !options_.read_only && !failure_.failed()) st = check_still_named();
    closed_ = true;
  }
  marks_.attach(nullptr);
  shared_.reset();
  map_.reset();
  file_.reset();
  return st;
}

}  // namespace rivulet
