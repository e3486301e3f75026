// raftlogctl (cli/) as users run it: the real binary, forked with its
// stdin from a string and its stdout and stderr captured, against three
// real raftlogd processes (tests/cluster). Checks output (tables, and JSON
// parsed here) and exit codes of every command:
//   - usage errors exit 2 before any network call, --help exits 0, an
//     unreachable cluster exits 1 naming every address tried;
//   - topic create|list|describe|alter-config|add-partitions|delete,
//     cluster status, partition transfer-leader, with the server's reasons
//     for refusals;
//   - produce (key separator, acks, partition, headers, a line without the
//     separator, binary bytes) and consume (from beginning, offset,
//     timestamp, max messages, idle timeout, text and JSON formats, binary
//     values as base64), groups (commits of what was printed, resuming,
//     SIGINT exits 0 after committing), group list|describe|reset-offsets
//     (dry run, --execute, refused while a member is active)|delete.
// One cluster per TEST (ctest runs each TEST in its own process); every
// wait is bounded.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/process_cluster.h"

#ifndef RAFTLOGCTL_PATH
#define RAFTLOGCTL_PATH ""
#endif

extern char** environ;

namespace raftlog::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Result {
  int code = -1;  // exit code, 128 + signal, -1 = timed out (killed)
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// raftlogctl run as a child process with files for stdin, stdout, stderr.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& input,
        const std::vector<std::string>& env_extra) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("raftlogctl-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(dir_);
    in_ = (dir_ / "in").string();
    out_ = (dir_ / "out").string();
    err_ = (dir_ / "err").string();
    std::ofstream(in_, std::ios::binary) << input;
    std::vector<std::string> argv_s = {RAFTLOGCTL_PATH};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("RAFTLOG_BROKERS=", 0) != 0) env_s.push_back(*e);
    }
    env_s.insert(env_s.end(), env_extra.begin(), env_extra.end());
    std::vector<char*> argv, envp;
    for (std::string& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (std::string& s : env_s) envp.push_back(s.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int in = ::open(in_.c_str(), O_RDONLY);
      const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Signal(int sig) { ::kill(pid_, sig); }
  std::string Stdout() const { return ReadFile(out_); }
  std::string Stderr() const { return ReadFile(err_); }

  // Waits for exit (SIGKILL after `timeout`: code -1).
  Result Wait(std::chrono::milliseconds timeout) {
    Result r;
    const Clock::time_point deadline = Clock::now() + timeout;
    int status = 0;
    while (true) {
      const pid_t p = ::waitpid(pid_, &status, WNOHANG);
      if (p == pid_) {
        reaped_ = true;
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (Clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        reaped_ = true;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    r.out = Stdout();
    r.err = Stderr();
    return r;
  }

 private:
  std::filesystem::path dir_;
  std::string in_, out_, err_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

Result RunCtl(const std::vector<std::string>& args, const std::string& input = "",
              std::chrono::milliseconds timeout = 30s, const std::vector<std::string>& env = {}) {
  Child c(args, input, env);
  return c.Wait(timeout);
}

std::string Describe(const Result& r) {
  return "exit " + std::to_string(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

Json ParseJson(const Result& r) {
  Json j = Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << Describe(r);
  return j;
}

// One JSON object per stdout line.
std::vector<Json> ParseJsonLines(const Result& r) {
  std::vector<Json> out;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    Json j = Json::parse(std::string(line), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    out.push_back(std::move(j));
  }
  return out;
}

// ---------------------------------------------------------------------------
// No cluster needed.

TEST(RaftlogctlTest, UsageErrorsHelpAndUnreachableCluster) {
  // Usage errors: exit 2, a message on stderr, nothing on stdout.
  const std::vector<std::vector<std::string>> usage = {
      {},
      {"topic"},
      {"topic", "create"},
      {"topic", "create", "x", "-p", "0"},
      {"topic", "create", "x", "--replicas", "two"},
      {"topic", "list", "--format", "xml"},
      {"topic", "list", "--brokers", "nohost"},
      {"topic", "list", "--brokers", "h:99999"},
      {"topic", "list", "--timeout", "soon"},
      {"topic", "list", "extra"},
      {"topic", "alter-config", "t"},
      {"topic", "add-partitions", "t"},
      {"topic", "add-partitions", "t", "--total", "3", "--num", "1"},
      {"topic", "frobnicate"},
      {"produce"},
      {"produce", "t", "--acks", "2"},
      {"produce", "t", "--header", "novalue"},
      {"consume", "t", "--offset", "3"},
      {"consume", "t", "--offset", "3", "-p", "0", "--from-beginning"},
      {"consume", "t", "--group", "g", "--partition", "0"},
      {"consume", "t", "--max-messages", "0"},
      {"consume", "t", "--idle-timeout", "never"},
      {"group", "describe"},
      {"group", "reset-offsets", "g", "--topic", "t"},
      {"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"},
      {"group", "reset-offsets", "g", "--to-earliest"},
      {"group", "reset-offsets", "g", "--topic", ":1", "--to-earliest"},
      {"cluster"},
      {"partition", "transfer-leader", "t", "-p", "0"},
      {"nonsense"},
  };
  for (const auto& args : usage) {
    Result r = RunCtl(args, "", 10s, {"RAFTLOG_BROKERS=127.0.0.1:1"});
    std::string joined;
    for (const std::string& a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\n" << Describe(r);
    EXPECT_FALSE(r.err.empty()) << joined;
    EXPECT_TRUE(r.out.empty()) << joined << "\n" << Describe(r);
  }

  // --help on every command: exit 0 with an example.
  const std::vector<std::vector<std::string>> help = {
      {"--help"},
      {"topic", "create", "--help"},
      {"topic", "list", "--help"},
      {"topic", "describe", "--help"},
      {"topic", "delete", "--help"},
      {"topic", "alter-config", "--help"},
      {"topic", "add-partitions", "--help"},
      {"produce", "--help"},
      {"consume", "--help"},
      {"group", "list", "--help"},
      {"group", "describe", "--help"},
      {"group", "reset-offsets", "--help"},
      {"group", "delete", "--help"},
      {"cluster", "status", "--help"},
      {"partition", "transfer-leader", "--help"},
  };
  for (const auto& args : help) {
    Result r = RunCtl(args);
    EXPECT_EQ(r.code, 0) << args[0] << "\n" << Describe(r);
    EXPECT_THAT(r.out, HasSubstr("raftlogctl ")) << args[0];
    EXPECT_THAT(r.out, HasSubstr("--brokers"));
    if (args.size() > 1) {
      EXPECT_THAT(r.out, HasSubstr("Example"));
    }
  }

  // Unreachable: exit 1 naming every address tried; also from the env var.
  absl::StatusOr<int> p1 = PickFreePort();
  absl::StatusOr<int> p2 = PickFreePort();
  ASSERT_TRUE(p1.ok() && p2.ok());
  const std::string a1 = "127.0.0.1:" + std::to_string(*p1);
  const std::string a2 = "127.0.0.1:" + std::to_string(*p2);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"topic", "list", "--brokers", a1 + "," + a2, "--timeout", "1s"},
           {"cluster", "status", "--brokers", a1 + "," + a2, "--timeout", "1s", "--format", "json"},
           {"consume", "t", "--brokers", a1 + "," + a2, "--timeout", "1s"},
       }) {
    Result r = RunCtl(args, "", 20s);
    EXPECT_EQ(r.code, 1) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr(a1));
    EXPECT_THAT(r.err, HasSubstr(a2));
    EXPECT_THAT(r.err, Not(HasSubstr("terminate called")));
  }
  Result r = RunCtl({"topic", "list", "--timeout", "1s"}, "", 20s, {"RAFTLOG_BROKERS=" + a2});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("tried " + a2));
  r = RunCtl({"produce", "t", "--brokers", a1, "--timeout", "1s"}, "x\n", 20s);
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(a1));
}

// ---------------------------------------------------------------------------
// Against a 3-node cluster.

class RaftlogctlClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessClusterOptions o;
    o.extra_args = {"--broker-session-timeout-ms=3000", "--broker-heartbeat-interval-ms=300",
                    "--leader-rebalance-interval-ms=0"};
    cluster_ = std::make_unique<ProcessCluster>(o);
    ASSERT_TRUE(cluster_->StartAll().ok());
    for (int id = 1; id <= 3; ++id) brokers_ += (id > 1 ? "," : "") + cluster_->Address(id);
    // Topics need the brokers registered: wait for `cluster status` to say so.
    const Clock::time_point deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
      Result r = Ctl({"cluster", "status", "--format", "json"});
      if (r.code == 0) {
        Json j = Json::parse(r.out, nullptr, false);
        int alive = 0;
        if (!j.is_discarded()) {
          for (const Json& n : j["nodes"]) alive += n["status"] == "alive" ? 1 : 0;
        }
        if (alive == 3) return;
      }
      std::this_thread::sleep_for(200ms);
    }
    FAIL() << "the brokers did not all register within 30 s";
  }

  // raftlogctl with --brokers for this cluster.
  Result Ctl(std::vector<std::string> args, const std::string& input = "",
             std::chrono::milliseconds timeout = 30s) {
    args.push_back("--brokers");
    args.push_back(brokers_);
    return RunCtl(args, input, timeout);
  }

  // `topic describe NAME --format json`.
  Json DescribeTopic(const std::string& name) {
    Result r = Ctl({"topic", "describe", name, "--format", "json"});
    EXPECT_EQ(r.code, 0) << Describe(r);
    return ParseJson(r);
  }

  // `group describe G --format json`.
  Json DescribeGroup(const std::string& group) {
    Result r = Ctl({"group", "describe", group, "--format", "json"});
    EXPECT_EQ(r.code, 0) << Describe(r);
    return ParseJson(r);
  }

  static int64_t SumCommitted(const Json& group) {
    int64_t sum = 0;
    for (const Json& o : group["offsets"]) {
      if (!o["committed_offset"].is_null()) sum += o["committed_offset"].get<int64_t>();
    }
    return sum;
  }

  std::unique_ptr<ProcessCluster> cluster_;
  std::string brokers_;
};

TEST_F(RaftlogctlClusterTest, TopicClusterAndPartitionCommands) {
  // topic create: table, then JSON with configs.
  Result r = Ctl({"topic", "create", "orders", "--partitions", "3", "--replicas", "3"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("Created topic orders: 3 partition(s), replication factor 3"));
  r = Ctl({"topic", "create", "audit", "-p", "2", "-r", "3", "-c", "retention.ms=60000", "--format",
           "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  Json created = ParseJson(r);
  EXPECT_EQ(created["name"], "audit");
  EXPECT_EQ(created["partition_count"], 2);
  EXPECT_EQ(created["replication_factor"], 3);
  EXPECT_EQ(created["configs"]["retention.ms"], "60000");
  EXPECT_EQ(created["partitions"].size(), 2u);

  // Refusals carry the server's reason and exit 1.
  r = Ctl({"topic", "create", "orders", "-p", "1"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("already exists"));
  r = Ctl({"topic", "create", "wide", "-p", "1", "-r", "5"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("replication factor 5"));
  r = Ctl({"topic", "create", "bad name!"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_FALSE(r.err.empty());

  // topic list.
  r = Ctl({"topic", "list"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("NAME"));
  EXPECT_THAT(r.out, HasSubstr("orders"));
  EXPECT_THAT(r.out, HasSubstr("retention.ms=60000"));
  r = Ctl({"topic", "list", "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  std::set<std::string> names;
  for (const Json& t : ParseJson(r)) names.insert(t["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"audit", "orders"}));

  // topic describe: leaders, replicas, in-sync replicas, offsets.
  Json d = DescribeTopic("orders");
  ASSERT_EQ(d["partitions"].size(), 3u);
  for (const Json& p : d["partitions"]) {
    EXPECT_FALSE(p["leader"].is_null()) << p.dump();
    EXPECT_EQ(p["replicas"].size(), 3u);
    EXPECT_EQ(p["earliest_offset"], 0);
    EXPECT_EQ(p["latest_offset"], 0);
  }
  EXPECT_EQ(d["effective_configs"].count("retention.ms"), 1u);
  r = Ctl({"topic", "describe", "orders"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("PARTITION  LEADER  REPLICAS  IN-SYNC  EARLIEST  LATEST"));
  EXPECT_THAT(r.out, HasSubstr("Replication factor: 3"));
  r = Ctl({"topic", "describe", "nosuch"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("nosuch"));

  // alter-config: set, reset, unknown key.
  r = Ctl({"topic", "alter-config", "orders", "--set", "retention.ms=3600000", "--set",
           "cleanup.policy=compact"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("retention.ms"));
  EXPECT_THAT(r.out, HasSubstr("3600000"));
  r = Ctl({"topic", "alter-config", "orders", "--delete", "cleanup.policy", "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  Json altered = ParseJson(r);
  EXPECT_EQ(altered["configs"], Json({{"retention.ms", "3600000"}}));
  r = Ctl({"topic", "alter-config", "orders", "--set", "bogus.key=1"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("bogus.key"));

  // add-partitions: --num, --total, shrinking refused.
  r = Ctl({"topic", "add-partitions", "orders", "--num", "1", "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(ParseJson(r)["partition_count"], 4);
  r = Ctl({"topic", "add-partitions", "audit", "--total", "3"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("now has 3 partitions"));
  r = Ctl({"topic", "add-partitions", "orders", "--total", "2"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("partitions"));

  // cluster status: 3 alive nodes, a metadata leader, every partition led.
  r = Ctl({"cluster", "status", "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  Json st = ParseJson(r);
  EXPECT_FALSE(st["metadata_leader"].is_null());
  EXPECT_EQ(st["cluster_id"], "test-cluster");
  ASSERT_EQ(st["nodes"].size(), 3u);
  int leaders = 0, replicas = 0, metadata_leaders = 0;
  for (const Json& n : st["nodes"]) {
    EXPECT_EQ(n["status"], "alive") << n.dump();
    leaders += n["leaders"].get<int>();
    replicas += n["replicas"].get<int>();
    metadata_leaders += n["metadata_leader"].get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(metadata_leaders, 1);
  EXPECT_EQ(st["partitions"]["total"], 7);
  EXPECT_EQ(replicas, 21);
  EXPECT_EQ(st["partitions"]["leaderless"], 0);
  EXPECT_EQ(leaders, 7);
  r = Ctl({"cluster", "status"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("Metadata leader: node "));
  EXPECT_THAT(r.out, HasSubstr("3 registered, 3 alive"));
  EXPECT_THAT(r.out, HasSubstr("NODE  ADDRESS"));

  // partition transfer-leader to another replica, then to a non-replica.
  d = DescribeTopic("orders");
  const uint64_t old_leader = d["partitions"][1]["leader"].get<uint64_t>();
  uint64_t target = 0;
  for (const Json& n : d["partitions"][1]["replicas"]) {
    if (n.get<uint64_t>() != old_leader) target = n.get<uint64_t>();
  }
  r = Ctl({"partition", "transfer-leader", "orders", "--partition", "1", "--to",
           std::to_string(target), "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  Json moved = ParseJson(r);
  EXPECT_EQ(moved["previous_leader"], old_leader);
  EXPECT_EQ(moved["leader"], target);
  // The metadata's leader map follows within a heartbeat or two.
  const Clock::time_point deadline = Clock::now() + 15s;
  uint64_t seen = 0;
  while (Clock::now() < deadline) {
    Json now = DescribeTopic("orders");
    seen = now["partitions"][1]["leader"].is_null()
               ? 0
               : now["partitions"][1]["leader"].get<uint64_t>();
    if (seen == target) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(seen, target);
  r = Ctl({"partition", "transfer-leader", "orders", "-p", "1", "--to", std::to_string(target)});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("already leads"));
  r = Ctl({"partition", "transfer-leader", "orders", "-p", "1", "--to", "99"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("not a replica"));
  r = Ctl({"partition", "transfer-leader", "orders", "-p", "9", "--to", "1"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("no partition 9"));

  // topic delete.
  r = Ctl({"topic", "delete", "audit"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("Deleted topic audit"));
  r = Ctl({"topic", "delete", "audit", "--format", "json"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("audit"));
  r = Ctl({"topic", "list", "--format", "json"});
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(ParseJson(r).size(), 1u);
}

// Groups that only have committed offsets (manual assignment: never joined)
// are listed and described as empty; `group delete` removes them with their
// committed offsets, after which they are gone everywhere.
TEST_F(RaftlogctlClusterTest, GroupListAndDeleteCoverOffsetsOnlyGroups) {
  ASSERT_EQ(Ctl({"topic", "create", "manual-t", "-p", "2", "-r", "3"}).code, 0);
  ASSERT_EQ(Ctl({"produce", "manual-t", "--partition", "0"}, "a\nb\nc\n").code, 0);
  Result r = Ctl(
      {"group", "reset-offsets", "manual", "--topic", "manual-t", "--to-offset", "2", "--execute"});
  ASSERT_EQ(r.code, 0) << Describe(r);

  r = Ctl({"group", "list", "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  Json listing;
  for (const Json& l : ParseJson(r)) {
    if (l["group"] == "manual") listing = l;
  }
  ASSERT_FALSE(listing.is_null()) << r.out;
  EXPECT_EQ(listing["state"], "empty");
  EXPECT_EQ(listing["members"], 0);
  Json g = DescribeGroup("manual");
  EXPECT_EQ(g["state"], "empty");
  EXPECT_EQ(g["members"].size(), 0u);
  ASSERT_EQ(g["offsets"].size(), 2u) << g.dump();
  EXPECT_EQ(SumCommitted(g), 2);  // partition 0 at 2, partition 1 clamped to its end 0
  EXPECT_EQ(g["total_lag"], 1);

  r = Ctl({"group", "delete", "manual"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("Deleted group manual"));
  r = Ctl({"group", "list", "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  for (const Json& l : ParseJson(r)) EXPECT_NE(l["group"], "manual") << r.out;
  r = Ctl({"group", "describe", "manual"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
  r = Ctl({"group", "delete", "manual"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("no members and no committed offsets"));
}

TEST_F(RaftlogctlClusterTest, ProduceConsumeAndGroups) {
  ASSERT_EQ(Ctl({"topic", "create", "events", "-p", "2", "-r", "3"}).code, 0);
  ASSERT_EQ(Ctl({"topic", "create", "single", "-p", "1", "-r", "3"}).code, 0);

  // produce: keys, acks, headers, partition, binary bytes.
  Result r = Ctl({"produce", "events", "--key-separator", ":", "--acks", "all"}, "a:1\nb:2\nc:3\n");
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("3 record(s) acknowledged"));
  r = Ctl({"produce", "events", "--acks", "1", "--partition", "1", "--header", "src=test", "-H",
           "n=2", "--format", "json"},
          "\xff\xfe binary\nplain");  // the last line has no '\n'
  ASSERT_EQ(r.code, 0) << Describe(r);
  Json summary = ParseJson(r);
  EXPECT_EQ(summary["records"], 2);
  EXPECT_EQ(summary["acknowledged"], 2);
  EXPECT_EQ(summary["failed"], 0);
  r = Ctl({"produce", "events", "--acks", "0"}, "x\ny\n");
  ASSERT_EQ(r.code, 0) << Describe(r);
  // A line without the separator fails (and is reported); the rest go.
  r = Ctl({"produce", "events", "--key-separator", "=", "--format", "json"}, "k=v\nnokey\n");
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("1 of 2 record(s) failed"));
  EXPECT_THAT(r.err, HasSubstr("no key separator"));
  EXPECT_EQ(ParseJson(r)["acknowledged"], 1);
  r = Ctl({"produce", "nosuch"}, "x\n");
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown topic"));
  r = Ctl({"produce", "events", "--partition", "5"}, "x\n");
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("no partition 5"));
  const int total = 3 + 2 + 2 + 1;

  // consume everything as JSON lines (acks=0 records are fire and forget,
  // so read until all arrived or the idle timeout).
  r = Ctl({"consume", "events", "--from-beginning", "--max-messages", std::to_string(total),
           "--format", "json"},
          "", 40s);
  ASSERT_EQ(r.code, 0) << Describe(r);
  std::vector<Json> lines = ParseJsonLines(r);
  ASSERT_EQ(lines.size(), static_cast<size_t>(total)) << r.out;
  EXPECT_THAT(r.err, HasSubstr("Processed a total of " + std::to_string(total) + " messages"));
  std::map<std::string, Json> by_value;
  for (const Json& l : lines) {
    for (const char* f : {"topic", "partition", "offset", "timestamp", "key", "value", "headers"}) {
      EXPECT_TRUE(l.contains(f)) << f << " missing in " << l.dump();
    }
    EXPECT_EQ(l["topic"], "events");
    by_value[l["value"].get<std::string>()] = l;
  }
  EXPECT_EQ(by_value["1"]["key"], "a");
  EXPECT_EQ(by_value["3"]["key"], "c");
  EXPECT_TRUE(by_value["x"]["key"].is_null());
  EXPECT_EQ(by_value["v"]["key"], "k");
  // Binary bytes: base64 with a marker.
  ASSERT_EQ(by_value.count("//4gYmluYXJ5"), 1u) << r.out;
  const Json& bin = by_value["//4gYmluYXJ5"];
  EXPECT_EQ(bin["value_encoding"], "base64");
  EXPECT_EQ(bin["partition"], 1);
  EXPECT_EQ(bin["headers"],
            Json::parse(R"([{"key":"src","value":"test"},{"key":"n","value":"2"}])"));
  EXPECT_EQ(by_value["plain"]["partition"], 1);
  EXPECT_FALSE(by_value["plain"].contains("value_encoding"));

  // One partition from an offset; text format with fields.
  ASSERT_EQ(Ctl({"produce", "single"}, "r0\nr1\nr2\nr3\nr4\n").code, 0);
  r = Ctl({"consume", "single", "-p", "0", "--offset", "3", "-n", "2"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "r3\nr4\n");
  r = Ctl({"consume", "single", "-p", "0", "--offset", "1", "-n", "1", "--print-offset",
           "--print-partition", "--print-key"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "Partition:0\tOffset:1\tnull\tr1\n");
  r = Ctl({"consume", "single", "--from-timestamp", "0", "-n", "1"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "r0\n");
  // Nothing after a far-future time: stops at the idle timeout, exit 0.
  r = Ctl({"consume", "single", "--from-timestamp", "99999999999999", "--idle-timeout", "1s"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "");
  r = Ctl({"consume", "single", "--from-beginning", "--idle-timeout", "1500ms"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "r0\nr1\nr2\nr3\nr4\n");
  r = Ctl({"consume", "nosuch", "--idle-timeout", "1s"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown topic"));
  r = Ctl({"consume", "single", "-p", "3"});
  EXPECT_EQ(r.code, 1) << Describe(r);

  // Groups: commits what was printed; a second run resumes there.
  r = Ctl({"consume", "events", "--group", "g1", "--from-beginning", "-n", "5", "--format", "json"},
          "", 60s);
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(ParseJsonLines(r).size(), 5u);
  Json g = DescribeGroup("g1");
  EXPECT_EQ(g["group"], "g1");
  EXPECT_EQ(g["state"], "empty");
  EXPECT_EQ(SumCommitted(g), 5);
  // Lag is shown for the partitions with a commit (the group has no members
  // now to be assigned the others).
  int64_t lag = 0;
  for (const Json& o : g["offsets"]) {
    EXPECT_EQ(o["lag"], o["latest_offset"].get<int64_t>() - o["committed_offset"].get<int64_t>());
    lag += o["lag"].get<int64_t>();
  }
  EXPECT_EQ(g["total_lag"], lag);
  r = Ctl({"group", "describe", "g1"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("TOPIC   PARTITION  COMMITTED  LATEST  LAG  MEMBER"));
  EXPECT_THAT(r.out, HasSubstr("Total lag:  " + std::to_string(lag)));
  // (--from-beginning only matters for a partition nothing was committed for.)
  r = Ctl(
      {"consume", "events", "--group", "g1", "--from-beginning", "-n", std::to_string(total - 5)},
      "", 60s);
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), total - 5);
  g = DescribeGroup("g1");
  EXPECT_EQ(SumCommitted(g), total);
  EXPECT_EQ(g["total_lag"], 0);

  // Follow mode in a group: SIGINT exits 0 after committing. While it runs,
  // the group is active: describe shows the member, reset is refused.
  Child follower({"consume", "events", "--group", "g2", "--from-beginning", "--format", "json",
                  "--brokers", brokers_},
                 "", {});
  Clock::time_point deadline = Clock::now() + 40s;
  while (Clock::now() < deadline) {
    const std::string so_far = follower.Stdout();
    if (std::count(so_far.begin(), so_far.end(), '\n') >= total) break;
    std::this_thread::sleep_for(100ms);
  }
  const std::string followed = follower.Stdout();
  EXPECT_EQ(std::count(followed.begin(), followed.end(), '\n'), total) << follower.Stderr();
  g = DescribeGroup("g2");
  ASSERT_EQ(g["members"].size(), 1u) << g.dump();
  EXPECT_EQ(g["state"], "stable");
  EXPECT_EQ(g["members"][0]["client_id"], "raftlogctl");
  EXPECT_EQ(g["members"][0]["assignment"][0]["topic"], "events");
  r = Ctl({"group", "list", "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  bool listed = false;
  for (const Json& l : ParseJson(r)) listed = listed || (l["group"] == "g2" && l["members"] == 1);
  EXPECT_TRUE(listed) << r.out;
  r = Ctl({"group", "list"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("g2"));
  EXPECT_THAT(r.out, HasSubstr("stable"));
  r = Ctl({"group", "reset-offsets", "g2", "--topic", "events", "--to-earliest"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("active member"));
  r = Ctl({"group", "delete", "g2"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  follower.Signal(SIGINT);
  Result done = follower.Wait(20s);
  EXPECT_EQ(done.code, 0) << Describe(done);
  EXPECT_THAT(done.err, HasSubstr("Processed a total of " + std::to_string(total) + " messages"));
  g = DescribeGroup("g2");
  EXPECT_EQ(SumCommitted(g), total) << g.dump();
  EXPECT_EQ(g["total_lag"], 0);
  EXPECT_EQ(g["members"].size(), 0u);

  // reset-offsets: dry run by default, --execute applies.
  r = Ctl({"group", "reset-offsets", "g2", "--topic", "events", "--to-earliest"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("CURRENT  NEW"));
  EXPECT_THAT(r.err, HasSubstr("Dry run"));
  EXPECT_EQ(DescribeGroup("g2")["total_lag"], 0);
  r = Ctl({"group", "reset-offsets", "g2", "--topic", "events", "--to-earliest", "--execute",
           "--format", "json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  Json plan = ParseJson(r);
  EXPECT_EQ(plan["executed"], true);
  ASSERT_EQ(plan["offsets"].size(), 2u);
  for (const Json& o : plan["offsets"]) EXPECT_EQ(o["new_offset"], 0);
  EXPECT_EQ(DescribeGroup("g2")["total_lag"], total);
  r = Ctl({"group", "reset-offsets", "g2", "--topic", "events:1", "--shift-by", "2", "--execute"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(DescribeGroup("g2")["total_lag"], total - 2);
  r = Ctl({"group", "reset-offsets", "g2", "--all-topics", "--shift-by=-1", "--execute"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(DescribeGroup("g2")["total_lag"], total - 1);  // 0 stays 0, 2 becomes 1
  r = Ctl(
      {"group", "reset-offsets", "g2", "--topic", "events", "--to-offset", "1000", "--execute"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(DescribeGroup("g2")["total_lag"], 0);  // clamped to the end
  r = Ctl(
      {"group", "reset-offsets", "g2", "--topic", "events", "--to-timestamp", "0", "--execute"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(DescribeGroup("g2")["total_lag"], total);
  r = Ctl({"group", "reset-offsets", "g2", "--topic", "nosuch", "--to-latest"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  r = Ctl({"group", "reset-offsets", "fresh", "--topic", "events", "--shift-by", "1"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("no committed offset"));

  // group delete: an empty group the coordinator knows; then it is gone.
  r = Ctl({"group", "delete", "g2"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("Deleted group g2"));
  r = Ctl({"group", "delete", "g2"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("g2"));
  r = Ctl({"group", "describe", "never-seen"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
}

TEST_F(RaftlogctlClusterTest, ConsumeExitsCleanlyEveryTime) {
  // The process tears down its consumer, connections and gRPC and exits
  // normally (no _Exit): every run must end with exit code 0, never an
  // abort inside gRPC ("assertion failed: prior > 0") because a fetch's
  // context was still being destroyed on a gRPC thread. Without the fix
  // about one run in 60 aborted (100 runs catch it most of the time); a run
  // takes well under a second.
  ASSERT_EQ(Ctl({"topic", "create", "loop", "-p", "3", "-r", "3"}).code, 0);
  std::string input;
  for (int i = 0; i < 300; ++i) input += "m" + std::to_string(i) + "\n";
  ASSERT_EQ(Ctl({"produce", "loop"}, input).code, 0);
  for (int i = 0; i < 100; ++i) {
    // A few records out of many: fetches are still flowing when it stops.
    Result r = Ctl({"consume", "loop", "--from-beginning", "--max-messages", "5"}, "", 30s);
    ASSERT_EQ(r.code, 0) << "run " << i << "\n" << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("Processed a total of 5 messages")) << "run " << i;
  }
  // Group mode as well (heartbeat thread, commits, leave).
  for (int i = 0; i < 10; ++i) {
    Result r = Ctl({"consume", "loop", "--from-beginning", "-g", "exit-" + std::to_string(i),
                    "--max-messages", "5"},
                   "", 30s);
    ASSERT_EQ(r.code, 0) << "group run " << i << "\n" << Describe(r);
  }
}

TEST_F(RaftlogctlClusterTest, ProduceGivesUpWithinItsTimeoutWhenItsBrokerDies) {
  // The only replica of the partition dies: raftlogctl produce --timeout 3s
  // must give up within about the timeout (exit 1, the reason on stderr),
  // not after the library's default delivery timeout.
  ASSERT_EQ(Ctl({"topic", "create", "doomed", "-p", "1", "-r", "1"}).code, 0);
  Json d;
  for (int attempt = 0; attempt < 50; ++attempt) {
    d = DescribeTopic("doomed");
    if (!d["partitions"][0]["leader"].is_null()) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(d["partitions"][0]["leader"].is_null()) << d.dump();
  ASSERT_EQ(Ctl({"produce", "doomed"}, "warm-up\n").code, 0);
  cluster_->Kill(static_cast<int>(d["partitions"][0]["leader"].get<uint64_t>()));
  const Clock::time_point start = Clock::now();
  Result r = Ctl({"produce", "doomed", "--timeout", "3s"}, "a\nb\nc\n", 20s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("3 of 3 record(s) failed")) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("delivery timeout")) << Describe(r);
  EXPECT_LT(took, 10s) << Describe(r);
}

}  // namespace
}  // namespace raftlog::testing
