// The engine behind rivulet::Db: opening and recovering a file, the write
// path (one frame per commit under the cross-process writer lock), following
// commits of other processes, and the shared state readers look up.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "db/write_batch_rep.hpp"
#include "format/file_layout.hpp"
#include "io/env.hpp"
#include "log/file_map.hpp"
#include "log/log_scanner.hpp"
#include "meta/catalog.hpp"
#include "rivulet/db.hpp"

namespace rivulet {

class DbImpl {
 public:
  static Result<std::unique_ptr<DbImpl>> open(const std::string& path, const OpenOptions& options);
  ~DbImpl();

  Status create_topic(std::string_view name, const TopicConfig& config);
  Status delete_topic(std::string_view name);
  Result<std::vector<TopicInfo>> list_topics();
  Result<TopicInfo> describe_topic(std::string_view name);
  Status commit(WriteBatch::Rep& batch);
  Result<std::unique_ptr<ReaderImpl>> reader(std::string_view topic, int32_t partition, StartAt start);
  Status refresh();
  Result<DbStats> stat();
  Status close();

  // For WriteBatch::add: the topic's id, partition count and config.
  Status resolve_topic(std::string_view name, WriteBatch::Rep::CachedTopic* out);

  // For readers.
  std::shared_mutex& state_mutex() { return state_mu_; }
  const meta::Catalog& catalog() const { return catalog_; }
  log::FileMap& file_map() { return *map_; }
  const std::string& path() const { return path_; }
  // Waits until a commit lands in this process or `until` passes; commits by
  // other processes are noticed by polling the file (refresh) meanwhile.
  void wait_for_commit(uint64_t seen, std::chrono::steady_clock::time_point until);
  uint64_t commit_count() const { return commits_.load(std::memory_order_acquire); }

 private:
  DbImpl(std::string path, const OpenOptions& options);
  Status open_file();
  Status create_file();
  Status init_empty_file();
  Status load();
  Status recover();
  // Applies frames other processes appended. Caller holds follow_mu_.
  Status catch_up_locked();
  Status apply_locked(const format::ParsedFrame& frame);
  Status check_writable();
  Status fail(Status st);
  void notify_commit();
  Status write_frame_locked(std::span<const format::OutgoingBatch> batches);
  Status roll_segment_locked();
  Status ensure_allocated(uint64_t end);
  Status sync_locked();
  Status update_superblock_locked(uint64_t durable_seq);
  Status commit_meta(const std::function<Status(format::MetaChange*)>& prepare);
  TopicInfo describe(const meta::TopicState& t) const;

  std::string path_;
  OpenOptions options_;
  io::Env* env_;
  std::unique_ptr<io::File> file_;
  std::unique_ptr<log::FileMap> map_;
  std::unique_ptr<log::LogScanner> scanner_;
  format::FileHeader header_;
  format::Superblock superblock_;
  uint64_t writer_id_ = 0;

  // Lock order: write_mu_, then the file's writer lock, then follow_mu_,
  // then state_mu_.
  std::mutex write_mu_;               // one commit at a time in this process
  std::mutex follow_mu_;              // one thread at a time moves head_
  mutable std::shared_mutex state_mu_;  // catalog_, head_, frames_ (readers share)
  meta::Catalog catalog_;
  log::ChainPos head_;
  uint64_t frames_ = 0;
  uint64_t synced_seq_ = 0;     // highest seq known durable
  uint64_t allocated_end_ = 0;  // the file is allocated up to here (writer)
  log::TailInfo tail_;          // what recovery found after the log
  Status failure_;              // sticky: after it, no more commits
  bool closed_ = false;

  std::atomic<uint64_t> commits_{0};
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
};

}  // namespace rivulet
