// Unit tests of jepsen_worker's pieces that need no cluster: the history
// writer (line format, op ids, one completion per op, info for outstanding
// ops, concurrent writers), the outcome classification, and flag parsing.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/jepsen/worker/history.h"
#include "tests/jepsen/worker/options.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {
namespace {

// A history written to a temporary file, read back as parsed lines.
class HistoryFile {
 public:
  HistoryFile() {
    char tmpl[] = "/tmp/jepsen_worker_test_XXXXXX";
    const int fd = mkstemp(tmpl);
    path_ = tmpl;
    ::close(fd);
  }
  ~HistoryFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::vector<Json> Lines() const {
    std::ifstream in(path_);
    std::vector<Json> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(Json::parse(line));
    return out;
  }

 private:
  std::string path_;
};

std::unique_ptr<History> OpenAt(const HistoryFile& f, int process, History::ClockFn clock) {
  const int fd = ::open(f.path().c_str(), O_WRONLY | O_APPEND);
  return std::make_unique<History>(fd, true, process, std::move(clock));
}

TEST(History, InvokeThenCompleteRepeatsTheInvokeFields) {
  HistoryFile f;
  int64_t now = 100;
  auto h = OpenAt(f, 7, [&] { return now++; });
  const int64_t op = h->Invoke("send", "7-0", Json{{"partition", 2}});
  EXPECT_EQ(op, 1);
  EXPECT_TRUE(h->Complete(op, OpType::kOk, std::nullopt, Json{{"offset", 41}}));
  const std::vector<Json> lines = f.Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], (Json{{"process", 7},
                            {"type", "invoke"},
                            {"f", "send"},
                            {"op", 1},
                            {"value", "7-0"},
                            {"partition", 2},
                            {"time", 100}}));
  EXPECT_EQ(lines[1], (Json{{"process", 7},
                            {"type", "ok"},
                            {"f", "send"},
                            {"op", 1},
                            {"value", "7-0"},
                            {"partition", 2},
                            {"offset", 41},
                            {"time", 101}}));
}

TEST(History, CompletionValueAndErrorOverride) {
  HistoryFile f;
  auto h = OpenAt(f, 1, [] { return 5; });
  const int64_t op = h->Invoke("poll", nullptr);
  EXPECT_TRUE(h->Complete(op, OpType::kOk, Json::array({Json::array({0, 3, "1-3"})})));
  const int64_t op2 = h->Invoke("commit", Json{{"0", 4}}, Json{{"group", "g"}});
  EXPECT_TRUE(h->Complete(op2, Outcome{OpType::kInfo, "UNAVAILABLE: down"}));
  const std::vector<Json> lines = f.Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1]["value"], Json::parse(R"([[0,3,"1-3"]])"));
  EXPECT_FALSE(lines[1].contains("error"));
  EXPECT_EQ(lines[3]["type"], "info");
  EXPECT_EQ(lines[3]["error"], "UNAVAILABLE: down");
  EXPECT_EQ(lines[3]["value"], Json::parse(R"({"0":4})"));
  EXPECT_EQ(lines[3]["group"], "g");
  EXPECT_EQ(lines[3]["op"], 2);
}

TEST(History, AnOpCompletesOnlyOnce) {
  HistoryFile f;
  auto h = OpenAt(f, 1, MonotonicNanos);
  const int64_t op = h->Invoke("send", "1-0");
  EXPECT_TRUE(h->Complete(op, OpType::kFail));
  EXPECT_FALSE(h->Complete(op, OpType::kOk));
  EXPECT_FALSE(h->Complete(99, OpType::kOk));
  EXPECT_EQ(f.Lines().size(), 2u);
  EXPECT_EQ(h->outstanding(), 0u);
}

TEST(History, FinishOutstandingWritesInfoForEachOpenOpAndDropsLateCompletions) {
  HistoryFile f;
  auto h = OpenAt(f, 3, MonotonicNanos);
  const int64_t a = h->Invoke("send", "3-0", Json{{"partition", 0}});
  const int64_t b = h->Invoke("send", "3-1", Json{{"partition", 1}});
  const int64_t c = h->Invoke("send", "3-2", Json{{"partition", 0}});
  EXPECT_TRUE(h->Complete(b, OpType::kOk, std::nullopt, Json{{"offset", 0}}));
  EXPECT_EQ(h->FinishOutstanding("worker stopping"), 2u);
  EXPECT_FALSE(h->Complete(a, OpType::kOk));      // a late callback
  const int64_t late = h->Invoke("send", "3-3");  // closed: not written
  EXPECT_FALSE(h->Complete(late, OpType::kOk));
  EXPECT_EQ(h->outstanding(), 0u);
  const std::vector<Json> lines = f.Lines();
  ASSERT_EQ(lines.size(), 6u);
  std::map<int64_t, Json> completion;
  for (size_t i = 3; i < lines.size(); ++i) completion[lines[i]["op"].get<int64_t>()] = lines[i];
  ASSERT_EQ(completion.size(), 3u);
  for (int64_t op : {a, c}) {
    EXPECT_EQ(completion[op]["type"], "info");
    EXPECT_EQ(completion[op]["error"], "worker stopping");
    EXPECT_TRUE(completion[op].contains("partition"));
  }
  EXPECT_EQ(completion[b]["type"], "ok");
  const auto counts = h->Counts();
  EXPECT_EQ(counts.at("send")[static_cast<size_t>(OpType::kOk)], 1);
  EXPECT_EQ(counts.at("send")[static_cast<size_t>(OpType::kInfo)], 2);
}

TEST(History, EventsHaveNoOp) {
  HistoryFile f;
  auto h = OpenAt(f, 2, MonotonicNanos);
  h->Event("assign", Json::array({0, 2}));
  const std::vector<Json> lines = f.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["type"], "ok");
  EXPECT_EQ(lines[0]["f"], "assign");
  EXPECT_EQ(lines[0]["value"], Json::parse("[0,2]"));
  EXPECT_FALSE(lines[0].contains("op"));
  EXPECT_EQ(h->outstanding(), 0u);
}

TEST(History, InvalidUtf8IsReplacedNotFatal) {
  HistoryFile f;
  auto h = OpenAt(f, 1, MonotonicNanos);
  const int64_t op = h->Invoke("read", nullptr, Json{{"partition", 0}});
  EXPECT_TRUE(h->Complete(op, OpType::kOk,
                          Json::array({Json::array({0,
                                                    "a\xff\xfe"
                                                    "b"})})));
  const std::vector<Json> lines = f.Lines();
  ASSERT_EQ(lines.size(), 2u);
  const std::string v = lines[1]["value"][0][1];
  EXPECT_EQ(v.front(), 'a');
  EXPECT_EQ(v.back(), 'b');
  EXPECT_NE(v, "ab");
}

TEST(History, ConcurrentWritersProduceWholeLinesAndOneCompletionPerOp) {
  HistoryFile f;
  auto h = OpenAt(f, 4, MonotonicNanos);
  constexpr int kThreads = 8, kOps = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kOps; ++i) {
        const int64_t op =
            h->Invoke("send", std::to_string(t) + "-" + std::to_string(i) + std::string(200, 'x'));
        h->Complete(op, i % 3 == 0 ? OpType::kInfo : OpType::kOk);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::vector<Json> lines = f.Lines();  // throws if a line is torn
  ASSERT_EQ(lines.size(), size_t{2 * kThreads * kOps});
  std::map<int64_t, int> invokes, completions;
  int64_t last_time = 0;
  for (const Json& l : lines) {
    const int64_t op = l["op"];
    (l["type"] == "invoke" ? invokes : completions)[op]++;
    EXPECT_GE(l["time"].get<int64_t>(), last_time);
    last_time = l["time"];
  }
  EXPECT_EQ(invokes.size(), size_t{kThreads * kOps});
  for (const auto& [op, n] : invokes) {
    EXPECT_EQ(n, 1);
    EXPECT_EQ(completions[op], 1) << "op " << op;
  }
}

TEST(Outcome, Classification) {
  const absl::Status unavailable = absl::UnavailableError("no raftlog broker answered");
  const absl::Status invalid = absl::InvalidArgumentError("CORRUPT_MESSAGE: bad crc");
  const absl::Status timeout = absl::DeadlineExceededError("t-0: not acknowledged within ...");
  const absl::Status fenced = absl::FailedPreconditionError("ILLEGAL_GENERATION: old");
  const absl::Status exists = absl::AlreadyExistsError("topic exists");
  const absl::Status not_found = absl::NotFoundError("unknown topic \"t\"");

  EXPECT_EQ(Classify(Path::kProduce, absl::OkStatus()).type, OpType::kOk);
  EXPECT_EQ(Classify(Path::kProduce, absl::OkStatus()).error, "");
  // Never sent: any error is definite.
  EXPECT_EQ(Classify(Path::kNeverSent, not_found).type, OpType::kFail);
  EXPECT_EQ(Classify(Path::kNeverSent, unavailable).type, OpType::kFail);
  // Produce callbacks: only a rejected batch is definite.
  EXPECT_EQ(Classify(Path::kProduce, invalid).type, OpType::kFail);
  EXPECT_EQ(Classify(Path::kProduce, timeout).type, OpType::kInfo);
  EXPECT_EQ(Classify(Path::kProduce, absl::CancelledError("producer closed")).type, OpType::kInfo);
  EXPECT_EQ(Classify(Path::kProduce, unavailable).type, OpType::kInfo);
  // Retried calls: a rejection may follow an applied attempt.
  EXPECT_EQ(Classify(Path::kRetriedCall, invalid).type, OpType::kFail);
  EXPECT_EQ(Classify(Path::kRetriedCall, fenced).type, OpType::kInfo);
  EXPECT_EQ(Classify(Path::kRetriedCall, exists).type, OpType::kInfo);
  EXPECT_EQ(Classify(Path::kRetriedCall, not_found).type, OpType::kInfo);
  EXPECT_EQ(Classify(Path::kRetriedCall, unavailable).type, OpType::kInfo);
  // Reads change nothing.
  EXPECT_EQ(Classify(Path::kRead, unavailable).type, OpType::kFail);
  EXPECT_EQ(Classify(Path::kRead, timeout).type, OpType::kFail);

  EXPECT_EQ(Classify(Path::kRetriedCall, fenced).error,
            "FAILED_PRECONDITION: ILLEGAL_GENERATION: old");
  EXPECT_EQ(OpTypeName(OpType::kOk), "ok");
  EXPECT_EQ(OpTypeName(OpType::kFail), "fail");
  EXPECT_EQ(OpTypeName(OpType::kInfo), "info");
}

ParseResult Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "jepsen_worker");
  return ParseArgs(static_cast<int>(args.size()), args.data());
}

TEST(Options, ProduceFlagsAndDefaults) {
  ParseResult r =
      Parse({"produce", "--bootstrap=127.0.0.1:1,127.0.0.1:2", "--process=3", "--topic=t",
             "--partitions=4", "--idempotence=false", "--duration-ms=1500"});
  ASSERT_TRUE(r.options) << r.message;
  const WorkerOptions& o = *r.options;
  EXPECT_EQ(o.mode, Mode::kProduce);
  EXPECT_THAT(o.bootstrap, testing::ElementsAre("127.0.0.1:1", "127.0.0.1:2"));
  EXPECT_EQ(o.process, 3);
  EXPECT_EQ(o.partitions, 4);
  EXPECT_FALSE(o.idempotence);
  EXPECT_EQ(o.duration, std::chrono::milliseconds(1500));
  EXPECT_EQ(o.drain, std::chrono::milliseconds(10000));
  EXPECT_EQ(o.rate, 200);
  EXPECT_EQ(o.max_in_flight, 10);
  EXPECT_EQ(o.acks, client::Acks::kAll);
  EXPECT_EQ(o.history, "-");
}

TEST(Options, UsageErrorsExitTwo) {
  EXPECT_EQ(Parse({"produce", "--topic=t"}).exit_code, 2);                     // no bootstrap
  EXPECT_EQ(Parse({"produce", "--bootstrap=h:1"}).exit_code, 2);               // no topic
  EXPECT_EQ(Parse({"consume", "--bootstrap=h:1", "--topic=t"}).exit_code, 2);  // no group
  EXPECT_EQ(Parse({"frobnicate", "--bootstrap=h:1"}).exit_code, 2);
  EXPECT_EQ(Parse({"produce", "--bootstrap=h:1", "--topic=t", "--idempotence=maybe"}).exit_code, 2);
  EXPECT_EQ(Parse({"produce", "--bootstrap=h:1", "--topic=t", "--no-such-flag=1"}).exit_code, 2);
  EXPECT_EQ(Parse({"checksum", "--node=h:1", "--group=abc"}).exit_code, 2);
  EXPECT_EQ(Parse({"transfer-leader", "--node=h:1", "--group=3"}).exit_code, 2);  // no --to
  EXPECT_FALSE(Parse({"produce", "--topic=t"}).options);
}

TEST(Options, NodeModes) {
  ParseResult r = Parse({"checksum", "--node=127.0.0.1:7301", "--group=5", "--from=3", "--to=9"});
  ASSERT_TRUE(r.options) << r.message;
  EXPECT_EQ(r.options->raft_group(), 5u);
  EXPECT_EQ(r.options->from, std::optional<uint64_t>(3));
  EXPECT_EQ(r.options->to, std::optional<uint64_t>(9));
  r = Parse({"checksum", "--node=127.0.0.1:7301", "--group=5"});
  ASSERT_TRUE(r.options) << r.message;
  EXPECT_FALSE(r.options->from);
  r = Parse({"status", "--node=127.0.0.1:7301"});
  ASSERT_TRUE(r.options) << r.message;
  EXPECT_EQ(r.options->mode, Mode::kStatus);
}

}  // namespace
}  // namespace raftlog::jepsen
