// rivulet::Db and rivulet::Reader: thin handles over DbImpl and ReaderImpl.
#include "rivulet/db.hpp"

#include "db/db_impl.hpp"
#include "db/reader_impl.hpp"
#include "meta/catalog.hpp"
#include "meta/topic_config.hpp"

namespace rivulet {

Db::Db(std::unique_ptr<DbImpl> impl) : impl_(std::move(impl)) {}
Db::~Db() {
  // In a child forked after open, a parent thread may have been changing
  // the handle (holding its mutexes) at fork(): its memory cannot be freed
  // safely there, so it is left as it is.
  if (impl_ && impl_->inherited()) (void)impl_.release();
}

Result<std::unique_ptr<Db>> Db::open(const std::string& path, const OpenOptions& options) {
  Result<std::unique_ptr<DbImpl>> impl = DbImpl::open(path, options);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Db>(new Db(std::move(impl).value()));
}

Status Db::create_topic(std::string_view name, const TopicConfig& config) {
  return impl_->create_topic(name, config);
}
Status Db::validate_topic(std::string_view name, const TopicConfig& config) {
  RIVULET_TRY(meta::Catalog::validate_name(name));
  return meta::check_topic_config(name, config);
}
Status Db::delete_topic(std::string_view name) { return impl_->delete_topic(name); }
Status Db::alter_topic(std::string_view name, const TopicConfig& config) { return impl_->alter_topic(name, config); }
Status Db::delete_records(std::string_view topic, int32_t partition, int64_t before_offset) {
  return impl_->delete_records(topic, partition, before_offset);
}
Result<std::vector<TopicInfo>> Db::list_topics() { return impl_->list_topics(); }
Result<TopicInfo> Db::describe_topic(std::string_view name) { return impl_->describe_topic(name); }

Result<Appended> Db::produce(const ProducerRecord& record) {
  // A fresh batch per call would allocate its buffers every time (about a
  // sixth of a one-record commit): reuse the one the last call left.
  std::unique_ptr<WriteBatch::Rep> spare = impl_->take_spare_batch();
  WriteBatch batch = spare ? WriteBatch(std::move(spare)) : WriteBatch(*this);
  Result<Appended> out = [&]() -> Result<Appended> {
    RIVULET_TRY(batch.add(record));
    RIVULET_TRY(commit(batch));
    return batch.appended(0);
  }();
  batch.clear();
  impl_->keep_spare_batch(std::move(batch.rep_));
  return out;
}

Status Db::commit(WriteBatch& batch) {
  if (!batch.rep_) return {Code::invalid_argument, "this batch was moved from"};
  if (batch.rep_->db != impl_.get()) return {Code::invalid_argument, "the batch belongs to another Db"};
  return impl_->commit(*batch.rep_);
}

Result<std::unique_ptr<Reader>> Db::reader(std::string_view topic, int32_t partition, StartAt start) {
  Result<std::unique_ptr<ReaderImpl>> r = impl_->reader(topic, partition, start);
  if (!r.ok()) return r.status();
  return std::unique_ptr<Reader>(new Reader(std::move(r).value()));
}

Result<int> Db::wait_any(std::span<Reader* const> readers, std::chrono::milliseconds timeout) {
  std::vector<ReaderImpl*> impls;
  impls.reserve(readers.size());
  for (Reader* r : readers) {
    if (!r || r->impl_->db() != impl_.get()) return Status(Code::invalid_argument, "a reader of another Db");
    impls.push_back(r->impl_.get());
  }
  return impl_->wait_any(impls, timeout);
}

Status Db::commit_offsets(std::string_view group, std::span<const OffsetCommit> offsets) {
  return impl_->commit_offsets(group, offsets);
}
Result<std::optional<CommittedOffset>> Db::committed(std::string_view group, std::string_view topic,
                                                     int32_t partition) {
  return impl_->committed(group, topic, partition);
}
Result<std::vector<GroupInfo>> Db::list_groups() { return impl_->list_groups(); }
Result<GroupInfo> Db::describe_group(std::string_view group) { return impl_->describe_group(group); }
Status Db::delete_group(std::string_view group) { return impl_->delete_group(group); }

Status Db::refresh() { return impl_->refresh(); }
Result<DbStats> Db::stat() { return impl_->stat(); }
Result<VacuumReport> Db::vacuum(const std::function<void(uint64_t, uint64_t)>& progress) {
  return impl_->vacuum(progress);
}
Status Db::close() { return impl_->close(); }

Reader::Reader(std::unique_ptr<ReaderImpl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::span<const RecordView>> Reader::poll(std::chrono::milliseconds timeout, size_t max_records) {
  return impl_->poll(timeout, max_records);
}
int64_t Reader::position() const { return impl_->position(); }
Status Reader::seek(StartAt start) { return impl_->seek(start); }
const std::string& Reader::topic() const { return impl_->topic(); }
int32_t Reader::partition() const { return impl_->partition(); }

}  // namespace rivulet
