// Bad inputs that docs/RELIABILITY.md lists and no other test shows: a file
// that is read-only, deleted or replaced while open, truncated, or has both
// superblocks damaged; offsets out of range; topic names no topic can have;
// and what `rivulet check` says about them. Each case checks what a user
// sees: the code, the message, and that the file is left as it was.
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::read_all;
using testing::TempDir;
using testing::write_all;

struct CliRun {
  int code = -1;
  std::string out, err;
};

// Runs the `rivulet` binary in `dir`. With `unprivileged`, a root test run
// drops to nobody first, so that file permissions apply to it.
CliRun cli(const std::string& dir, const std::vector<std::string>& args, bool unprivileged = false) {
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return {};
  std::vector<std::string> store = {RIVULET_CLI_PATH};
  store.insert(store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : store) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]), close(err[0]), close(out[1]), close(err[1]);
    if (chdir(dir.c_str()) != 0) _exit(126);
    if (unprivileged && geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
      _exit(126);
    }
    if (access(argv[0], X_OK) != 0) _exit(125);  // e.g. the build is in a home only root may enter
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  CliRun r;
  // The outputs are small: read one pipe to its end, then the other.
  for (auto [fd, sink] : {std::pair{out[0], &r.out}, std::pair{err[0], &r.err}}) {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) sink->append(buf, static_cast<size_t>(n));
    close(fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A closed file with topic "t" holding "value-number-1" .. "-N", one commit each.
void make_file(const std::string& path, int records, uint32_t segment_size = 64u << 20) {
  OpenOptions o;
  o.segment_size = segment_size;
  auto db = Db::open(path, o);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  ASSERT_TRUE((*db)->create_topic("t").ok());
  for (int i = 1; i <= records; ++i) {
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "value-number-" + std::to_string(i)}).ok());
  }
  ASSERT_TRUE((*db)->close().ok());
}

std::vector<std::string> values_of(const std::string& path) {
  OpenOptions o;
  o.read_only = true;
  auto db = Db::open(path, o);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  if (!db.ok()) return {};
  auto r = (*db)->reader("t", 0);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  std::vector<std::string> out;
  for (auto recs = (*r)->poll(0ms); recs.ok() && !recs->empty(); recs = (*r)->poll(0ms)) {
    for (const RecordView& v : *recs) out.emplace_back(*v.value);
  }
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A handle opened read-only refuses every write, and a file the user may not
// write (chmod 0444) can be read but not written, with the OS's reason.
TEST(BadInput, ReadOnlyFile) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 2));
  {
    OpenOptions o;
    o.read_only = true;
    auto db = Db::open(path, o);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    auto a = (*db)->produce({.topic = "t", .value = "v"});
    EXPECT_EQ(a.status().code(), Code::read_only);
    EXPECT_EQ(a.status().message(), path + ": opened read-only");
    EXPECT_EQ((*db)->create_topic("u").message(), path + ": opened read-only") << "the file named once";
    EXPECT_EQ((*db)->delete_topic("t").code(), Code::read_only);
    EXPECT_EQ((*db)->commit_offsets("g", std::vector<OffsetCommit>{{"t", 0, 1, ""}}).code(), Code::read_only);
  }
  const std::string before = read_all(path);
  ASSERT_EQ(chmod(path.c_str(), 0444), 0);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);  // nobody may look, not write
  CliRun produce = cli(dir.path(), {"f.rvl", "produce", "t", "v"}, true);
  if (produce.code == 125) GTEST_SKIP() << "user nobody cannot run " << RIVULET_CLI_PATH;
  EXPECT_EQ(produce.code, 1) << produce.err;
  EXPECT_EQ(produce.err, "rivulet: f.rvl: open f.rvl: Permission denied\n");
  CliRun consume = cli(dir.path(), {"f.rvl", "consume", "t"}, true);
  EXPECT_EQ(consume.code, 0) << consume.err;
  EXPECT_EQ(consume.out, "value-number-1\nvalue-number-2\n");
  CliRun check = cli(dir.path(), {"f.rvl", "check"}, true);
  EXPECT_EQ(check.code, 0) << check.err;
  EXPECT_EQ(read_all(path), before);
}

// Deleting the file under an open handle does not stop it (as in SQLite, it
// goes on with the unlinked file), but what it commits is lost for good
// when it closes: close() says so instead of losing it silently.
TEST(BadInput, FileDeletedWhileOpen) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 1));
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(std::filesystem::remove(path));
  EXPECT_TRUE((*db)->produce({.topic = "t", .value = "lost"}).ok());
  Status st = (*db)->close();
  EXPECT_EQ(st.code(), Code::io_error);
  EXPECT_EQ(st.message(), path + ": the file was deleted while open: commits made through this handle are not "
                                 "in the file at this path");
  EXPECT_FALSE(std::filesystem::exists(path + "-shm")) << "the last handle still removes the shared area";
}

// The check compares the path as it was when the file was opened: a
// relative path followed by a chdir is not a deleted file.
TEST(BadInput, AChdirAfterOpeningARelativePathIsNotADeletion) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(make_file(dir.file("f.rvl"), 1));
  std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  auto db = Db::open("f.rvl");
  std::filesystem::current_path(before);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_TRUE((*db)->produce({.topic = "t", .value = "kept"}).ok());
  EXPECT_TRUE((*db)->close().ok());
  EXPECT_EQ(values_of(dir.file("f.rvl")), (std::vector<std::string>{"value-number-1", "kept"}));
}

// A long-running writer hears of it at its next segment change, not only
// at close: from then on its commits fail.
TEST(BadInput, FileDeletedWhileOpenStopsTheWriterAtTheNextSegment) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 1, 64 * 1024));
  OpenOptions o;
  auto db = Db::open(path, o);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(std::filesystem::remove(path));
  std::string v(1000, 'x');
  Status st;
  int commits = 0;
  for (; commits < 200 && st.ok(); ++commits) st = (*db)->produce({.topic = "t", .value = v}).status();
  EXPECT_LT(commits, 70) << "a 64 KiB segment holds about 60 such commits";
  EXPECT_EQ(st.code(), Code::io_error);
  EXPECT_TRUE(contains(st.message(), "the file was deleted while open")) << st.message();
  EXPECT_EQ((*db)->produce({.topic = "t", .value = v}).status().code(), Code::io_error) << "the handle stopped";
}

// A file renamed over the path of an open one: new handles refuse to share
// the old one's locks (the shared area names the old file), the old handle
// reports the loss at close, and afterwards the path is the new file.
TEST(BadInput, FileReplacedWhileOpen) {
  TempDir dir;
  std::string path = dir.file("f.rvl"), other = dir.file("other.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 1));
  ASSERT_NO_FATAL_FAILURE(make_file(other, 3));
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok());
  std::filesystem::rename(other, path);
  auto second = Db::open(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::busy);
  EXPECT_EQ(second.status().message(), path + ": " + path +
                                           "-shm: in use by processes that have another file open under this name "
                                           "(was the log deleted or replaced while in use?)");
  EXPECT_TRUE((*db)->produce({.topic = "t", .value = "lost"}).ok());
  Status st = (*db)->close();
  EXPECT_EQ(st.code(), Code::io_error);
  EXPECT_TRUE(contains(st.message(), "the file was replaced while open")) << st.message();
  EXPECT_EQ(values_of(path),
            (std::vector<std::string>{"value-number-1", "value-number-2", "value-number-3"}));
}

// A path holding a NUL byte named, in every system call, the file before
// the NUL, which was opened and written; an empty one failed renaming a
// temporary it had created. Both are refused before touching anything.
TEST(BadInput, AnEmptyPathOrOneWithANulByteIsRefused) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 1));
  const std::string before = read_all(path);
  const std::string odd = path + std::string("\0x", 2);
  for (const std::string& p : {odd, std::string()}) {
    auto db = Db::open(p);
    ASSERT_FALSE(db.ok()) << "opened " << p;
    EXPECT_EQ(db.status().code(), Code::invalid_argument) << db.status().to_string();
    EXPECT_EQ(check_file(p).status().code(), Code::invalid_argument);
    EXPECT_EQ(dump_file(p, [](const FrameInfo&) {}).code(), Code::invalid_argument);
  }
  EXPECT_EQ(Db::open(odd).status().message(), path + "\\0x: a path may not hold a NUL byte");
  EXPECT_EQ(Db::open("").status().message(), "an empty path names no file");
  EXPECT_EQ(read_all(path), before);
  EXPECT_EQ(values_of(path), std::vector<std::string>{"value-number-1"});
  const auto files = std::distance(std::filesystem::directory_iterator(dir.path()), {});
  EXPECT_EQ(files, 1) << "a temporary was left behind";
}

// A file name may be as long as the file system allows but for the 4 bytes
// "-shm" adds to it: a new file was first written under its name + 25
// bytes, so names of 231 to 255 bytes could not be created; one of 252 to
// 255 bytes leaves the shared area no name, which open now says.
TEST(BadInput, FileNamesUpToFourBytesShortOfTheLimitCanBeUsed) {
  TempDir dir;
  for (size_t length : {231, 240, 251}) {
    const std::string path = dir.file(std::string(length, 'f'));
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << length << ": " << db.status().to_string();
    EXPECT_TRUE((*db)->create_topic("t").ok());
    EXPECT_TRUE((*db)->close().ok());
  }
  const std::string too_long = dir.file(std::string(252, 'g'));
  auto db = Db::open(too_long);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::invalid_argument);
  EXPECT_EQ(db.status().message(), too_long + ": a file name of 252 bytes is too long: the shared area beside the "
                                              "file adds \"-shm\" to it, and a name may have at most 255 bytes, so "
                                              "the file's at most 251");
  EXPECT_FALSE(std::filesystem::exists(too_long)) << "a file no handle can open was created";
  write_all(too_long, "");  // made by someone else: refused the same way, left empty
  EXPECT_EQ(Db::open(too_long).status().code(), Code::invalid_argument);
  EXPECT_EQ(std::filesystem::file_size(too_long), 0u);
}

// Cut inside the log of a cleanly closed file: the missing frames were
// durable, so the open is refused as corruption at the first one missing
// (never silently shortened) and the file is left alone. Cut only inside
// the preallocated space after the log: nothing is missing.
TEST(BadInput, TruncatedFile) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 5));
  std::vector<FrameInfo> frames;
  ASSERT_TRUE(dump_file(path, [&](const FrameInfo& f) { frames.push_back(f); }).ok());
  ASSERT_EQ(frames.size(), 6u);
  const std::string whole = read_all(path);
  const uint64_t end = frames.back().position + frames.back().length;
  ASSERT_LT(end + 100, whole.size()) << "the file is preallocated past its log";

  write_all(path, whole.substr(0, end + 100));
  EXPECT_EQ(values_of(path).size(), 5u);

  write_all(path, whole.substr(0, frames[3].position + 10));
  const std::string cut = read_all(path);
  auto db = Db::open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::corruption);
  EXPECT_EQ(db.status().position(), frames[3].position);
  EXPECT_EQ(db.status().message(),
            path + ": frame 4 at position " + std::to_string(frames[3].position) +
                " is missing or damaged (end of file), but the superblock records frames up to 6 as durable");
  EXPECT_EQ(read_all(path), cut) << "a failed open writes nothing";
  auto report = check_file(path);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->records, 3u);
}

// Both superblocks damaged: nothing says where the log starts, so open and
// check refuse the file; check says it could not walk the log rather than
// reporting a log end of 0. Each problem check reports names the file.
TEST(BadInput, CheckOfADamagedFileNamesItAndWhatItCouldNotRead) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 5));
  std::string bytes = read_all(path);
  bytes[4096 + 10] ^= 0x40;
  bytes[8192 + 10] ^= 0x40;
  write_all(path, bytes);
  auto db = Db::open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::corruption);
  EXPECT_EQ(db.status().message(), path + ": both superblocks are damaged");
  CliRun check = cli(dir.path(), {"f.rvl", "check"});
  EXPECT_EQ(check.code, 1);
  EXPECT_TRUE(contains(check.out, "log end   unknown (the file's start was refused)\n")) << check.out;
  EXPECT_TRUE(contains(check.out, "  f.rvl: both superblocks are damaged\n")) << check.out;
  EXPECT_EQ(check.err, "rivulet: 1 problem found, the first: f.rvl: both superblocks are damaged\n");
  auto json = nlohmann::json::parse(cli(dir.path(), {"f.rvl", "check", "--json"}).out);
  EXPECT_TRUE(json["log_end"].is_null());
  EXPECT_EQ(json["ok"], false);

  // A damaged frame in the middle of the log: the problem names the file too.
  ASSERT_NO_FATAL_FAILURE(make_file(dir.file("g.rvl"), 5));
  bytes = read_all(dir.file("g.rvl"));
  bytes[bytes.find("value-number-2") + 3] ^= 0x20;
  write_all(dir.file("g.rvl"), bytes);
  check = cli(dir.path(), {"g.rvl", "check"});
  EXPECT_EQ(check.code, 1);
  EXPECT_TRUE(contains(check.err, "rivulet: 1 problem found, the first: g.rvl: frame 3 at position ")) << check.err;
  auto report = check_file(dir.file("g.rvl"));
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].rfind(dir.file("g.rvl") + ": frame 3 at position ", 0), 0u) << report->problems[0];
}

TEST(BadInput, PartitionOrOffsetOutOfRange) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 5));
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok());
  for (int64_t offset : {-1, 6, 1000}) {
    auto r = (*db)->reader("t", 0, StartAt::offset(offset));
    ASSERT_FALSE(r.ok()) << offset;
    EXPECT_EQ(r.status().code(), Code::out_of_range);
    EXPECT_EQ(r.status().message(), path + ": offset " + std::to_string(offset) +
                                        " is out of range for 't' partition 0 (offsets 0 to 5)");
  }
  auto at_end = (*db)->reader("t", 0, StartAt::offset(5));
  ASSERT_TRUE(at_end.ok()) << "the end is a place to wait for the next record";
  EXPECT_TRUE((*at_end)->poll(0ms)->empty());
  for (int32_t p : {-1, 1}) {
    auto r = (*db)->reader("t", p);
    EXPECT_EQ(r.status().code(), Code::out_of_range);
    EXPECT_EQ(r.status().message(), path + ": topic 't' has no partition " + std::to_string(p) + " (it has 1)");
    EXPECT_EQ((*db)->produce({.topic = "t", .value = "v", .partition = p}).status().code(), Code::out_of_range);
  }
  CliRun consume = cli(dir.path(), {"f.rvl", "consume", "t", "--from", "99"});
  EXPECT_EQ(consume.code, 1);
  EXPECT_EQ(consume.err, "rivulet: f.rvl: offset 99 is out of range for 't' partition 0 (offsets 0 to 5)\n");
}

// Both refusals name the file and the limit.
TEST(BadInput, OversizedRecordOrCommit) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  OpenOptions o;
  o.segment_size = 64 * 1024;
  auto db = Db::open(path, o);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->create_topic("t", {.max_message_bytes = 1000}).ok());
  auto a = (*db)->produce({.topic = "t", .value = std::string(2000, 'x')});
  EXPECT_EQ(a.status().code(), Code::too_large);
  EXPECT_EQ(a.status().message(), path + ": record of 2009 bytes is larger than max_message_bytes (1000) of topic 't'");
  WriteBatch batch(**db);
  Status st;
  for (int i = 0; i < 100 && st.ok(); ++i) st = batch.add({.topic = "t", .value = std::string(900, 'x')});
  EXPECT_EQ(st.code(), Code::too_large);
  EXPECT_TRUE(st.message().starts_with(path + ": record of 910 bytes does not fit in this batch of ")) << st.message();
  EXPECT_TRUE(st.message().ends_with(" bytes: a commit fits in a segment (65456 bytes at most); commit the batch first"))
      << st.message();
}

// Checked at open, not at the first produce to an unknown topic.
TEST(BadInput, AutoCreatePartitionsOutOfRangeIsRefusedAtOpen) {
  TempDir dir;
  OpenOptions o;
  o.auto_create_topics = true;
  for (int32_t n : {0, TopicConfig::kMaxPartitions + 1}) {
    o.auto_create_partitions = n;
    auto db = Db::open(dir.file("f.rvl"), o);
    ASSERT_FALSE(db.ok()) << n;
    EXPECT_EQ(db.status().code(), Code::invalid_argument);
    EXPECT_EQ(db.status().message(),
              "auto_create_partitions must be between 1 and 100000, not " + std::to_string(n));
  }
  o.auto_create_partitions = TopicConfig::kMaxPartitions;
  EXPECT_TRUE(Db::open(dir.file("f.rvl"), o).ok());
}

// Producing to a name no topic can have says why, not how to create it.
TEST(BadInput, BadTopicNameIsRefusedWithTheReason) {
  TempDir dir;
  std::string path = dir.file("f.rvl");
  ASSERT_NO_FATAL_FAILURE(make_file(path, 0));
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok());
  auto a = (*db)->produce({.topic = "a b", .value = "v"});
  EXPECT_EQ(a.status().code(), Code::invalid_argument);
  EXPECT_EQ(a.status().message(),
            path + ": invalid topic name 'a b': only ASCII letters, digits, '.', '_' and '-' are allowed");
  EXPECT_EQ((*db)->produce({.topic = "", .value = "v"}).status().code(), Code::invalid_argument);
  auto u = (*db)->produce({.topic = "unknown", .value = "v"});
  EXPECT_EQ(u.status().code(), Code::not_found);
  EXPECT_TRUE(contains(u.status().message(), "(create it with: rivulet ")) << u.status().message();
  CliRun produce = cli(dir.path(), {"f.rvl", "produce", "a b", "v"});
  EXPECT_EQ(produce.code, 1);
  EXPECT_EQ(produce.err,
            "rivulet: f.rvl: invalid topic name 'a b': only ASCII letters, digits, '.', '_' and '-' are allowed\n");
}

}  // namespace
}  // namespace rivulet
