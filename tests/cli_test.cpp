// End-to-end tests of the `rivulet` command-line tool: each test runs the
// built binary (RIVULET_CLI_PATH) as a separate process in a fresh temporary
// directory, feeding stdin from a string and checking stdout, stderr and the
// exit code, as a user or a script would see them. The tool is tested only
// through its command line; the library underneath has its own tests.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.hpp"
#include <nlohmann/json.hpp>

#include "rivulet/consumer.hpp"
#include "rivulet/db.hpp"
#include "rivulet/version.hpp"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::string_literals;
using rivulet::Consumer;
using rivulet::Db;
using rivulet::TopicPartition;

// Generous: these are to stop a hung test, not to measure anything.
constexpr auto kRunTimeout = std::chrono::seconds(60);

struct RunResult {
  int exit_code = -1;  // -1: killed or timed out
  std::string out;
  std::string err;
  bool timed_out = false;
};

// A running `rivulet` process with pipes on stdin, stdout and stderr.
class Child {
 public:
  Child(const std::string& dir, const std::vector<std::string>& args) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    // Everything the child needs is built before fork(): after it, only
    // async-signal-safe calls.
    std::vector<std::string> argv_store;
    argv_store.push_back(RIVULET_CLI_PATH);
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      // The test process ignores SIGPIPE; the tool must not rely on that.
      ::signal(SIGPIPE, SIG_DFL);
      if (::chdir(dir.c_str()) != 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
  }

  ~Child() {
    close_fd(in_);
    close_fd(out_);
    close_fd(err_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Writes to the child's stdin (all of it, or fails the test).
  void write_stdin(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(in_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ADD_FAILURE() << "write to child stdin: " << std::strerror(errno);
        return;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void close_stdin() { close_fd(in_); }
  void close_stdout() { close_fd(out_); }

  // Reads stdout until it holds at least `n` bytes, EOF, or the deadline.
  std::string read_stdout_at_least(size_t n, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (result_.out.size() < n && out_ >= 0 && Clock::now() < deadline) pump(deadline, false);
    return result_.out;
  }

  // Feeds `input` (then closes stdin), collects all output and waits for the
  // exit, killing the child at the deadline.
  RunResult finish(std::string_view input = {}, std::chrono::seconds timeout = kRunTimeout) {
    auto deadline = Clock::now() + timeout;
    input_ = input;
    if (input_.empty()) close_stdin();
    while ((out_ >= 0 || err_ >= 0) && Clock::now() < deadline) pump(deadline, true);
    if (out_ >= 0 || err_ >= 0) {
      result_.timed_out = true;
      ::kill(pid_, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    result_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result_;
  }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  // One poll(2) round over the pipes. Reading stdout and stderr while
  // writing stdin avoids the deadlock of a child blocked on a full pipe.
  void pump(Clock::time_point deadline, bool feed) {
    pollfd fds[3];
    int n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1;
    if (feed && in_ >= 0 && !input_.empty()) {
      idx_in = n;
      fds[n++] = {in_, POLLOUT, 0};
    }
    if (out_ >= 0) {
      idx_out = n;
      fds[n++] = {out_, POLLIN, 0};
    }
    if (err_ >= 0) {
      idx_err = n;
      fds[n++] = {err_, POLLIN, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int r = ::poll(fds, n, static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left.count(), 100))));
    if (r <= 0) return;
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::write(in_, input_.data(), std::min<size_t>(input_.size(), 65536));
      if (w > 0) input_.remove_prefix(static_cast<size_t>(w));
      if (w < 0 && errno != EINTR && errno != EAGAIN) input_ = {};  // child closed stdin
      if (input_.empty()) close_stdin();
    }
    auto drain = [](int& fd, short revents, std::string& sink) {
      if (!(revents & (POLLIN | POLLHUP | POLLERR))) return;
      char buf[65536];
      ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) {
        sink.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close_fd(fd);
      }
    };
    if (idx_out >= 0) drain(out_, fds[idx_out].revents, result_.out);
    if (idx_err >= 0) drain(err_, fds[idx_err].revents, result_.err);
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string_view input_;
  RunResult result_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  for (const std::string& line : lines_of(text)) out.push_back(json::parse(line));
  return out;
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

  std::string path(const std::string& name) const { return dir_.file(name); }

  RunResult run(const std::vector<std::string>& args, std::string_view input = {}) {
    Child child(dir_.path(), args);
    RunResult r = child.finish(input);
    EXPECT_FALSE(r.timed_out) << "timed out: rivulet " << ::testing::PrintToString(args);
    return r;
  }

  // Runs a command that must succeed silently on stderr; returns stdout.
  std::string ok(const std::vector<std::string>& args, std::string_view input = {}) {
    RunResult r = run(args, input);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\nstderr: " << r.err;
    EXPECT_EQ(r.err, "") << ::testing::PrintToString(args);
    return r.out;
  }

  // Runs a command that must fail with `code` and exactly one stderr line
  // "rivulet: ..."; returns that line.
  std::string fails(int code, const std::vector<std::string>& args, std::string_view input = {}) {
    RunResult r = run(args, input);
    EXPECT_EQ(r.exit_code, code) << ::testing::PrintToString(args) << "\nstdout: " << r.out
                                 << "\nstderr: " << r.err;
    EXPECT_EQ(r.err.rfind("rivulet: ", 0), 0u) << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    return r.err;
  }

  std::string read_file(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void write_file(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  bool exists(const std::string& name) const { return std::filesystem::exists(path(name)); }

  ::rivulet::testing::TempDir dir_;
};

const std::vector<std::string> kCommands = {"topic create", "topic alter", "topic list", "topic describe",
                                            "topic delete", "produce",    "consume",
                                            "stat",         "check",      "dump",
                                            "group list",   "group describe", "group reset",
                                            "group delete"};

// --- help, version, usage errors -------------------------------------------

TEST_F(CliTest, HelpListsEveryCommand) {
  for (const char* flag : {"--help", "-h"}) {
    std::string out = ok({flag});
    for (const std::string& c : kCommands) EXPECT_NE(out.find(c), std::string::npos) << c;
    EXPECT_NE(out.find("rivulet FILE COMMAND"), std::string::npos);
    EXPECT_NE(out.find("Examples:"), std::string::npos);
  }
  // `rivulet FILE --help` too, and it creates no file.
  std::string out = ok({"x.rvl", "--help"});
  EXPECT_NE(out.find("consume"), std::string::npos);
  EXPECT_FALSE(exists("x.rvl"));
}

TEST_F(CliTest, Version) {
  EXPECT_EQ(ok({"--version"}), std::string("rivulet ") + rivulet::kVersion + " (file format " +
                                   std::to_string(rivulet::kFormatVersion) + ")\n");
  EXPECT_EQ(ok({"--version"}), "rivulet 0.1.0 (file format 4)\n");
}

TEST_F(CliTest, CommandHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {"topic"},   {"topic", "create"}, {"topic", "list"}, {"topic", "describe"},
      {"topic", "delete"}, {"produce"}, {"consume"},       {"stat"},
      {"check"},   {"dump"}};
  for (const auto& c : commands) {
    std::vector<std::string> args = {"x.rvl"};
    args.insert(args.end(), c.begin(), c.end());
    args.push_back("--help");
    std::string out = ok(args);
    std::string usage = "Usage: rivulet FILE";
    for (const auto& w : c) usage += " " + w;
    EXPECT_NE(out.find(usage), std::string::npos) << out;
    if (c.size() > 1 || c[0] != "topic") {
      EXPECT_NE(out.find("Example"), std::string::npos) << usage;
    }
  }
  std::string topic_help = ok({"x.rvl", "topic", "--help"});
  for (const char* sub : {"create", "list", "describe", "delete"}) {
    EXPECT_NE(topic_help.find(sub), std::string::npos) << sub;
  }
  EXPECT_NE(ok({"x.rvl", "topic", "create", "--help"}).find("--partitions"), std::string::npos);
  EXPECT_FALSE(exists("x.rvl"));
}

TEST_F(CliTest, UsageErrorsExit2) {
  fails(2, {});
  fails(2, {"x.rvl"});
  fails(2, {"--bogus"});
  EXPECT_NE(fails(2, {"x.rvl", "frobnicate"}).find("frobnicate"), std::string::npos);
  fails(2, {"x.rvl", "topic"});
  fails(2, {"x.rvl", "topic", "frob"});
  fails(2, {"x.rvl", "produce"});
  fails(2, {"x.rvl", "produce", "t", "v", "--bogus"});
  fails(2, {"x.rvl", "consume", "t", "--from", "yesterday"});
  fails(2, {"x.rvl", "consume", "t", "--from", "-1"});
  fails(2, {"x.rvl", "consume", "t", "--from", "@12x"});
  fails(2, {"x.rvl", "consume", "t", "--limit", "abc"});
  fails(2, {"x.rvl", "consume", "t", "--format", "xml"});
  fails(2, {"x.rvl", "produce", "t", "v", "--sync", "sometimes"});
  fails(2, {"x.rvl", "produce", "t", "v", "--partition", "1x"});
  fails(2, {"x.rvl", "produce", "t", "v", "--timestamp", "1.5"});
  fails(2, {"x.rvl", "produce", "t", "v", "--timestamp", "99999999999999999999"});
  fails(2, {"x.rvl", "produce", "t", "v", "--header", "novalue"});
  fails(2, {"x.rvl", "produce", "t", "v", "--partition", ""});  // given empty is not absent
  fails(2, {"x.rvl", "produce", "t", "v", "--timestamp", ""});
  fails(2, {"x.rvl", "produce", "t", "v", "--partitions", "3"});  // needs --create
  fails(2, {"x.rvl", "topic", "create", "t", "--partitions", "0"});
  fails(2, {"x.rvl", "topic", "create", "t", "--partitions", " 3"});
  fails(2, {"x.rvl", "topic", "create", "t", "--partitions", "3000000000"});
  fails(2, {"x.rvl", "topic", "create", "t", "--partitions", "100001"});  // the most a topic may have
  // The least max.message.bytes is the same usage error either way.
  fails(2, {"x.rvl", "topic", "create", "t", "--max-message-bytes", "63"});
  fails(2, {"x.rvl", "topic", "create", "t", "--config", "max.message.bytes=63"});
  // None of these got far enough to create the file.
  EXPECT_FALSE(exists("x.rvl"));
}

// --- topics ----------------------------------------------------------------

TEST_F(CliTest, TopicLifecycle) {
  EXPECT_EQ(ok({"f.rvl", "topic", "create", "orders", "--partitions", "3"}), "");
  EXPECT_EQ(ok({"f.rvl", "topic", "create", "audit"}), "");
  EXPECT_EQ(ok({"f.rvl", "topic", "list"}), "audit\norders\n");

  json list = json::parse(ok({"f.rvl", "topic", "list", "--json"}));
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(list.size(), 2u);

  json d = json::parse(ok({"f.rvl", "topic", "describe", "orders", "--json"}));
  EXPECT_EQ(d["name"], "orders");
  EXPECT_EQ(d["config"]["partitions"], 3);
  ASSERT_EQ(d["partitions"].size(), 3u);
  for (int p = 0; p < 3; p++) {
    EXPECT_EQ(d["partitions"][p]["partition"], p);
    EXPECT_EQ(d["partitions"][p]["first_offset"], 0);
    EXPECT_EQ(d["partitions"][p]["next_offset"], 0);
    EXPECT_EQ(d["partitions"][p]["record_count"], 0);
  }
  std::string text = ok({"f.rvl", "topic", "describe", "orders"});
  EXPECT_NE(text.find("orders"), std::string::npos);
  EXPECT_NE(text.find("PARTITION"), std::string::npos);
  EXPECT_EQ(count_lines(text.substr(text.find("PARTITION"))), 4u) << text;

  EXPECT_NE(fails(1, {"f.rvl", "topic", "create", "orders"}).find("already exists"),
            std::string::npos);
  EXPECT_NE(fails(1, {"f.rvl", "topic", "create", "a b"}).find("a b"), std::string::npos);
  fails(1, {"f.rvl", "topic", "create", std::string(250, 'x')});
  EXPECT_EQ(ok({"f.rvl", "topic", "create", std::string(249, 'x')}), "");
  EXPECT_NE(fails(1, {"f.rvl", "topic", "describe", "nope"}).find("nope"), std::string::npos);
  EXPECT_NE(fails(1, {"f.rvl", "topic", "delete", "nope"}).find("nope"), std::string::npos);

  EXPECT_EQ(ok({"f.rvl", "topic", "delete", "orders"}), "");
  EXPECT_EQ(ok({"f.rvl", "topic", "list"}), "audit\n" + std::string(249, 'x') + "\n");
  fails(1, {"f.rvl", "topic", "delete", "orders"});
  fails(1, {"f.rvl", "consume", "orders"});
  // The name may be reused, and the new topic starts empty.
  ok({"f.rvl", "topic", "create", "orders"});
  EXPECT_EQ(ok({"f.rvl", "consume", "orders"}), "");
}

TEST_F(CliTest, TopicConfigsAndRetention) {
  ok({"f.rvl", "topic", "create", "clicks", "--config", "retention.bytes=300", "--config", "cleanup.policy=delete"});
  for (int i = 0; i < 10; ++i) ok({"f.rvl", "produce", "clicks", "click number " + std::to_string(i)});
  std::string text = ok({"f.rvl", "topic", "describe", "clicks"});
  EXPECT_NE(text.find("retention.bytes         300\n"), std::string::npos) << text;
  EXPECT_NE(text.find("retention.ms            -1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("DEAD BYTES"), std::string::npos) << text;

  ok({"f.rvl", "topic", "alter", "clicks", "--config", "retention.bytes=0"});
  json d = json::parse(ok({"f.rvl", "topic", "describe", "clicks", "--json"}));
  EXPECT_EQ(d["config"]["retention_bytes"], 0);
  EXPECT_EQ(d["config"]["cleanup_policy"], "delete");
  EXPECT_EQ(d["partitions"][0]["first_offset"], 10);
  EXPECT_EQ(d["partitions"][0]["record_count"], 0);
  EXPECT_GT(d["partitions"][0]["dead_bytes"], 0);
  EXPECT_EQ(ok({"f.rvl", "consume", "clicks"}), "");
  ok({"f.rvl", "produce", "clicks", "after"});
  json after = json::parse(ok({"f.rvl", "consume", "clicks", "--format", "json"}));  // one line: one object
  EXPECT_EQ(after["offset"], 10);  // offsets go on; none is reused
  EXPECT_EQ(after["value"], "after");

  EXPECT_NE(fails(2, {"f.rvl", "topic", "alter", "clicks", "--config", "retention.days=1"}).find("retention.days"),
            std::string::npos);
  EXPECT_NE(fails(2, {"f.rvl", "topic", "alter", "clicks", "--config", "retention.ms"}).find("KEY=VALUE"),
            std::string::npos);
  fails(2, {"f.rvl", "topic", "alter", "clicks"});  // --config is required
  EXPECT_NE(fails(1, {"f.rvl", "topic", "alter", "nope", "--config", "retention.ms=1"}).find("nope"),
            std::string::npos);
}

TEST_F(CliTest, VacuumCompactsAndGivesSpaceBack) {
  ok({"f.rvl", "topic", "create", "prices", "--config", "cleanup.policy=compact"});
  ok({"f.rvl", "topic", "create", "junk"});
  ok({"f.rvl", "produce", "prices", "--key-separator", ":"}, "apple:1\npear:2\napple:3\n");
  ok({"f.rvl", "produce", "junk"}, std::string(2000, 'x') + "\n");
  ok({"f.rvl", "topic", "delete", "junk"});
  std::string out = ok({"f.rvl", "vacuum"});  // not a terminal: no progress bar
  for (const char* word : {"bytes cleaned", "on disk before", "on disk after"}) {
    EXPECT_NE(out.find(word), std::string::npos) << word << "\n" << out;
  }
  // The latest value per key, at its own offset.
  EXPECT_EQ(ok({"f.rvl", "consume", "prices", "--key-separator", ":"}), "pear:2\napple:3\n");
  std::string stat = ok({"f.rvl", "stat", "--segments"});
  EXPECT_NE(stat.find("LIVE BYTES"), std::string::npos) << stat;
  EXPECT_NE(stat.find("free"), std::string::npos) << "the segment before the vacuum is free\n" << stat;
  EXPECT_EQ(ok({"f.rvl", "vacuum", "--quiet"}), "");
  EXPECT_NE(fails(1, {"missing.rvl", "vacuum"}).find("missing.rvl"), std::string::npos);
  ok({"f.rvl", "check"});
}

TEST_F(CliTest, OnlyCreateAndProduceCreateTheFile) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"topic", "list"}, {"topic", "describe", "t"}, {"topic", "delete", "t"},
           {"consume", "t"}, {"stat"}, {"check"}, {"dump"}}) {
    std::vector<std::string> full = {"missing.rvl"};
    full.insert(full.end(), args.begin(), args.end());
    std::string err = fails(1, full);
    EXPECT_NE(err.find("missing.rvl"), std::string::npos) << err;
    EXPECT_NE(err.find("no such file"), std::string::npos) << err;
    EXPECT_FALSE(exists("missing.rvl"));
  }
  // Commands that add something do create it.
  ok({"new.rvl", "topic", "create", "t"});
  EXPECT_TRUE(exists("new.rvl"));
  ok({"new2.rvl", "produce", "t", "v", "--create"});
  EXPECT_TRUE(exists("new2.rvl"));
}

// A command that fails on its arguments leaves no new file at the path (a
// mistyped one would then open quietly later instead of "no such file").
TEST_F(CliTest, AFailedCreateLeavesNoFileBehind) {
  std::string err = fails(1, {"bad.rvl", "topic", "create", "a/b"});
  EXPECT_NE(err.find("invalid topic name"), std::string::npos) << err;
  EXPECT_NE(err.find("bad.rvl"), std::string::npos) << err;
  EXPECT_FALSE(exists("bad.rvl"));
  err = fails(1, {"none.rvl", "produce", "orders", "x"});
  EXPECT_NE(err.find("no such file"), std::string::npos) << err;
  EXPECT_NE(err.find("--create"), std::string::npos) << "the message tells how to create it: " << err;
  EXPECT_FALSE(exists("none.rvl"));
}

// A closed standard input is not the next file opened: the Rivulet file
// would become stdin, and produce would commit its own bytes as records.
TEST_F(CliTest, ProduceWithStandardInputClosedFailsAndCommitsNothing) {
  ok({"f.rvl", "topic", "create", "t"});
  std::string cmd = "cd '" + dir_.path() + "' && '" RIVULET_CLI_PATH "' f.rvl produce t <&- 2>err.txt";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(read_file("err.txt").find("standard input"), std::string::npos) << read_file("err.txt");
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "");
}

// --- produce and consume -----------------------------------------------------

// --from OFFSET and group reset --to OFFSET over all of a topic's
// partitions: each starts within its own records (partitions seldom share
// an offset range) if some partition holds the offset; one named with
// --partition must hold it.
TEST_F(CliTest, AnOffsetForEveryPartitionStartsEachWithinItsRecords) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "2"});
  for (const char* v : {"a", "b", "c"}) ok({"f.rvl", "produce", "t", v, "--partition", "0"});
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "2"}), "c\n");  // partition 1 has none
  EXPECT_NE(fails(1, {"f.rvl", "consume", "t", "--from", "2", "--partition", "1"}).find("out of range"),
            std::string::npos);
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "1", "--group", "g"}), "b\nc\n");
  ok({"f.rvl", "group", "reset", "r", "--topic", "t", "--to", "2"});
  std::string text = json::parse(ok({"f.rvl", "group", "describe", "r", "--json"})).dump();
  EXPECT_NE(text.find("\"committed\":2"), std::string::npos) << text;  // partition 0
  EXPECT_NE(text.find("\"committed\":0"), std::string::npos) << text;  // partition 1, at its end
  EXPECT_NE(fails(1, {"f.rvl", "group", "reset", "r", "--topic", "t", "--to", "2", "--partition", "1"})
                .find("out of range"),
            std::string::npos);
  // An offset no partition holds is simply wrong.
  EXPECT_NE(fails(1, {"f.rvl", "consume", "t", "--from", "9"}).find("out of range"), std::string::npos);
  EXPECT_NE(fails(1, {"f.rvl", "group", "reset", "r", "--topic", "t", "--to", "9"}).find("out of range"),
            std::string::npos);
}

// A member commits only what it printed: when writing to stdout fails (a
// full disk here; a closed pipe alike), leaving commits the last poll, which
// never got out, at the close's revocation.
TEST_F(CliTest, AGroupMemberWhoseOutputFailsCommitsNothingItDidNotPrint) {
  ok({"f.rvl", "topic", "create", "t"});
  std::string input;
  for (int i = 0; i < 3000; i++) input += std::to_string(i) + std::string(2000, 'x') + "\n";
  ok({"f.rvl", "produce", "t", "--sync", "off"}, input);
  std::string cmd = "cd '" + dir_.path() + "' && '" RIVULET_CLI_PATH "' f.rvl consume t --group g >/dev/full 2>err.txt";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1) << read_file("err.txt");
  std::string err = fails(1, {"f.rvl", "group", "describe", "g"});
  EXPECT_NE(err.find("no committed offsets"), std::string::npos) << err;
}

// -H takes one pair each time: --help shows no "..." (which said it takes
// several), and a word after the pair is VALUE, as after --key.
TEST_F(CliTest, EachHeaderOptionTakesOnePair) {
  std::string help = ok({"f.rvl", "produce", "--help"});
  std::string line = help.substr(help.find("-H,--header"));
  line = line.substr(0, line.find('\n'));
  EXPECT_EQ(line.find("..."), std::string::npos) << line;
  ok({"f.rvl", "topic", "create", "t"});
  ok({"f.rvl", "produce", "t", "-H", "a=1", "b=2"});
  auto recs = json_lines(ok({"f.rvl", "consume", "t", "--format", "json"}));
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["value"], "b=2");
  EXPECT_EQ(recs[0]["headers"], json::parse(R"([{"key":"a","value":"1"}])"));
}

TEST_F(CliTest, ProduceOneRecordAndConsumeIt) {
  ok({"f.rvl", "topic", "create", "t"});
  EXPECT_EQ(ok({"f.rvl", "produce", "t", "hello world", "--key", "k1", "--header", "source=cli",
                "--header", "source=test", "--timestamp", "1700000000000"}),
            "");
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "hello world\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--key-separator", " => "}), "k1 => hello world\n");

  auto recs = json_lines(ok({"f.rvl", "consume", "t", "--format", "json"}));
  ASSERT_EQ(recs.size(), 1u);
  const json& r = recs[0];
  EXPECT_EQ(r["topic"], "t");
  EXPECT_EQ(r["partition"], 0);
  EXPECT_EQ(r["offset"], 0);
  EXPECT_EQ(r["timestamp"], 1700000000000);
  EXPECT_EQ(r["key"], "k1");
  EXPECT_EQ(r["value"], "hello world");
  EXPECT_EQ(r["headers"], json::parse(R"([{"key":"source","value":"cli"},
                                          {"key":"source","value":"test"}])"));
  // The documented field order.
  std::string line = ok({"f.rvl", "consume", "t", "--format", "json"});
  EXPECT_EQ(line.rfind("{\"topic\":\"t\",\"partition\":0,\"offset\":0,\"timestamp\":", 0), 0u);

  // An empty VALUE is an empty value, not "read stdin".
  ok({"f.rvl", "produce", "t", ""}, "ignored\n");
  auto all = json_lines(ok({"f.rvl", "consume", "t", "--format", "json"}));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["value"], "");
  EXPECT_TRUE(all[1]["key"].is_null());
}

TEST_F(CliTest, ProduceLinesFromStdinKeepsBytes) {
  ok({"f.rvl", "topic", "create", "t"});
  // Empty line in the middle: an empty record. '\r' is kept. The last line
  // has no newline but is still a record; a final newline adds none.
  ok({"f.rvl", "produce", "t"}, "a\n\nb\r\nc");
  ok({"f.rvl", "produce", "t"}, "d\n");
  ok({"f.rvl", "produce", "t"}, "");
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "a\n\nb\r\nc\nd\n");
  auto recs = json_lines(ok({"f.rvl", "consume", "t", "--format", "json"}));
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[1]["value"], "");
  EXPECT_EQ(recs[2]["value"], "b\r");
  for (size_t i = 0; i < recs.size(); i++) EXPECT_EQ(recs[i]["offset"], i);
}

TEST_F(CliTest, ManyLinesAreBatched) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "2"});
  std::string input;
  for (int i = 0; i < 5000; i++) input += "record-" + std::to_string(i) + "\n";
  ok({"f.rvl", "produce", "t", "--sync", "off"}, input);
  std::string out = ok({"f.rvl", "consume", "t"});
  EXPECT_EQ(count_lines(out), 5000u);
  json stat = json::parse(ok({"f.rvl", "stat", "--json"}));
  // 5000 lines arriving at once take a handful of commits, not 5000.
  EXPECT_LT(stat["frames"].get<int>(), 500);
  EXPECT_EQ(count_lines(ok({"f.rvl", "consume", "t", "--limit", "7"})), 7u);
  EXPECT_EQ(count_lines(ok({"f.rvl", "consume", "t", "--limit", "1234"})), 1234u);
}

// Input read from a file is all ready at once: lines are still committed
// in pieces that fit a segment (64 MiB), not a thousand 100 KB lines in
// one commit too large for any.
TEST_F(CliTest, LargeLinesReadFromAFileAreCommittedInPiecesThatFit) {
  ok({"f.rvl", "topic", "create", "t"});
  std::string line(100000, 'x');
  line += '\n';
  std::string input;
  for (int i = 0; i < 700; ++i) input += line;
  write_file("lines.txt", input);
  std::string cmd = "cd '" + dir_.path() + "' && '" RIVULET_CLI_PATH "' f.rvl produce t --sync off <lines.txt 2>err.txt";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file("err.txt");
  json topic = json::parse(ok({"f.rvl", "topic", "describe", "t", "--json"}));
  EXPECT_EQ(topic["partitions"][0]["next_offset"], 700);
}

// In a file of small segments, lines arriving at once fill a batch past
// what one commit holds: add() refuses the next record, and produce
// commits the batch and goes on (the whole commit used to be refused).
TEST_F(CliTest, LinesAreCommittedInPiecesThatFitASmallSegment) {
  {
    rivulet::OpenOptions o;
    o.segment_size = 64 * 1024;
    auto db = Db::open(path("f.rvl"), o);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    ASSERT_TRUE((*db)->create_topic("t").ok());
  }
  std::string input;
  for (int i = 0; i < 200; ++i) input += std::string(1000, 'x') + "\n";
  write_file("lines.txt", input);  // all ready at once, unlike a pipe
  std::string cmd = "cd '" + dir_.path() + "' && '" RIVULET_CLI_PATH "' f.rvl produce t --sync off <lines.txt 2>err.txt";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file("err.txt");
  json topic = json::parse(ok({"f.rvl", "topic", "describe", "t", "--json"}));
  EXPECT_EQ(topic["partitions"][0]["next_offset"], 200);
}

// A line longer than any record of the topic is refused once that much is
// read, not after reading all of a stray binary file into memory; the
// lines before it are committed.
TEST_F(CliTest, ALineLongerThanAnyRecordIsRefusedWithoutReadingItWhole) {
  ok({"f.rvl", "topic", "create", "t", "--max-message-bytes", "1000"});
  std::string input = "first\n" + std::string(5000, 'x');
  // Read whole, the line would be refused by the library as a record too
  // large; the refusal must come from the reading instead.
  Child child(dir_.path(), {"f.rvl", "produce", "t"});
  RunResult r = child.finish(input + std::string(1u << 20, 'y'));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("standard input line 2: longer than 1000 bytes"), std::string::npos) << r.err;
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "first\n");
}

TEST_F(CliTest, KeySeparatorAndKafkaPartitioner) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "3"});
  ok({"f.rvl", "produce", "t", "--key-separator", "|"}, "0|zero\n1|one|with|bars\n|empty key\n");
  auto recs = json_lines(ok({"f.rvl", "consume", "t", "--format", "json"}));
  ASSERT_EQ(recs.size(), 3u);
  // Java's murmur2("0") = 971027396, murmur2("1") = -1993445489.
  const int p0 = (971027396 & 0x7fffffff) % 3;
  const int p1 = (-1993445489 & 0x7fffffff) % 3;
  int seen = 0;
  for (const json& r : recs) {
    if (r["key"] == "0") {
      EXPECT_EQ(r["partition"], p0);
      EXPECT_EQ(r["value"], "zero");
      seen++;
    } else if (r["key"] == "1") {
      EXPECT_EQ(r["partition"], p1);
      EXPECT_EQ(r["value"], "one|with|bars");  // split at the first separator only
      seen++;
    } else {
      EXPECT_EQ(r["key"], "");
      EXPECT_EQ(r["value"], "empty key");
      seen++;
    }
  }
  EXPECT_EQ(seen, 3);

  // A line without the separator names its line number; the lines before it
  // are stored.
  std::string err = fails(1, {"f.rvl", "produce", "t", "-K", "|"}, "2|two\nno separator here\n");
  EXPECT_NE(err.find("line 2"), std::string::npos) << err;
  EXPECT_EQ(count_lines(ok({"f.rvl", "consume", "t"})), 4u);

  // A multi-byte separator, with VALUE.
  ok({"f.rvl", "produce", "t", "k::v::w", "--key-separator", "::", "--partition", "2"});
  auto last = json_lines(ok({"f.rvl", "consume", "t", "--partition", "2", "--format", "json"}));
  ASSERT_FALSE(last.empty());
  EXPECT_EQ(last.back()["key"], "k");
  EXPECT_EQ(last.back()["value"], "v::w");
}

TEST_F(CliTest, PartitionOutOfRange) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "2"});
  EXPECT_NE(fails(1, {"f.rvl", "produce", "t", "v", "--partition", "2"}).find("2"),
            std::string::npos);
  fails(1, {"f.rvl", "produce", "t", "--partition", "5"}, "a\nb\n");
  fails(1, {"f.rvl", "consume", "t", "--partition", "2"});
  ok({"f.rvl", "produce", "t", "v", "--partition", "1"});
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--partition", "1"}), "v\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--partition", "0"}), "");
}

TEST_F(CliTest, ConsumeFromAndLimit) {
  ok({"f.rvl", "topic", "create", "t"});
  std::string input;
  for (int i = 0; i < 5; i++) {
    input += R"({"value":")" + std::string(1, char('a' + i)) + R"(","timestamp":)" +
             std::to_string((i + 1) * 1000) + "}\n";
  }
  ok({"f.rvl", "produce", "t", "--format", "json"}, input);
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "a\nb\nc\nd\ne\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "earliest"}), "a\nb\nc\nd\ne\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "2"}), "c\nd\ne\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "5"}), "");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "latest"}), "");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "@3000"}), "c\nd\ne\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "@2500"}), "c\nd\ne\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "@0"}), "a\nb\nc\nd\ne\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "@9999"}), "");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--limit", "2"}), "a\nb\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--from", "1", "--limit", "2"}), "b\nc\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--limit", "0"}), "");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--limit", "100"}), "a\nb\nc\nd\ne\n");
  auto recs = json_lines(ok({"f.rvl", "consume", "t", "--from", "@4000", "--format", "json"}));
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["offset"], 3);
  EXPECT_EQ(recs[0]["timestamp"], 4000);
}

TEST_F(CliTest, ConsumeAsAGroupResumesWhereItCommitted) {
  ok({"f.rvl", "topic", "create", "t"});
  ok({"f.rvl", "produce", "t"}, "a\nb\nc\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g", "--limit", "2"}), "a\nb\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g"}), "c\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g"}), "");
  ok({"f.rvl", "produce", "t"}, "d\n");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g"}), "d\n");
  // A new group starts at --from (earliest unless told); others are untouched.
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "h", "--from", "latest"}), "");
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "other"}), "a\nb\nc\nd\n");
  EXPECT_EQ(ok({"f.rvl", "group", "list"}), "g\nother\n");  // h committed nothing

  std::string table = ok({"f.rvl", "group", "describe", "g"});
  EXPECT_NE(table.find("COMMITTED"), std::string::npos) << table;
  auto g = nlohmann::json::parse(ok({"f.rvl", "group", "describe", "g", "--json"}));
  EXPECT_EQ(g["partitions"][0]["committed"], 4);
  EXPECT_EQ(g["partitions"][0]["lag"], 0);

  ok({"f.rvl", "group", "reset", "g", "--topic", "t", "--to", "1"});
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g"}), "b\nc\nd\n");
  ok({"f.rvl", "group", "reset", "g", "--topic", "t", "--to", "earliest"});
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g", "--limit", "1"}), "a\n");
  ok({"f.rvl", "group", "reset", "g", "--topic", "t", "--to", "latest"});
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g"}), "");
  EXPECT_NE(fails(1, {"f.rvl", "group", "reset", "g", "--topic", "t", "--to", "9"}).find("out of range"),
            std::string::npos);
  EXPECT_NE(fails(2, {"f.rvl", "group", "reset", "g", "--topic", "t", "--to", "soon"}).find("--to"),
            std::string::npos);

  ok({"f.rvl", "group", "delete", "g"});
  EXPECT_EQ(ok({"f.rvl", "group", "list"}), "other\n");
  EXPECT_NE(fails(1, {"f.rvl", "group", "describe", "g"}).find("no committed offsets"), std::string::npos);
  EXPECT_NE(fails(1, {"f.rvl", "group", "delete", "g"}).find("no committed offsets"), std::string::npos);
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g", "--limit", "1"}), "a\n");  // starts over
  EXPECT_EQ(ok({"f.rvl", "topic", "list"}), "t\n");  // the offsets topic stays internal
}

// An empty (or too long) --group is a bad value, not a plain read of the
// topic as no member that commits nothing.
TEST_F(CliTest, ConsumeRefusesABadGroupName) {
  ok({"f.rvl", "topic", "create", "t"});
  ok({"f.rvl", "produce", "t"}, "a\n");
  EXPECT_NE(fails(2, {"f.rvl", "consume", "t", "--group", ""}).find("--group: a group name must not be empty"),
            std::string::npos);
  EXPECT_NE(fails(2, {"f.rvl", "consume", "t", "--group", std::string(249, 'g')}).find("--group"), std::string::npos);
}

TEST_F(CliTest, ConsumeReadsAllPartitions) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "3"});
  std::string input;
  for (int i = 0; i < 30; i++) input += R"({"partition":)" + std::to_string(i % 3) + R"(,"value":"v)" + std::to_string(i) + "\"}\n";
  ok({"f.rvl", "produce", "t", "--format", "json"}, input);
  auto recs = json_lines(ok({"f.rvl", "consume", "t", "--format", "json"}));
  ASSERT_EQ(recs.size(), 30u);
  int per[3] = {0, 0, 0};
  int64_t next[3] = {0, 0, 0};
  for (const json& r : recs) {
    int p = r["partition"];
    per[p]++;
    EXPECT_EQ(r["offset"], next[p]++);  // in offset order within a partition
  }
  EXPECT_EQ(per[0], 10);
  EXPECT_EQ(per[1], 10);
  EXPECT_EQ(per[2], 10);
  EXPECT_EQ(count_lines(ok({"f.rvl", "consume", "t", "--limit", "13"})), 13u);
}

TEST_F(CliTest, JsonRoundTripIsByteExact) {
  ok({"a.rvl", "topic", "create", "t", "--partitions", "3"});
  // Binary keys and values (not UTF-8), null key, null value, empty values,
  // repeated header keys, header with null value, escapes and non-ASCII
  // text, explicit partitions and timestamps.
  const std::string input =
      R"({"key":{"base64":"/wABAg=="},"value":{"base64":"gICA/v8="},"partition":0,"timestamp":1}
{"key":null,"value":"no key","partition":1,"timestamp":2}
{"key":"tombstone","value":null,"partition":2,"timestamp":3}
{"key":"","value":"","partition":0,"timestamp":4}
{"key":"h","value":"v","headers":[{"key":"x","value":"1"},{"key":"x","value":"2"},{"key":"n","value":null},{"key":{"base64":"wA=="},"value":{"base64":"7aCA"}}],"partition":1,"timestamp":1700000000000}
{"key":"esc","value":"quote \" backslash \\ tab \t nl \n nul \u0000 del \u007f","partition":2,"timestamp":5}
{"key":"utf8","value":"héllo wörld ✓ 😀","partition":0,"timestamp":6}
{"topic":"ignored","offset":99,"value":"extra fields are ignored","partition":1,"timestamp":7}
)";
  ok({"a.rvl", "produce", "t", "--format", "json"}, input);
  std::string from_a = ok({"a.rvl", "consume", "t", "--format", "json"});
  ASSERT_EQ(count_lines(from_a), 8u) << from_a;

  ok({"b.rvl", "produce", "t", "--format", "json", "--create", "--partitions", "3"}, from_a);
  std::string from_b = ok({"b.rvl", "consume", "t", "--format", "json"});
  EXPECT_EQ(from_a, from_b);

  // And the forms are as documented.
  auto recs = json_lines(from_a);
  bool saw_binary = false, saw_null_key = false, saw_null_value = false, saw_headers = false;
  for (const json& r : recs) {
    if (r["timestamp"] == 1) {
      saw_binary = true;
      EXPECT_EQ(r["key"], json::parse(R"({"base64":"/wABAg=="})"));
      EXPECT_EQ(r["value"], json::parse(R"({"base64":"gICA/v8="})"));
      EXPECT_EQ(r["partition"], 0);
    }
    if (r["timestamp"] == 2) saw_null_key = r["key"].is_null() && r["value"] == "no key";
    if (r["timestamp"] == 3) saw_null_value = r["value"].is_null();
    if (r["timestamp"] == 1700000000000) {
      saw_headers = true;
      EXPECT_EQ(r["headers"], json::parse(R"([{"key":"x","value":"1"},{"key":"x","value":"2"},
          {"key":"n","value":null},{"key":{"base64":"wA=="},"value":{"base64":"7aCA"}}])"));
    }
    if (r["timestamp"] == 5) {
      EXPECT_EQ(r["value"].get<std::string>(), "quote \" backslash \\ tab \t nl \n nul \0 del \x7f"s);
    }
    if (r["timestamp"] == 6) {
      EXPECT_EQ(r["value"], "héllo wörld ✓ 😀");
    }
    if (r["timestamp"] == 7) {
      EXPECT_EQ(r["topic"], "t");
      EXPECT_EQ(r["offset"], 2);  // third record of partition 1
    }
  }
  EXPECT_TRUE(saw_binary && saw_null_key && saw_null_value && saw_headers);

  // Text output prints the raw bytes (null as nothing).
  std::string text = ok({"a.rvl", "consume", "t", "--partition", "0", "--key-separator", "="});
  EXPECT_EQ(text, "\xff\x00\x01\x02=\x80\x80\x80\xfe\xff\n"s + "=\n" + "utf8=héllo wörld ✓ 😀\n");
}

TEST_F(CliTest, BadJsonInputNamesTheLine) {
  ok({"f.rvl", "topic", "create", "t"});
  for (const std::string bad : {"not json", "[1,2]", R"({"value":5})", R"({"value":{"base64":"***"}})",
                                R"({"partition":-1})", R"({"timestamp":1.5})",
                                R"({"headers":[{"value":"x"}]})", R"({"headers":[{"key":null}]})", ""}) {
    std::string err = fails(1, {"f.rvl", "produce", "t", "--format", "json"},
                            "{\"value\":\"ok\"}\n" + bad + "\n");
    EXPECT_NE(err.find("line 2"), std::string::npos) << bad << ": " << err;
  }
  fails(2, {"f.rvl", "produce", "t", "--format", "json", "--key", "k"}, "{}\n");
}

// nlohmann throws out_of_range, not parse_error, for a number no double
// holds; it escaped and the tool died without naming the line.
TEST_F(CliTest, ANumberTooLargeForADoubleIsABadLine) {
  ok({"f.rvl", "topic", "create", "t"});
  for (const std::string bad : {R"({"value":"a","timestamp":1e999})", R"({"partition":-1e400})",
                                R"({"value":"a","headers":[{"key":"k","value":1E+999}]})"}) {
    std::string err = fails(1, {"f.rvl", "produce", "t", "--format", "json"}, "{\"value\":\"ok\"}\n" + bad + "\n");
    EXPECT_NE(err.find("standard input line 2: invalid JSON: number overflow"), std::string::npos)
        << bad << ": " << err;
  }
  // The line before the bad one is committed each time, as for any bad line.
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "ok\nok\nok\n");
}

TEST_F(CliTest, UnknownTopicAndCreate) {
  ok({"f.rvl", "topic", "create", "other"});
  std::string err = fails(1, {"f.rvl", "produce", "t", "v"});
  EXPECT_NE(err.find("'t'"), std::string::npos) << err;
  EXPECT_NE(err.find("topic create"), std::string::npos) << err;  // says how to create it
  fails(1, {"f.rvl", "produce", "t"}, "a\nb\n");
  fails(1, {"f.rvl", "consume", "t"});

  ok({"f.rvl", "produce", "t", "v", "--create"});
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "v\n");
  ok({"f.rvl", "produce", "t3", "--create", "--partitions", "3"}, "x\ny\n");
  json d = json::parse(ok({"f.rvl", "topic", "describe", "t3", "--json"}));
  EXPECT_EQ(d["partitions"].size(), 3u);
  // --create on a fresh path creates the file too.
  ok({"new.rvl", "produce", "t", "v", "--create", "--sync", "full"});
  EXPECT_EQ(ok({"new.rvl", "consume", "t"}), "v\n");
}

// --- stat, check, dump --------------------------------------------------------

TEST_F(CliTest, StatCheckDump) {
  ok({"f.rvl", "topic", "create", "orders", "--partitions", "2"});
  ok({"f.rvl", "produce", "orders", "--key-separator", "|"}, "a|first-value\nb|second-value\n");
  ok({"f.rvl", "produce", "orders", "third-value", "--partition", "1"});

  std::string stat = ok({"f.rvl", "stat"});
  for (const char* word : {"f.rvl", "format version", "file size", "log end", "segment",
                           "frames", "orders", "PARTITION", "RECORDS"}) {
    EXPECT_NE(stat.find(word), std::string::npos) << word << "\n" << stat;
  }
  json s = json::parse(ok({"f.rvl", "stat", "--json"}));
  EXPECT_EQ(s["format_version"], 4);
  EXPECT_GT(s["file_size"].get<uint64_t>(), 0u);
  EXPECT_GT(s["log_end"].get<uint64_t>(), 0u);
  ASSERT_EQ(s["topics"].size(), 1u);
  EXPECT_EQ(s["topics"][0]["name"], "orders");
  int64_t total = 0;
  for (const json& p : s["topics"][0]["partitions"]) total += p["record_count"].get<int64_t>();
  EXPECT_EQ(total, 3);

  std::string check = ok({"f.rvl", "check"});
  EXPECT_NE(check.find("frames"), std::string::npos) << check;
  EXPECT_NE(check.find("records"), std::string::npos) << check;
  EXPECT_NE(check.find("ok"), std::string::npos) << check;
  json c = json::parse(ok({"f.rvl", "check", "--json"}));
  EXPECT_EQ(c["ok"], true);
  EXPECT_EQ(c["records"].get<int>() >= 3, true);
  EXPECT_TRUE(c["problems"].empty());

  std::string dump = ok({"f.rvl", "dump"});
  EXPECT_NE(dump.find("frame"), std::string::npos) << dump;
  EXPECT_NE(dump.find("orders"), std::string::npos) << dump;
  EXPECT_EQ(dump.find("third-value"), std::string::npos);
  std::string with_records = ok({"f.rvl", "dump", "--records"});
  for (const char* v : {"first-value", "second-value", "third-value"}) {
    EXPECT_NE(with_records.find(v), std::string::npos) << v << "\n" << with_records;
  }
  auto frames = json_lines(ok({"f.rvl", "dump", "--json", "--records"}));
  int records = 0;
  for (const json& f : frames) {
    EXPECT_TRUE(f.contains("position"));
    for (const json& b : f["batches"]) {
      if (b["topic"] == "orders") {
        ASSERT_TRUE(b.contains("records")) << b.dump();
        records += static_cast<int>(b["records"].size());
        EXPECT_EQ(b["records"].size(), b["record_count"]);
      }
    }
  }
  EXPECT_EQ(records, 3);
}

// A compacted batch keeps its offsets, with gaps: dump --records lists its
// records up to its last offset, not base offset + record count.
TEST_F(CliTest, DumpListsTheRecordsOfACompactedBatch) {
  ok({"f.rvl", "topic", "create", "c", "--config", "cleanup.policy=compact"});
  std::string lines;
  for (int i = 0; i < 3000; ++i) lines += "k" + std::to_string(i % 3) + ":" + std::string(40, 'v') + "\n";
  ok({"f.rvl", "produce", "c", "--key-separator", ":"}, lines);
  // Later commits clean as they go (a 64 KiB step): the early batches are
  // compacted into relocated frames.
  ok({"f.rvl", "produce", "c", "x", "--key", "k9"});
  ok({"f.rvl", "produce", "c", "y", "--key", "k9"});
  // The last copy of a batch in log order is the live one, whose records
  // dump --records shows (earlier copies show the live copy's too).
  std::map<int64_t, json> live;
  for (const json& f : json_lines(ok({"f.rvl", "dump", "--json", "--records"}))) {
    for (const json& b : f["batches"]) {
      if (b["topic"] == "c") live[b["base_offset"].get<int64_t>()] = b;
    }
  }
  int compacted = 0;
  for (const auto& [base, b] : live) {
    const int64_t last = b["last_offset"], count = b["record_count"];
    if (count == 0 || base + count - 1 == last) continue;
    ++compacted;
    ASSERT_TRUE(b.contains("records")) << b.dump();
    EXPECT_EQ(b["records"].size(), static_cast<size_t>(count)) << b.dump();
    for (const json& r : b["records"]) {
      EXPECT_GE(r["offset"].get<int64_t>(), base);
      EXPECT_LE(r["offset"].get<int64_t>(), last);
    }
  }
  EXPECT_GT(compacted, 0) << "no compacted batch with records to look at";
}

TEST_F(CliTest, DumpRecordsOfADeletedTopicAreNotShownUnderItsNewNamesake) {
  ok({"f.rvl", "produce", "t", "old-value", "--create"});
  ok({"f.rvl", "topic", "delete", "t"});
  ok({"f.rvl", "produce", "t", "new-value", "--create"});
  std::string dump = ok({"f.rvl", "dump", "--records"});
  EXPECT_EQ(dump.find("old-value"), std::string::npos) << dump;
  EXPECT_NE(dump.find("new-value"), std::string::npos) << dump;
  EXPECT_NE(dump.find("deleted"), std::string::npos) << dump;
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "new-value\n");
}

TEST_F(CliTest, CheckFindsCorruption) {
  ok({"f.rvl", "topic", "create", "t"});
  for (int i = 1; i <= 5; i++) ok({"f.rvl", "produce", "t", "value-number-" + std::to_string(i)});
  ok({"f.rvl", "check"});

  std::string bytes = read_file("f.rvl");
  size_t at = bytes.find("value-number-1");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 3] ^= 0x20;
  write_file("f.rvl", bytes);

  RunResult r = run({"f.rvl", "check"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("rivulet: ", 0), 0u);
  EXPECT_NE((r.out + r.err).find("position"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("NOT OK"), std::string::npos) << r.out;

  RunResult j = run({"f.rvl", "check", "--json"});
  EXPECT_EQ(j.exit_code, 1);
  json report = json::parse(j.out);
  EXPECT_EQ(report["ok"], false);
  EXPECT_FALSE(report["problems"].empty());

  fails(1, {"f.rvl", "dump"});
}

TEST_F(CliTest, RefusesFilesThatAreNotRivulet) {
  const std::string content = "hello world\n";
  write_file("x.rvl", content);
  const std::vector<std::vector<std::string>> commands = {
      {"topic", "create", "t"},  {"topic", "list"},    {"topic", "describe", "t"},
      {"topic", "delete", "t"},  {"produce", "t", "v"}, {"produce", "t", "v", "--create"},
      {"consume", "t"},          {"stat"},             {"check"},
      {"dump"},                  {"dump", "--records"}};
  for (const auto& c : commands) {
    std::vector<std::string> args = {"x.rvl"};
    args.insert(args.end(), c.begin(), c.end());
    std::string err = fails(1, args);
    EXPECT_NE(err.find("not a Rivulet file"), std::string::npos)
        << ::testing::PrintToString(c) << ": " << err;
  }
  EXPECT_EQ(read_file("x.rvl"), content);
  fails(1, {"x.rvl", "produce", "t"}, "line\n");
  EXPECT_EQ(read_file("x.rvl"), content);
}

// --- processes working together ------------------------------------------------

TEST_F(CliTest, FollowSeesRecordsFromAnotherProcess) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "2"});
  Child consumer(dir_.path(), {"f.rvl", "consume", "t", "--follow", "--limit", "3"});
  // Give the consumer a moment to reach its polling loop (not required for
  // correctness: it starts at the earliest offset and would see the records
  // anyway, but this way it most likely waits for them).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ok({"f.rvl", "produce", "t", "one", "--partition", "0"});
  ok({"f.rvl", "produce", "t", "--partition", "1"}, "two\nthree\n");
  RunResult r = consumer.finish({}, std::chrono::seconds(30));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_of(r.out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "three", "two"}));
}

// consume --group without --follow drains its share of the group, also
// the partitions an earlier member still held when it joined: it waits for
// that member to let them go (at its next poll), and fails naming them if
// the member never does.
TEST_F(CliTest, GroupConsumeWithoutFollowWaitsForItsShare) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "2"});
  ok({"f.rvl", "produce", "t", "--partition", "1"}, "a\nb\n");
  auto db = Db::open(path("f.rvl"));
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  auto holder = Consumer::create(**db, {.group = "g", .auto_offset_reset = rivulet::OffsetReset::earliest});
  ASSERT_TRUE(holder.ok()) << holder.status().to_string();
  ASSERT_TRUE((*holder)->subscribe({"t"}).ok());
  ASSERT_EQ((*holder)->assignment().size(), 2u);
  const TopicPartition one{"t", 1};
  ASSERT_TRUE((*holder)->pause({&one, 1}).ok());  // holds partition 1 without reading it

  // A member that does not poll keeps what it holds: the command gives up.
  std::string err = fails(1, {"f.rvl", "consume", "t", "--group", "g"});
  EXPECT_NE(err.find("stopped without t[1]: another member of group 'g' has held it"), std::string::npos) << err;

  // A member that polls lets go of the newcomer's share.
  std::atomic<bool> stop{false};
  std::thread polling([&] {
    while (!stop) EXPECT_TRUE((*holder)->poll(std::chrono::milliseconds(5)).ok());
  });
  EXPECT_EQ(ok({"f.rvl", "consume", "t", "--group", "g"}), "a\nb\n");
  stop = true;
  polling.join();
}

TEST_F(CliTest, GroupMembersSharePartitions) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "2"});
  Child a(dir_.path(), {"f.rvl", "consume", "t", "--group", "g", "--follow", "--format", "json"});
  Child b(dir_.path(), {"f.rvl", "consume", "t", "--group", "g", "--follow", "--format", "json"});
  // Until both have joined and the partitions have moved, describe says who
  // holds what.
  auto deadline = Clock::now() + std::chrono::seconds(30);
  json members;
  while (Clock::now() < deadline) {
    RunResult d = run({"f.rvl", "group", "describe", "g", "--json"});
    if (d.exit_code == 0) {
      members = json::parse(d.out)["members"];
      if (members.size() == 2 && members[0]["assignment"].size() == 1) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(members.size(), 2u) << members;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a member lets go at its next look
  std::string input;
  for (int i = 0; i < 20; i++) input += R"({"partition":)" + std::to_string(i % 2) + R"(,"value":"v)" + std::to_string(i) + "\"}\n";
  ok({"f.rvl", "produce", "t", "--format", "json"}, input);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string table = ok({"f.rvl", "group", "describe", "g"});
  EXPECT_NE(table.find("MEMBER"), std::string::npos) << table;
  EXPECT_NE(fails(1, {"f.rvl", "group", "reset", "g", "--topic", "t", "--to", "earliest"}).find("live member"),
            std::string::npos);
  EXPECT_NE(fails(1, {"f.rvl", "group", "delete", "g"}).find("live member"), std::string::npos);

  std::set<int> partitions_a, partitions_b;
  size_t total = 0;
  for (auto [child, parts] : {std::pair{&a, &partitions_a}, std::pair{&b, &partitions_b}}) {
    RunResult r = child->finish({}, std::chrono::seconds(1));  // killed: they follow forever
    for (const json& rec : json_lines(r.out)) parts->insert(rec["partition"].get<int>());
    total += count_lines(r.out);
  }
  EXPECT_EQ(total, 20u);
  EXPECT_EQ(partitions_a.size(), 1u);
  EXPECT_EQ(partitions_b.size(), 1u);
  EXPECT_NE(partitions_a, partitions_b);
  // Killed members are gone; their commits stay.
  json g = json::parse(ok({"f.rvl", "group", "describe", "g", "--json"}));
  EXPECT_TRUE(g["members"].empty()) << g;
  EXPECT_EQ(g["partitions"].size(), 2u) << g;
}

TEST_F(CliTest, SlowInputIsCommittedLineByLine) {
  ok({"f.rvl", "topic", "create", "t"});
  Child producer(dir_.path(), {"f.rvl", "produce", "t"});
  producer.write_stdin("first\n");
  // The producer still has stdin open; the first line must be visible anyway.
  std::string seen;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    seen = ok({"f.rvl", "consume", "t"});
    if (!seen.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(seen, "first\n");
  producer.write_stdin("second\n");
  RunResult r = producer.finish();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ok({"f.rvl", "consume", "t"}), "first\nsecond\n");
}

TEST_F(CliTest, ClosedStdoutEndsQuietly) {
  ok({"f.rvl", "topic", "create", "t"});
  std::string input;
  for (int i = 0; i < 20000; i++) input += "some record text that fills the pipe " + std::to_string(i) + "\n";
  ok({"f.rvl", "produce", "t", "--sync", "off"}, input);
  Child consumer(dir_.path(), {"f.rvl", "consume", "t"});
  consumer.read_stdout_at_least(1, std::chrono::seconds(30));
  consumer.close_stdout();
  RunResult r = consumer.finish({}, std::chrono::seconds(30));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
}


// consume --group --from latest: a record that arrives for a partition the
// member has not printed from yet must not be skipped when the partition
// moves to a newcomer (the newcomer starts where the group committed, and
// at latest where it committed nothing). The first member is stopped only to
// make the timing certain: the record lands while the partition is still
// its own and the newcomer has joined.
TEST_F(CliTest, GroupFromLatestLosesNoRecordWhenAPartitionMoves) {
  ok({"f.rvl", "topic", "create", "t", "--partitions", "2"});
  Child a(dir_.path(), {"f.rvl", "consume", "t", "--group", "g", "--from", "latest", "--follow"});
  auto members_now = [&] {
    RunResult d = run({"f.rvl", "group", "describe", "g", "--json"});
    return d.exit_code == 0 ? json::parse(d.out)["members"] : json::array();
  };
  auto deadline = Clock::now() + std::chrono::seconds(30);
  json members;
  while (Clock::now() < deadline && (members = members_now()).size() != 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(members.size(), 1u);
  const pid_t a_pid = members[0]["pid"].get<pid_t>();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a holds both partitions, at their end
  ASSERT_EQ(::kill(a_pid, SIGSTOP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ok({"f.rvl", "produce", "t", "--partition", "1"}, "x\n");  // a's partition, b's share once b joins
  Child b(dir_.path(), {"f.rvl", "consume", "t", "--group", "g", "--from", "latest", "--follow"});
  while (Clock::now() < deadline && members_now().size() != 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(::kill(a_pid, SIGCONT), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a lets partition 1 go, b takes it
  ok({"f.rvl", "produce", "t", "--partition", "1"}, "y\n");
  ok({"f.rvl", "produce", "t", "--partition", "0"}, "z\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<std::string> printed;
  for (Child* child : {&a, &b}) {
    RunResult r = child->finish({}, std::chrono::seconds(1));  // killed: they follow forever
    for (const std::string& line : lines_of(r.out)) printed.push_back(line);
  }
  std::sort(printed.begin(), printed.end());
  EXPECT_EQ(printed, (std::vector<std::string>{"x", "y", "z"}));
}


// consume --group commits where it is when a partition moves, also where
// it printed nothing; a topic deleted and created again under its name
// moves its partition too, and the old topic's position must not become
// the new topic's offset: where the group committed nothing, --from says
// where to start. (Here, with --from latest, the old topic's end would
// print the new topic's records from offset 3 on.) The member is stopped
// so that the whole change happens between two of its looks.
TEST_F(CliTest, GroupMemberStartsATopicCreatedAgainUnderItsNameFromFrom) {
  ok({"f.rvl", "topic", "create", "t"});
  ok({"f.rvl", "produce", "t"}, "old0\nold1\nold2\n");
  Child a(dir_.path(), {"f.rvl", "consume", "t", "--group", "g", "--from", "latest", "--follow"});
  auto deadline = Clock::now() + std::chrono::seconds(30);
  json members;
  while (Clock::now() < deadline && members.size() != 1) {
    RunResult d = run({"f.rvl", "group", "describe", "g", "--json"});
    if (d.exit_code == 0) members = json::parse(d.out)["members"];
    if (members.size() != 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(members.size(), 1u) << members;
  const pid_t a_pid = members[0]["pid"].get<pid_t>();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a holds t[0], at its end
  ASSERT_EQ(::kill(a_pid, SIGSTOP), 0);
  ok({"f.rvl", "topic", "delete", "t"});
  ok({"f.rvl", "topic", "create", "t"});
  ok({"f.rvl", "produce", "t"}, "new0\nnew1\nnew2\nnew3\nnew4\n");
  ASSERT_EQ(::kill(a_pid, SIGCONT), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a takes the new t[0]
  ok({"f.rvl", "produce", "t"}, "after\n");
  a.read_stdout_at_least(6, std::chrono::seconds(5));
  RunResult r = a.finish({}, std::chrono::seconds(1));  // killed: it follows forever
  EXPECT_EQ(r.out, "after\n") << r.err;
}
}  // namespace
