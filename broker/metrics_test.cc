// MetricsRegistry renders exact text-format 0.0.4 pages and refuses bad names;
// MetricsHttpServer answers over a real socket (raw client below), keeps
// serving while a silent client holds a connection, and stops promptly.
#include "broker/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/metrics_http.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- registry

TEST(MetricsRegistryTest, EmptyRegistryRendersEmptyPage) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.Render(), "");
}

TEST(MetricsRegistryTest, CountersAndGaugesRenderExactly) {
  MetricsRegistry registry;
  absl::StatusOr<Counter*> produced =
      registry.AddCounter("raftlog_produce_requests_total", "Produce requests served.");
  ASSERT_TRUE(produced.ok()) << produced.status();
  absl::StatusOr<Gauge*> leaders_a =
      registry.AddGauge("raftlog_leaders", "Groups led by this node.", {{"topic", "orders"}});
  ASSERT_TRUE(leaders_a.ok()) << leaders_a.status();
  absl::StatusOr<Gauge*> leaders_b = registry.AddGauge(
      "raftlog_leaders", "Groups led by this node.", {{"topic", "audit"}, {"kind", "data"}});
  ASSERT_TRUE(leaders_b.ok()) << leaders_b.status();
  absl::StatusOr<Counter*> bytes = registry.AddCounter("a_bytes_total", "Bytes.");
  ASSERT_TRUE(bytes.ok());

  (*produced)->Inc();
  (*produced)->Inc();
  (*produced)->Add(40);
  (*leaders_a)->Set(3);
  (*leaders_a)->Add(-1.5);
  (*leaders_b)->Set(7);
  EXPECT_EQ((*produced)->value(), 42u);
  EXPECT_EQ((*leaders_a)->value(), 1.5);

  EXPECT_EQ(registry.Render(),
            "# HELP a_bytes_total Bytes.\n"
            "# TYPE a_bytes_total counter\n"
            "a_bytes_total 0\n"
            "# HELP raftlog_leaders Groups led by this node.\n"
            "# TYPE raftlog_leaders gauge\n"
            "raftlog_leaders{topic=\"orders\"} 1.5\n"
            "raftlog_leaders{topic=\"audit\",kind=\"data\"} 7\n"
            "# HELP raftlog_produce_requests_total Produce requests served.\n"
            "# TYPE raftlog_produce_requests_total counter\n"
            "raftlog_produce_requests_total 42\n");
}

TEST(MetricsRegistryTest, LargeCounterIsExact) {
  MetricsRegistry registry;
  Counter* c = *registry.AddCounter("big_total", "h");
  c->Add(uint64_t{1} << 62);
  c->Inc();
  EXPECT_EQ(registry.Render(), "# HELP big_total h\n# TYPE big_total counter\nbig_total " +
                                   std::to_string((uint64_t{1} << 62) + 1) + "\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  Gauge* g = *registry.AddGauge("esc", "Help with \\ backslash,\nnewline and \"quotes\".",
                                {{"path", "C:\\dir \"x\"\nnext"}});
  g->Set(1);
  EXPECT_EQ(registry.Render(),
            "# HELP esc Help with \\\\ backslash,\\nnewline and \"quotes\".\n"
            "# TYPE esc gauge\n"
            "esc{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1\n");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("\\\"\n"), "\\\\\\\"\\n");
}

TEST(MetricsRegistryTest, FormatsValues) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(3.0), "3");
  EXPECT_EQ(FormatMetricValue(-2), "-2");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e-7), "1e-07");
  EXPECT_EQ(FormatMetricValue(1e21), "1e+21");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(MetricsRegistryTest, RefusesInvalidNames) {
  MetricsRegistry registry;
  for (const char* bad : {"", "1abc", "a-b", "a b", "a.b", "caf\xc3\xa9", "a{b}"}) {
    absl::StatusOr<Counter*> c = registry.AddCounter(bad, "h");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << "name '" << bad << "'";
    absl::StatusOr<Gauge*> g = registry.AddGauge(bad, "h");
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << "name '" << bad << "'";
    absl::StatusOr<MetricsRegistry::CollectorId> col =
        registry.AddCollector({{bad, "h", MetricType::kGauge}}, [](MetricSampleSink&) {});
    EXPECT_EQ(col.status().code(), absl::StatusCode::kInvalidArgument) << "name '" << bad << "'";
  }
  for (const char* bad_label : {"", "__reserved", "1a", "a-b", "a:b", "x y"}) {
    absl::StatusOr<Counter*> c = registry.AddCounter("ok_total", "h", {{bad_label, "v"}});
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument)
        << "label '" << bad_label << "'";
  }
  absl::StatusOr<Counter*> dup = registry.AddCounter("ok_total", "h", {{"a", "1"}, {"a", "2"}});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<MetricsRegistry::CollectorId> twice = registry.AddCollector(
      {{"x", "h", MetricType::kGauge}, {"x", "h", MetricType::kGauge}}, [](MetricSampleSink&) {});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCollector({}, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.AddCounter("a-b", "h").status().message(), HasSubstr("\"a-b\""));
  // Nothing half-registered reaches the page.
  EXPECT_EQ(registry.Render(), "");

  EXPECT_TRUE(IsValidMetricName("raftlog:node_up"));
  EXPECT_TRUE(IsValidMetricName("_x9"));
  EXPECT_TRUE(IsValidLabelName("_x9"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
}

TEST(MetricsRegistryTest, RefusesConflictingRegistrations) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.AddCounter("c_total", "h", {{"k", "1"}}).ok());
  EXPECT_TRUE(registry.AddCounter("c_total", "h", {{"k", "2"}}).ok());
  EXPECT_EQ(registry.AddCounter("c_total", "h", {{"k", "1"}}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddGauge("c_total", "h", {{"k", "3"}}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddCounter("c_total", "other help", {{"k", "3"}}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      registry.AddCollector({{"c_total", "h", MetricType::kCounter}}, [](auto&) {}).status().code(),
      absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(registry.AddCollector({{"g", "h", MetricType::kGauge}}, [](auto&) {}).ok());
  EXPECT_EQ(registry.AddCollector({{"g", "h", MetricType::kGauge}}, [](auto&) {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddGauge("g", "h").status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(MetricsRegistryTest, CollectorsRunOnEveryScrapeInCollectedOrder) {
  MetricsRegistry registry;
  int calls = 0;
  absl::StatusOr<MetricsRegistry::CollectorId> id = registry.AddCollector(
      {{"raftlog_group_term", "Current Raft term per group.", MetricType::kGauge},
       {"raftlog_group_commit_index", "Commit index per group.", MetricType::kGauge},
       {"raftlog_group_never", "Emitted by nobody: left out.", MetricType::kGauge},
       {"raftlog_elections_total", "Elections started.", MetricType::kCounter}},
      [&calls](MetricSampleSink& sink) {
        ++calls;
        // Groups in the node's order, not sorted: the page keeps this order.
        sink.Add("raftlog_group_term", {{"topic", "orders"}, {"partition", "1"}}, calls);
        sink.Add("raftlog_group_commit_index", {{"topic", "orders"}, {"partition", "1"}}, 100);
        sink.Add("raftlog_group_term", {{"topic", "orders"}, {"partition", "0"}}, 2);
        sink.Add("raftlog_elections_total", {}, 5);
        sink.Add("undeclared", {}, 1);                                // dropped
        sink.Add("raftlog_group_term", {{"bad-label", "x"}}, 1);      // dropped
        sink.Add("raftlog_group_term", {{"a", "x"}, {"a", "y"}}, 1);  // dropped
      });
  ASSERT_TRUE(id.ok()) << id.status();
  Counter* up = *registry.AddCounter("raftlog_up_total", "Owned counter among collected ones.");
  up->Inc();

  auto expected = [](int term) {
    return absl::StrCat(
        "# HELP raftlog_elections_total Elections started.\n"
        "# TYPE raftlog_elections_total counter\n"
        "raftlog_elections_total 5\n"
        "# HELP raftlog_group_commit_index Commit index per group.\n"
        "# TYPE raftlog_group_commit_index gauge\n"
        "raftlog_group_commit_index{topic=\"orders\",partition=\"1\"} 100\n"
        "# HELP raftlog_group_term Current Raft term per group.\n"
        "# TYPE raftlog_group_term gauge\n"
        "raftlog_group_term{topic=\"orders\",partition=\"1\"} ",
        term,
        "\n"
        "raftlog_group_term{topic=\"orders\",partition=\"0\"} 2\n"
        "# HELP raftlog_up_total Owned counter among collected ones.\n"
        "# TYPE raftlog_up_total counter\n"
        "raftlog_up_total 1\n");
  };
  EXPECT_EQ(registry.Render(), expected(1));
  EXPECT_EQ(registry.Render(), expected(2));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(registry.dropped_samples(), 6u);

  registry.RemoveCollector(*id);
  EXPECT_EQ(registry.Render(),
            "# HELP raftlog_up_total Owned counter among collected ones.\n"
            "# TYPE raftlog_up_total counter\n"
            "raftlog_up_total 1\n");
  EXPECT_EQ(calls, 2);
  registry.RemoveCollector(*id);  // unknown now: ignored
  // The names are free again.
  EXPECT_TRUE(registry.AddGauge("raftlog_group_term", "h").ok());
}

TEST(MetricsRegistryTest, CollectorCannotEmitAnotherCollectorsFamily) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry
                  .AddCollector({{"mine", "h", MetricType::kGauge}},
                                [](MetricSampleSink& sink) { sink.Add("mine", {}, 1); })
                  .ok());
  ASSERT_TRUE(registry
                  .AddCollector({{"theirs", "h", MetricType::kGauge}},
                                [](MetricSampleSink& sink) { sink.Add("mine", {}, 2); })
                  .ok());
  EXPECT_EQ(registry.Render(), "# HELP mine h\n# TYPE mine gauge\nmine 1\n");
  EXPECT_EQ(registry.dropped_samples(), 1u);
}

TEST(MetricsRegistryTest, ConcurrentUpdatesRegistrationsAndScrapes) {
  MetricsRegistry registry;
  Counter* counter = *registry.AddCounter("hits_total", "h");
  Gauge* gauge = *registry.AddGauge("level", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        counter->Inc();
        gauge->Add(1);
        if (i % 200 == 0) {
          ASSERT_TRUE(
              registry.AddCounter("series_total", "h", {{"t", absl::StrCat(t, "_", i)}}).ok());
        }
      }
    });
  }
  for (int i = 0; i < 50; ++i) EXPECT_THAT(registry.Render(), HasSubstr("# TYPE hits_total"));
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter->value(), 6000u);
  EXPECT_EQ(gauge->value(), 6000.0);
  EXPECT_THAT(registry.Render(), HasSubstr("series_total{t=\"2_1800\"} 0\n"));
}

// ------------------------------------------------------------- http server

// A blocking socket to 127.0.0.1:port whose reads give up after 3 s.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{3, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  bool Send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Everything until the server closes (or 3 s of silence).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    for (int i = 0; i < 100000; ++i) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

struct HttpReply {
  std::string status_line;
  std::map<std::string, std::string> headers;
  std::string body;
};

HttpReply Parse(const std::string& raw) {
  HttpReply reply;
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return reply;
  std::string head = raw.substr(0, head_end);
  reply.body = raw.substr(head_end + 4);
  size_t pos = head.find("\r\n");
  reply.status_line = head.substr(0, pos);
  while (pos != std::string::npos) {
    size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
    size_t colon = line.find(": ");
    if (colon != std::string::npos) reply.headers[line.substr(0, colon)] = line.substr(colon + 2);
    pos = next;
  }
  return reply;
}

HttpReply Fetch(int port, std::string_view request) {
  RawClient client(port);
  EXPECT_TRUE(client.connected());
  EXPECT_TRUE(client.Send(request));
  return Parse(client.ReadAll());
}

std::unique_ptr<MetricsHttpServer> StartLocal(std::function<std::string()> render,
                                              MetricsHttpOptions options = {}) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start("127.0.0.1:0", std::move(render), options);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  EXPECT_GT((*server)->port(), 0);
  return *std::move(server);
}

TEST(MetricsHttpServerTest, ServesMetricsPage) {
  MetricsRegistry registry;
  Counter* c = *registry.AddCounter("scrapes_total", "h");
  std::atomic<int> renders{0};
  auto server = StartLocal([&] {
    ++renders;
    c->Inc();
    return registry.Render();
  });
  ASSERT_NE(server, nullptr);
  HttpReply reply =
      Fetch(server->port(), "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(reply.headers["Connection"], "close");
  std::string page = "# HELP scrapes_total h\n# TYPE scrapes_total counter\nscrapes_total 1\n";
  EXPECT_EQ(reply.headers["Content-Length"], std::to_string(page.size()));
  EXPECT_EQ(reply.body, page);

  // HTTP/1.0, bare-LF line ends and a query string are fine too.
  reply = Fetch(server->port(), "GET /metrics?name[]=x HTTP/1.0\n\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 200 OK");
  EXPECT_THAT(reply.body, HasSubstr("scrapes_total 2\n"));
  EXPECT_EQ(renders.load(), 2);
}

TEST(MetricsHttpServerTest, LargePageIsSentWhole) {
  std::string page;
  for (int i = 0; i < 60000; ++i) absl::StrAppend(&page, "m{group=\"", i, "\"} ", i, "\n");
  ASSERT_GT(page.size(), 1u << 20);
  auto server = StartLocal([&] { return page; });
  ASSERT_NE(server, nullptr);
  HttpReply reply = Fetch(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.headers["Content-Length"], std::to_string(page.size()));
  EXPECT_TRUE(reply.body == page) << "body of " << reply.body.size() << " bytes differs";
}

TEST(MetricsHttpServerTest, HealthzHeadAndErrors) {
  std::atomic<int> renders{0};
  auto server = StartLocal([&] {
    ++renders;
    return std::string("x 1\n");
  });
  ASSERT_NE(server, nullptr);
  int port = server->port();

  HttpReply reply = Fetch(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply.body, "ok\n");
  EXPECT_EQ(reply.headers["Content-Length"], "3");

  reply = Fetch(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply.headers["Content-Length"], "4");
  EXPECT_EQ(reply.body, "");

  reply = Fetch(port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(reply.headers["Connection"], "close");
  EXPECT_EQ(reply.headers["Content-Length"], std::to_string(reply.body.size()));

  reply = Fetch(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(reply.headers["Allow"], "GET, HEAD");
  reply = Fetch(port, "DELETE /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 405 Method Not Allowed");

  for (const char* bad : {"HELLO\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
                          "GET metrics HTTP/1.1\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
                          "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
                          "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
                          "G\x01T /metrics HTTP/1.1\r\n\r\n", "GET /m\x7f HTTP/1.1\r\n\r\n"}) {
    reply = Fetch(port, bad);
    EXPECT_EQ(reply.status_line, "HTTP/1.1 400 Bad Request") << "request: " << bad;
  }

  std::string huge = "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(9000, 'a');
  reply = Fetch(port, huge);
  EXPECT_EQ(reply.status_line, "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(renders.load(), 1);  // only the HEAD request rendered
}

TEST(MetricsHttpServerTest, RequestSentInPiecesIsServed) {
  auto server = StartLocal([] { return std::string("x 1\n"); });
  ASSERT_NE(server, nullptr);
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send("GET /metr"));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(client.Send("ics HTTP/1.1\r\nHost: x\r"));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(client.Send("\n\r\n"));
  HttpReply reply = Parse(client.ReadAll());
  EXPECT_EQ(reply.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply.body, "x 1\n");
}

TEST(MetricsHttpServerTest, SilentClientDoesNotBlockOthers) {
  auto server = StartLocal([] { return std::string("x 1\n"); });  // 2 s request timeout
  ASSERT_NE(server, nullptr);
  RawClient silent(server->port());
  ASSERT_TRUE(silent.connected());
  RawClient half(server->port());
  ASSERT_TRUE(half.Send("GET /metrics HTT"));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the server accept them
  Clock::time_point start = Clock::now();
  HttpReply reply = Fetch(server->port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 200 OK");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1000));
}

TEST(MetricsHttpServerTest, SilentClientIsDroppedAtItsDeadline) {
  MetricsHttpOptions options;
  options.request_timeout = std::chrono::milliseconds(200);
  auto server = StartLocal([] { return std::string(); }, options);
  ASSERT_NE(server, nullptr);
  RawClient silent(server->port());
  ASSERT_TRUE(silent.connected());
  Clock::time_point start = Clock::now();
  EXPECT_EQ(silent.ReadAll(), "");  // EOF from the server, well before the client's 3 s
  auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST(MetricsHttpServerTest, ConnectionsBeyondTheLimitWaitTheirTurn) {
  MetricsHttpOptions options;
  options.request_timeout = std::chrono::milliseconds(300);
  options.max_connections = 2;
  auto server = StartLocal([] { return std::string("x 1\n"); }, options);
  ASSERT_NE(server, nullptr);
  RawClient silent1(server->port());
  RawClient silent2(server->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Clock::time_point start = Clock::now();
  HttpReply reply = Fetch(server->port(), "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(reply.status_line, "HTTP/1.1 200 OK");
  auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));  // waited for a slot
  EXPECT_LT(elapsed, std::chrono::milliseconds(2000));
}

TEST(MetricsHttpServerTest, DestructorReturnsPromptlyWithIdleConnection) {
  auto server = StartLocal([] { return std::string(); });  // 2 s request timeout
  ASSERT_NE(server, nullptr);
  RawClient idle(server->port());
  ASSERT_TRUE(idle.connected());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Clock::time_point start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(idle.ReadAll(), "");  // closed by the server
}

TEST(MetricsHttpServerTest, BindConflictNamesAddressAndReason) {
  auto first = StartLocal([] { return std::string(); });
  ASSERT_NE(first, nullptr);
  std::string address = absl::StrCat("127.0.0.1:", first->port());
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start(address, [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            absl::StrCat("cannot listen on ", address, ": Address already in use"));
}

TEST(MetricsHttpServerTest, RefusesBadAddresses) {
  auto render = [] { return std::string(); };
  for (const char* bad : {"", "9100", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:-1",
                          "127.0.0.1:9x", "::1:9100", "[::1]9100", "[::1"}) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start(bad, render);
    EXPECT_FALSE(server.ok()) << bad;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(MetricsHttpServer::Start("127.0.0.1:0", nullptr).ok());

  std::string host;
  int port = -1;
  ASSERT_TRUE(SplitHostPort("[::1]:9100", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 9100);
  ASSERT_TRUE(SplitHostPort(":80", &host, &port).ok());
  EXPECT_EQ(host, "");
  EXPECT_EQ(port, 80);
}

TEST(MetricsHttpServerTest, ListensOnIpv6Loopback) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start("[::1]:0", [] { return std::string("v6 1\n"); });
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << server.status();
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(static_cast<uint16_t>((*server)->port()));
  addr.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string raw;
  char buf[1024];
  for (int i = 0; i < 100; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(Parse(raw).body, "v6 1\n");
}

}  // namespace
}  // namespace raftlog::broker
