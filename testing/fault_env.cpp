// FaultEnv (see fault_env.hpp): fault injection and power-cut simulation on
// top of another Env. Power cuts are simulated by undoing, on the real files,
// the changes made since each file's last sync, newest first, using the bytes
// each change overwrote (saved before it was forwarded).
#include "fault_env.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

namespace rivulet::testing {

struct FaultEnv::State {
  // One write or size change not yet covered by a successful sync.
  struct Change {
    enum class Kind { write, truncate, allocate } kind = Kind::write;
    uint64_t pos = 0;       // write: first byte written
    uint64_t len = 0;       // write: bytes written
    uint64_t old_size = 0;  // the file's size before the change
    uint64_t new_size = 0;  // truncate, allocate: the size after
    // write: what [pos, min(pos + len, old_size)) held before;
    // truncate: what [new_size, old_size) held before (when shrinking).
    std::string old_bytes;
  };

  // A File opened through the env. `base` is null once the File is dead.
  struct Handle {
    std::shared_ptr<io::File> base;
    std::shared_ptr<io::SharedFile> shared;  // for a shared file instead
  };

  enum class Action { proceed, fail, cut };
  class Fates;  // which unsynced changes a power cut keeps

  explicit State(io::Env* b) : base(b) {}

  io::Env* const base;
  std::mutex mu;
  uint64_t ops = 0;
  uint32_t power_cuts = 0;
  // Boots of different envs differ too: a test may look at a file through
  // a new env after another one cut the power.
  const uint32_t instance = [] {
    static std::atomic<uint32_t> next{0};
    return next.fetch_add(1);
  }();

  bool fail_armed = false;
  uint64_t fail_n = 0;
  Fault fault = Fault::eio;
  bool sticky = false;

  bool cut_armed = false;
  uint64_t cut_n = 0;
  uint64_t cut_seed = 0;
  bool cut_fired = false;

  std::map<std::string, std::vector<Change>> unsynced;  // by path
  std::set<Handle*> open;

  // Counts one mutating call and says what to do with it. Runs the armed
  // power cut itself. Caller holds mu.
  Action next_op();
  void kill_open_files();
  Status power_cut(Fates& fates);
  Status restore_file(const std::string& path, const std::vector<Change>& changes, Fates& fates);
};

namespace {

using Change = FaultEnv::State::Change;

constexpr uint64_t kSector = 512;

// SplitMix64: tiny, and unlike <random>'s distributions it gives the same
// numbers with every standard library, so a seed names one outcome.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t s_;
};

}  // namespace

// Decides which unsynced changes survive a power cut.
class FaultEnv::State::Fates {
 public:
  enum class Mode { keep_all, lose_all, per_sector };

  // Loses everything.
  Fates() : random_(false), rng_(0) {}
  explicit Fates(uint64_t seed) : random_(true), rng_(seed) {}

  Mode change_mode() {
    if (!random_) return Mode::lose_all;
    switch (rng_.next() % 4) {
      case 0:
        return Mode::keep_all;
      case 1:
        return Mode::lose_all;
      default:
        return Mode::per_sector;
    }
  }

  // How many leading bytes of a len-byte piece of one sector survive.
  uint64_t surviving_prefix(Mode mode, uint64_t len) {
    if (mode == Mode::keep_all) return len;
    if (mode == Mode::lose_all) return 0;
    switch (rng_.next() % 3) {
      case 0:
        return len;
      case 1:
        return 0;
      default:  // torn: at least one byte of each kind when there is room
        return len < 2 ? 0 : 1 + rng_.next() % (len - 1);
    }
  }

  // A size change is metadata: it survives or not as a whole.
  bool resize_survives() { return random_ && rng_.next() % 2 == 0; }

 private:
  bool random_;
  SplitMix64 rng_;
};

namespace {

using Fates = FaultEnv::State::Fates;

// Byte ranges [first, second) of a file.
class Ranges {
 public:
  void add(uint64_t a, uint64_t b) {
    if (a < b) v_.emplace_back(a, b);
  }

  // The parts of [a, b) that no added range covers, in order.
  std::vector<std::pair<uint64_t, uint64_t>> missing(uint64_t a, uint64_t b) const {
    std::vector<std::pair<uint64_t, uint64_t>> sorted = v_, out;
    std::sort(sorted.begin(), sorted.end());
    uint64_t at = a;
    for (auto [x, y] : sorted) {
      if (at >= b || x >= b) break;
      if (y <= at) continue;
      if (x > at) out.emplace_back(at, x);
      at = std::max(at, y);
    }
    if (at < b) out.emplace_back(at, b);
    return out;
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> v_;
};

Status write_bytes(io::File& file, uint64_t pos, std::string_view bytes) {
  return file.write_at(pos, std::span<const std::string_view>(&bytes, 1));
}

// Undoes a file's unsynced changes, newest first. The result equals replaying
// the surviving changes, in order, on the file as of its last sync: bytes a
// surviving change put in place are never touched again, and a lost change
// restores what it overwrote everywhere else.
class Restorer {
 public:
  Restorer(io::File& file, Fates& fates) : file_(file), fates_(fates) {}

  Status undo(const Change& c) {
    return c.kind == Change::Kind::write ? undo_write(c) : undo_resize(c);
  }

 private:
  Status undo_write(const Change& c) {
    Fates::Mode mode = fates_.change_mode();
    const uint64_t end = c.pos + c.len;
    for (uint64_t a = c.pos; a < end;) {
      const uint64_t b = std::min(end, (a / kSector + 1) * kSector);
      const uint64_t kept = fates_.surviving_prefix(mode, b - a);
      RIVULET_TRY(survive(a, a + kept));
      RIVULET_TRY(restore_write(c, a + kept, b));
      a = b;
    }
    return shrink_back(c.old_size);
  }

  Status undo_resize(const Change& c) {
    if (fates_.resize_survives()) {
      // ftruncate sets the size outright: what lay past it before is gone,
      // whatever earlier changes did there. fallocate only ever grows.
      if (c.kind == Change::Kind::truncate) kept_.add(c.new_size, UINT64_MAX);
      return note_end(c.new_size);
    }
    if (c.kind == Change::Kind::truncate && c.new_size < c.old_size) {
      for (auto [x, y] : kept_.missing(c.new_size, c.old_size)) {
        std::string_view old(c.old_bytes);
        RIVULET_TRY(write_bytes(file_, x, old.substr(x - c.new_size, y - x)));
      }
    }
    return shrink_back(c.old_size);
  }

  // Marks [a, b) as holding surviving bytes.
  Status survive(uint64_t a, uint64_t b) {
    if (a >= b) return Status::OK();
    kept_.add(a, b);
    return note_end(b);
  }

  // Something that survived needs the file to reach `end` (as far as the
  // file still does: a later surviving truncate may have cut it shorter).
  Status note_end(uint64_t end) {
    Result<uint64_t> size = file_.size();
    if (!size.ok()) return size.status();
    keep_end_ = std::max(keep_end_, std::min(end, *size));
    return Status::OK();
  }

  // Puts back what write `c` overwrote in [a, b), except surviving bytes.
  Status restore_write(const Change& c, uint64_t a, uint64_t b) {
    for (auto [x, y] : kept_.missing(a, b)) {
      if (x < c.old_size) {
        const uint64_t e = std::min(y, c.old_size);
        std::string_view old(c.old_bytes);
        RIVULET_TRY(write_bytes(file_, x, old.substr(x - c.pos, e - x)));
      }
      // Past the old end there was nothing; zeros stand in until
      // shrink_back() cuts the file, if nothing surviving lies beyond.
      Result<uint64_t> size = file_.size();
      if (!size.ok()) return size.status();
      const uint64_t z0 = std::max(x, c.old_size), z1 = std::min(y, *size);
      if (z0 < z1) RIVULET_TRY(write_bytes(file_, z0, std::string(z1 - z0, '\0')));
    }
    return Status::OK();
  }

  // A lost change's growth is undone, down to what surviving bytes need.
  Status shrink_back(uint64_t old_size) {
    Result<uint64_t> size = file_.size();
    if (!size.ok()) return size.status();
    const uint64_t target = std::max(old_size, keep_end_);
    return *size > target ? file_.truncate(target) : Status::OK();
  }

  io::File& file_;
  Fates& fates_;
  Ranges kept_;
  uint64_t keep_end_ = 0;
};

class FaultFile final : public io::File {
 public:
  using State = FaultEnv::State;

  FaultFile(std::shared_ptr<State> state, std::unique_ptr<io::File> base)
      : st_(std::move(state)), path_(base->path()) {
    h_.base = std::move(base);
    std::lock_guard<std::mutex> lock(st_->mu);
    st_->open.insert(&h_);
  }
  ~FaultFile() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    st_->open.erase(&h_);
  }
  FaultFile(const FaultFile&) = delete;
  FaultFile& operator=(const FaultFile&) = delete;

  const std::string& path() const override { return path_; }

  Status read_at(uint64_t pos, void* buf, size_t n) override {
    std::shared_ptr<io::File> f = live();
    return f ? f->read_at(pos, buf, n) : dead("read");
  }

  Status write_at(uint64_t pos, std::span<const std::string_view> parts) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    if (!h_.base) return dead("write");
    switch (st_->next_op()) {
      case State::Action::cut:
        return dead("write");
      case State::Action::fail:
        if (st_->fault == Fault::short_write || st_->fault == Fault::kill_process) {
          Status cut = short_write(pos, parts);
          // Dies holding whatever it holds (locks, half a frame), as a
          // process killed mid-write would.
          if (st_->fault == Fault::kill_process) ::kill(::getpid(), SIGKILL);
          return cut;
        }
        return injected("write", st_->fault);
      case State::Action::proceed:
        break;
    }
    Change c;
    RIVULET_TRY(save_overwritten(pos, total_size(parts), &c));
    Status s = h_.base->write_at(pos, parts);
    // Recorded even on failure: part of it may have reached the file.
    record(std::move(c));
    return s;
  }

  Status sync() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    if (!h_.base) return dead("fdatasync");
    switch (st_->next_op()) {
      case State::Action::cut:
        return dead("fdatasync");
      case State::Action::fail:
        return injected("fdatasync", Fault::eio);
      case State::Action::proceed:
        break;
    }
    Status s = h_.base->sync();
    if (s.ok()) st_->unsynced.erase(path_);
    return s;
  }

  Result<uint64_t> size() override {
    std::shared_ptr<io::File> f = live();
    if (!f) return dead("fstat");
    return f->size();
  }

  Result<uint64_t> disk_bytes() override {
    std::shared_ptr<io::File> f = live();
    if (!f) return dead("fstat");
    return f->disk_bytes();
  }

  using io::File::allocate;
  Status allocate(uint64_t from, uint64_t end) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    RIVULET_TRY(begin_resize("fallocate"));
    Change c;
    c.kind = Change::Kind::allocate;
    RIVULET_TRY(base_size(&c.old_size));
    RIVULET_TRY(h_.base->allocate(from, end));
    RIVULET_TRY(base_size(&c.new_size));
    if (c.new_size != c.old_size) record(std::move(c));
    return Status::OK();
  }

  Status truncate(uint64_t size) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    RIVULET_TRY(begin_resize("ftruncate"));
    Change c;
    c.kind = Change::Kind::truncate;
    c.new_size = size;
    RIVULET_TRY(base_size(&c.old_size));
    if (size < c.old_size) {
      c.old_bytes.resize(c.old_size - size);
      RIVULET_TRY(h_.base->read_at(size, c.old_bytes.data(), c.old_bytes.size()));
    }
    RIVULET_TRY(h_.base->truncate(size));
    if (c.new_size != c.old_size) record(std::move(c));
    return Status::OK();
  }

  // A punched hole is, for a power cut, a write of zeros: kept, lost or torn
  // like any other unsynced write.
  Status punch_hole(uint64_t pos, uint64_t len) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    RIVULET_TRY(begin_resize("fallocate"));
    uint64_t size = 0;
    RIVULET_TRY(base_size(&size));
    if (pos >= size) return Status::OK();
    len = std::min(len, size - pos);
    Change c;
    RIVULET_TRY(save_overwritten(pos, len, &c));
    Status s = h_.base->punch_hole(pos, len);
    record(std::move(c));
    return s;
  }

  Result<std::unique_ptr<io::Mapping>> map(uint64_t length) override {
    std::shared_ptr<io::File> f = live();
    if (!f) return dead("mmap");
    return f->map(length);
  }

  Result<io::FileId> id() override {
    std::shared_ptr<io::File> f = live();
    if (!f) return dead("fstat");
    return f->id();
  }

  void set_mapped_writes(bool on) override {
    if (std::shared_ptr<io::File> f = live()) f->set_mapped_writes(on);
  }
  void set_write_behind(bool on) override {
    if (std::shared_ptr<io::File> f = live()) f->set_write_behind(on);
  }

  // Locks run without the env's mutex: lock(wait) may block until another
  // File unlocks, and that File needs the mutex to get there.
  Status lock(uint64_t byte, io::LockType type, bool wait) override {
    std::shared_ptr<io::File> f = live();
    return f ? f->lock(byte, type, wait) : dead("lock");
  }

  Status unlock(uint64_t byte) override {
    std::shared_ptr<io::File> f = live();
    return f ? f->unlock(byte) : dead("unlock");
  }

 private:
  std::shared_ptr<io::File> live() {
    std::lock_guard<std::mutex> lock(st_->mu);
    return h_.base;
  }

  Status dead(std::string_view op) const {
    return Status(Code::io_error, std::string(op) + " " + path_ + ": simulated power cut");
  }

  Status injected(std::string_view op, Fault f) const {
    if (f == Fault::eio) {
      return Status(Code::io_error, std::string(op) + " " + path_ + ": Input/output error (injected)");
    }
    return Status(Code::no_space,
                  std::string(op) + " " + path_ + ": No space left on device (injected)");
  }

  // The common start of allocate, truncate and punch_hole. Caller holds the
  // mutex.
  Status begin_resize(std::string_view op) {
    if (!h_.base) return dead(op);
    switch (st_->next_op()) {
      case State::Action::cut:
        return dead(op);
      case State::Action::fail:
        return injected(op, st_->fault);
      case State::Action::proceed:
        break;
    }
    return Status::OK();
  }

  Status base_size(uint64_t* out) {
    Result<uint64_t> size = h_.base->size();
    if (!size.ok()) return size.status();
    *out = *size;
    return Status::OK();
  }

  static uint64_t total_size(std::span<const std::string_view> parts) {
    uint64_t n = 0;
    for (std::string_view p : parts) n += p.size();
    return n;
  }

  // Fills c as a write of len bytes at pos, saving the bytes it overwrites.
  Status save_overwritten(uint64_t pos, uint64_t len, Change* c) {
    c->kind = Change::Kind::write;
    c->pos = pos;
    c->len = len;
    RIVULET_TRY(base_size(&c->old_size));
    if (pos < c->old_size && len > 0) {
      c->old_bytes.resize(std::min(pos + len, c->old_size) - pos);
      RIVULET_TRY(h_.base->read_at(pos, c->old_bytes.data(), c->old_bytes.size()));
    }
    return Status::OK();
  }

  // A disk filling up mid-write: the first half of the bytes land.
  Status short_write(uint64_t pos, std::span<const std::string_view> parts) {
    uint64_t left = total_size(parts) / 2;
    std::vector<std::string_view> head;
    for (std::string_view p : parts) {
      if (left == 0) break;
      head.push_back(p.substr(0, std::min<uint64_t>(p.size(), left)));
      left -= head.back().size();
    }
    Change c;
    RIVULET_TRY(save_overwritten(pos, total_size(head), &c));
    Status s = h_.base->write_at(pos, head);
    record(std::move(c));
    if (!s.ok()) return s;
    return Status(Code::no_space,
                  "write " + path_ + ": No space left on device (injected short write)");
  }

  void record(Change c) {
    if (c.kind == Change::Kind::write && c.len == 0) return;
    st_->unsynced[path_].push_back(std::move(c));
  }

  std::shared_ptr<State> st_;
  const std::string path_;
  State::Handle h_;
};

}  // namespace

FaultEnv::State::Action FaultEnv::State::next_op() {
  const uint64_t n = ++ops;
  if (cut_armed && n == cut_n) {
    cut_armed = false;
    cut_fired = true;
    Fates fates(cut_seed);
    Status s = power_cut(fates);
    if (!s.ok()) {
      std::fprintf(stderr, "FaultEnv: armed power cut could not restore files: %s\n",
                   s.to_string().c_str());
      std::abort();
    }
    return Action::cut;
  }
  if (fail_armed && (n == fail_n || (sticky && n > fail_n))) return Action::fail;
  return Action::proceed;
}

void FaultEnv::State::kill_open_files() {
  // Closing the descriptors also drops their writer locks, as death would.
  for (Handle* h : open) {
    h->base.reset();
    h->shared.reset();
  }
  open.clear();
}

Status FaultEnv::State::power_cut(Fates& fates) {
  kill_open_files();
  ++power_cuts;
  std::map<std::string, std::vector<Change>> changes;
  changes.swap(unsynced);
  Status first_error;
  for (const auto& [path, list] : changes) {
    Status s = restore_file(path, list, fates);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

Status FaultEnv::State::restore_file(const std::string& path, const std::vector<Change>& changes,
                                     Fates& fates) {
  Result<std::unique_ptr<io::File>> file = base->open(path, io::OpenMode::read_write);
  if (!file.ok()) {
    return file.status().code() == Code::not_found ? Status::OK() : file.status();
  }
  Restorer restorer(**file, fates);
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) RIVULET_TRY(restorer.undo(*it));
  return Status::OK();
}

// A shared file through the env: never faulted or counted (it holds no
// data a power cut could lose), only killed with the other files, which
// drops its locks as a dying process would.
class FaultSharedFile final : public io::SharedFile {
 public:
  using State = FaultEnv::State;

  FaultSharedFile(std::shared_ptr<State> state, std::unique_ptr<io::SharedFile> base)
      : st_(std::move(state)), path_(base->path()) {
    h_.shared = std::move(base);
    std::lock_guard<std::mutex> lock(st_->mu);
    st_->open.insert(&h_);
  }
  ~FaultSharedFile() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    st_->open.erase(&h_);
  }
  FaultSharedFile(const FaultSharedFile&) = delete;
  FaultSharedFile& operator=(const FaultSharedFile&) = delete;

  const std::string& path() const override { return path_; }
  Result<io::FileId> id() override {
    auto f = live();
    if (!f) return dead("fstat");
    return f->id();
  }
  Status lock(uint64_t byte, io::LockType type, bool wait) override {
    auto f = live();
    return f ? f->lock(byte, type, wait) : dead("lock");
  }
  Status unlock(uint64_t byte) override {
    auto f = live();
    return f ? f->unlock(byte) : dead("unlock");
  }
  Result<bool> locked_by_other(uint64_t byte) override {
    auto f = live();
    if (!f) return dead("lock test");
    return f->locked_by_other(byte);
  }
  Status reset(uint64_t size) override {
    auto f = live();
    return f ? f->reset(size) : dead("ftruncate");
  }
  Result<uint64_t> size() override {
    auto f = live();
    if (!f) return dead("fstat");
    return f->size();
  }
  Result<std::unique_ptr<io::SharedMapping>> map(uint64_t length) override {
    auto f = live();
    if (!f) return dead("mmap");
    return f->map(length);
  }

 private:
  std::shared_ptr<io::SharedFile> live() {
    std::lock_guard<std::mutex> lock(st_->mu);
    return h_.shared;
  }
  Status dead(std::string_view op) const {
    return Status(Code::io_error, std::string(op) + " " + path_ + ": simulated power cut");
  }

  std::shared_ptr<State> st_;
  std::string path_;
  State::Handle h_;
};

FaultEnv::FaultEnv(io::Env* base) : state_(std::make_shared<State>(base)) {}

FaultEnv::~FaultEnv() = default;

Result<std::unique_ptr<io::File>> FaultEnv::open(const std::string& path, io::OpenMode mode) {
  Result<std::unique_ptr<io::File>> base = state_->base->open(path, mode);
  if (!base.ok()) return base.status();
  return std::unique_ptr<io::File>(new FaultFile(state_, std::move(base).value()));
}

Result<std::unique_ptr<io::SharedFile>> FaultEnv::open_shared(const std::string& path, const std::string& like) {
  Result<std::unique_ptr<io::SharedFile>> base = state_->base->open_shared(path, like);
  if (!base.ok()) return base.status();
  return std::unique_ptr<io::SharedFile>(new FaultSharedFile(state_, std::move(base).value()));
}

Result<io::FileId> FaultEnv::file_id(const std::string& path) { return state_->base->file_id(path); }

uint32_t FaultEnv::boot_tag() {
  uint32_t base_tag = state_->base->boot_tag();
  std::lock_guard<std::mutex> lock(state_->mu);
  // Another boot for each cut, and never the base env's (a test may look
  // at the file through it after a cut).
  uint32_t boot = state_->instance * 65537u + state_->power_cuts + 1;
  uint32_t tag = base_tag + boot * 0x9E3779B9u;
  return tag == 0 ? 1 : tag;
}

Result<uint64_t> FaultEnv::file_size(const std::string& path) {
  return state_->base->file_size(path);
}

Status FaultEnv::rename_noreplace(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(state_->mu);
  RIVULET_TRY(state_->base->rename_noreplace(from, to));
  auto it = state_->unsynced.find(from);
  if (it != state_->unsynced.end()) {
    state_->unsynced[to] = std::move(it->second);
    state_->unsynced.erase(from);
  }
  return Status::OK();
}

Status FaultEnv::remove(const std::string& path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  RIVULET_TRY(state_->base->remove(path));
  state_->unsynced.erase(path);
  return Status::OK();
}

Status FaultEnv::sync_parent_dir(const std::string& path) {
  return state_->base->sync_parent_dir(path);
}

uint64_t FaultEnv::ops() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->ops;
}

void FaultEnv::fail_at(uint64_t n, Fault fault, bool sticky) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->fail_armed = true;
  state_->fail_n = n;
  state_->fault = fault;
  state_->sticky = sticky;
}

void FaultEnv::cut_after(uint64_t n, uint64_t seed) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->cut_armed = true;
  state_->cut_n = n;
  state_->cut_seed = seed;
  state_->cut_fired = false;
}

bool FaultEnv::cut_fired() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->cut_fired;
}

void FaultEnv::clear_faults() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->fail_armed = false;
  state_->cut_armed = false;
}

Status FaultEnv::power_cut(uint64_t seed) {
  std::lock_guard<std::mutex> lock(state_->mu);
  Fates fates(seed);
  return state_->power_cut(fates);
}

Status FaultEnv::power_cut_drop_all() {
  std::lock_guard<std::mutex> lock(state_->mu);
  Fates fates;
  return state_->power_cut(fates);
}

void FaultEnv::crash() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->kill_open_files();
}

}  // namespace rivulet::testing
