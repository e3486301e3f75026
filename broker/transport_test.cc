// Tests of Transport over real gRPC servers on 127.0.0.1 (ports picked by the
// OS): delivery order and integrity, one batch per round, cluster/node id
// refusal, dead and late peers, queue overflow, and prompt Stop().
#include "broker/transport.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/transport_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raftlog/transport/v1/transport.grpc.pb.h"

namespace raftlog::broker {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Term;
using transport_pb::RaftTransport;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 5s;  // upper bound of every wait; tests take far less

class RecordingSink : public TransportSink {
 public:
  struct Delivery {
    NodeId from;
    std::vector<GroupMessage> messages;
  };

  void Deliver(NodeId from, std::vector<GroupMessage> messages) override {
    std::lock_guard lock(mu_);
    message_count_ += messages.size();
    deliveries_.push_back(Delivery{from, std::move(messages)});
    cv_.notify_all();
  }
  void PeerUnreachable(NodeId peer) override {
    std::lock_guard lock(mu_);
    unreachable_.push_back(peer);
    cv_.notify_all();
  }

  bool WaitForMessages(size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return message_count_ >= n; });
  }
  bool WaitForUnreachable(NodeId peer, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return CountUnreachableLocked(peer) > 0; });
  }
  size_t message_count() {
    std::lock_guard lock(mu_);
    return message_count_;
  }
  int unreachable_count(NodeId peer) {
    std::lock_guard lock(mu_);
    return CountUnreachableLocked(peer);
  }
  std::vector<Delivery> deliveries() {
    std::lock_guard lock(mu_);
    return deliveries_;
  }
  std::vector<GroupMessage> all_messages() {
    std::lock_guard lock(mu_);
    std::vector<GroupMessage> out;
    for (const Delivery& d : deliveries_)
      out.insert(out.end(), d.messages.begin(), d.messages.end());
    return out;
  }

 private:
  int CountUnreachableLocked(NodeId peer) {
    int n = 0;
    for (NodeId p : unreachable_) n += p == peer;
    return n;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  size_t message_count_ = 0;
  std::vector<Delivery> deliveries_;
  std::vector<NodeId> unreachable_;
};

// Lets a server be built (and its port known) before the Transport exists.
class ForwardingService : public RaftTransport::Service {
 public:
  void set_target(grpc::Service* target) {
    target_.store(static_cast<RaftTransport::Service*>(target));
  }
  grpc::Status Stream(grpc::ServerContext* context,
                      grpc::ServerReader<transport_pb::MessageBatch>* reader,
                      transport_pb::StreamSummary* summary) override {
    RaftTransport::Service* target = target_.load();
    if (target == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no transport yet");
    return target->Stream(context, reader, summary);
  }

 private:
  std::atomic<RaftTransport::Service*> target_{nullptr};
};

class TestServer {
 public:
  // Listens on 127.0.0.1:port (0: the OS picks). Null if it cannot bind.
  static std::unique_ptr<TestServer> Start(int port = 0) {
    auto s = std::unique_ptr<TestServer>(new TestServer());
    grpc::ServerBuilder builder;
    ConfigureTransportServer(builder);
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &s->port_);
    builder.RegisterService(&s->service_);
    s->server_ = builder.BuildAndStart();
    if (s->server_ == nullptr || s->port_ == 0) return nullptr;
    return s;
  }
  ~TestServer() { Shutdown(); }

  void Shutdown() {
    if (server_ == nullptr) return;
    // Open streams are cancelled after the deadline.
    server_->Shutdown(std::chrono::system_clock::now() + 200ms);
    server_->Wait();
    server_.reset();
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  ForwardingService& service() { return service_; }

 private:
  TestServer() = default;
  ForwardingService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A port where nothing listens (connections are refused).
int ClosedPort() {
  std::unique_ptr<TestServer> s = TestServer::Start();
  if (s == nullptr) return 0;
  const int port = s->port();
  s->Shutdown();
  return port;
}

// A TCP socket that listens but never accepts nor answers: a hung peer.
class HungPeer {
 public:
  HungPeer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 16) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~HungPeer() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string Address(int port) { return "127.0.0.1:" + std::to_string(port); }

TransportOptions Options(std::string cluster, uint64_t self, std::vector<TransportPeer> peers) {
  TransportOptions o;
  o.cluster_id = std::move(cluster);
  o.self = NodeId(self);
  o.peers = std::move(peers);
  o.backoff_initial_ms = 20;
  o.backoff_max_ms = 200;
  return o;
}

GroupMessage App(uint64_t from, uint64_t to, GroupId group, uint64_t seq,
                 size_t payload_bytes = 16) {
  GroupMessage gm;
  gm.group = group;
  Message& m = gm.message;
  m.type = MessageType::kApp;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(3);
  m.log_term = Term(2);
  m.index = LogIndex(seq);
  m.commit = LogIndex(seq / 2);
  std::string data = "g" + std::to_string(group) + "-s" + std::to_string(seq) + "-";
  data.resize(std::max(data.size(), payload_bytes), 'p');
  m.entries.push_back(Entry{Term(3), LogIndex(seq + 1), EntryType::kNormal, std::move(data)});
  return gm;
}

bool WaitConnected(const Transport& t, NodeId peer, std::chrono::milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (const PeerStats& s : t.Stats()) {
      if (s.id == peer && s.connected) return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

PeerStats StatsOf(const Transport& t, NodeId peer) {
  for (const PeerStats& s : t.Stats()) {
    if (s.id == peer) return s;
  }
  ADD_FAILURE() << "no stats for peer " << peer;
  return PeerStats{};
}

// The peer's stats once `done` holds for them (a sender counts a batch after
// its write returns, which may be after the receiver delivered it), or the
// last seen after kWait.
template <typename Pred>
PeerStats StatsWhen(const Transport& t, NodeId peer, Pred done) {
  const auto deadline = Clock::now() + kWait;
  PeerStats s = StatsOf(t, peer);
  while (!done(s) && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    s = StatsOf(t, peer);
  }
  return s;
}

// Two nodes, 1 and 2, each serving the other.
struct Pair {
  Pair(std::string cluster1 = "c", std::string cluster2 = "c", uint64_t id2_as_seen_by_1 = 2) {
    server1 = TestServer::Start();
    server2 = TestServer::Start();
    EXPECT_NE(server1, nullptr);
    EXPECT_NE(server2, nullptr);
    t1 = std::make_unique<Transport>(
        Options(cluster1, 1, {{NodeId(id2_as_seen_by_1), server2->address()}}), &sink1);
    t2 = std::make_unique<Transport>(Options(cluster2, 2, {{NodeId(1), server1->address()}}),
                                     &sink2);
    server1->service().set_target(t1->service());
    server2->service().set_target(t2->service());
    t1->Start();
    t2->Start();
  }
  ~Pair() {
    t1->Stop(100);
    t2->Stop(100);
    server1->Shutdown();
    server2->Shutdown();
  }

  RecordingSink sink1, sink2;
  std::unique_ptr<TestServer> server1, server2;
  std::unique_ptr<Transport> t1, t2;
};

TEST(TransportTest, MessagesOfManyGroupsArriveInOrderAndIntact) {
  Pair pair;
  std::vector<GroupMessage> sent;
  for (uint64_t round = 0; round < 20; ++round) {
    std::vector<GroupMessage> batch;
    for (GroupId g = 0; g < 50; ++g) batch.push_back(App(1, 2, g, round, 16 + g * 7));
    sent.insert(sent.end(), batch.begin(), batch.end());
    pair.t1->Send(NodeId(2), std::move(batch));
  }
  ASSERT_TRUE(pair.sink2.WaitForMessages(sent.size()));
  const std::vector<GroupMessage> got = pair.sink2.all_messages();
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(got[i].group, sent[i].group) << i;
    EXPECT_EQ(got[i].message, sent[i].message) << i;
  }
  for (const auto& d : pair.sink2.deliveries()) EXPECT_EQ(d.from, NodeId(1));

  // And the other way, on node 2's own stream.
  pair.t2->Send(NodeId(1), {App(2, 1, 7, 1)});
  ASSERT_TRUE(pair.sink1.WaitForMessages(1));
  EXPECT_EQ(pair.sink1.all_messages()[0].message, App(2, 1, 7, 1).message);

  const PeerStats s = StatsWhen(*pair.t1, NodeId(2),
                                [&](const PeerStats& s) { return s.messages_sent >= sent.size(); });
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.messages_sent, sent.size());
  EXPECT_EQ(s.messages_dropped, 0u);
  EXPECT_GE(s.batches_sent, 1u);
  EXPECT_EQ(pair.sink1.unreachable_count(NodeId(2)), 0);
}

TEST(TransportTest, HeartbeatsOfAThousandGroupsArriveInOneDelivery) {
  Pair pair;
  ASSERT_TRUE(WaitConnected(*pair.t1, NodeId(2)));
  std::vector<GroupMessage> heartbeats;
  for (GroupId g = 0; g < 1000; ++g) {
    GroupMessage gm;
    gm.group = g;
    gm.message.type = MessageType::kHeartbeat;
    gm.message.from = NodeId(1);
    gm.message.to = NodeId(2);
    gm.message.term = Term(4);
    gm.message.commit = LogIndex(g);
    gm.message.read_seq = g % 3;
    heartbeats.push_back(gm);
  }
  const std::vector<GroupMessage> sent = heartbeats;
  const uint64_t batches_before = StatsOf(*pair.t1, NodeId(2)).batches_sent;
  pair.t1->Send(NodeId(2), std::move(heartbeats));
  ASSERT_TRUE(pair.sink2.WaitForMessages(sent.size()));
  const auto deliveries = pair.sink2.deliveries();
  ASSERT_EQ(deliveries.size(), 1u);
  ASSERT_EQ(deliveries[0].messages.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(deliveries[0].messages[i].group, sent[i].group);
    EXPECT_EQ(deliveries[0].messages[i].message, sent[i].message);
  }
  const PeerStats s = StatsWhen(
      *pair.t1, NodeId(2), [&](const PeerStats& s) { return s.batches_sent > batches_before; });
  EXPECT_EQ(s.batches_sent, batches_before + 1);
  EXPECT_EQ(s.messages_sent, 1000u);
}

// Sends to `to` every 20 ms until `sink` hears it is unreachable.
bool SendUntilUnreachable(Transport& t, RecordingSink& sink, NodeId to, uint64_t from) {
  const auto deadline = Clock::now() + kWait;
  for (uint64_t seq = 0; Clock::now() < deadline; ++seq) {
    t.Send(to, {App(from, to.value(), 1, seq)});
    if (sink.WaitForUnreachable(to, 20ms)) return true;
  }
  return false;
}

TEST(TransportTest, WrongClusterIdIsRefusedAndNothingDelivered) {
  Pair pair("cluster-a", "cluster-b");
  ASSERT_TRUE(SendUntilUnreachable(*pair.t1, pair.sink1, NodeId(2), 1));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(pair.sink2.message_count(), 0u);
  EXPECT_GT(StatsOf(*pair.t1, NodeId(2)).messages_dropped, 0u);
}

TEST(TransportTest, WrongDestinationNodeIdIsRefusedAndNothingDelivered) {
  // Node 1 believes node 3 serves at node 2's address.
  Pair pair("c", "c", /*id2_as_seen_by_1=*/3);
  ASSERT_TRUE(SendUntilUnreachable(*pair.t1, pair.sink1, NodeId(3), 1));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(pair.sink2.message_count(), 0u);
}

TEST(TransportTest, DeadPeerIsReportedAndDoesNotStallOthers) {
  const int dead_port = ClosedPort();
  ASSERT_NE(dead_port, 0);
  std::unique_ptr<TestServer> server2 = TestServer::Start();
  ASSERT_NE(server2, nullptr);
  RecordingSink sink1, sink2;
  Transport t2(Options("c", 2, {}), &sink2);
  server2->service().set_target(t2.service());
  Transport t1(Options("c", 1, {{NodeId(2), server2->address()}, {NodeId(3), Address(dead_port)}}),
               &sink1);
  t1.Start();
  t2.Start();

  const auto before = Clock::now();
  for (uint64_t i = 0; i < 200; ++i) {
    t1.Send(NodeId(3), {App(1, 3, i % 5, i)});
    t1.Send(NodeId(2), {App(1, 2, i % 5, i)});
  }
  EXPECT_LT(Clock::now() - before, 500ms);  // Send() never blocks
  EXPECT_TRUE(sink1.WaitForUnreachable(NodeId(3)));
  ASSERT_TRUE(sink2.WaitForMessages(200));
  EXPECT_EQ(sink1.unreachable_count(NodeId(2)), 0);
  EXPECT_EQ(StatsWhen(t1, NodeId(2), [](const PeerStats& s) { return s.messages_sent >= 200; })
                .messages_sent,
            200u);

  // It keeps redialling with back-off.
  const auto deadline = Clock::now() + kWait;
  while (StatsOf(t1, NodeId(3)).reconnects < 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  const PeerStats dead = StatsOf(t1, NodeId(3));
  EXPECT_FALSE(dead.connected);
  EXPECT_GE(dead.reconnects, 2u);
  EXPECT_EQ(dead.messages_sent, 0u);
  EXPECT_EQ(dead.messages_dropped, 200u);

  t1.Stop(100);
  t2.Stop(100);
  server2->Shutdown();
}

TEST(TransportTest, PeerStartingLaterIsReachedAfterReconnect) {
  const int port2 = ClosedPort();
  ASSERT_NE(port2, 0);
  RecordingSink sink1, sink2;
  Transport t1(Options("c", 1, {{NodeId(2), Address(port2)}}), &sink1);
  t1.Start();
  t1.Send(NodeId(2), {App(1, 2, 1, 0)});
  ASSERT_TRUE(sink1.WaitForUnreachable(NodeId(2)));

  std::unique_ptr<TestServer> server2 = TestServer::Start(port2);
  if (server2 == nullptr) GTEST_SKIP() << "port " << port2 << " was taken meanwhile";
  Transport t2(Options("c", 2, {}), &sink2);
  server2->service().set_target(t2.service());
  t2.Start();

  ASSERT_TRUE(WaitConnected(t1, NodeId(2)));
  EXPECT_GE(StatsOf(t1, NodeId(2)).reconnects, 1u);
  std::vector<GroupMessage> sent;
  for (uint64_t i = 1; i <= 10; ++i) sent.push_back(App(1, 2, i, i));
  t1.Send(NodeId(2), sent);
  ASSERT_TRUE(sink2.WaitForMessages(10));
  const auto got = sink2.all_messages();
  ASSERT_EQ(got.size(), 10u);  // the message sent while it was down is gone
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].message, sent[i].message);

  t1.Stop(100);
  t2.Stop(100);
  server2->Shutdown();
}

TEST(TransportTest, PeerRestartIsNoticedWhileIdleAndRedialled) {
  Pair pair;
  pair.t1->Send(NodeId(2), {App(1, 2, 1, 1)});
  ASSERT_TRUE(pair.sink2.WaitForMessages(1));
  ASSERT_TRUE(WaitConnected(*pair.t1, NodeId(2)));
  const int port2 = pair.server2->port();
  pair.server2->Shutdown();
  // No Send(): the idle sender notices on its own.
  const PeerStats down =
      StatsWhen(*pair.t1, NodeId(2), [](const PeerStats& s) { return !s.connected; });
  EXPECT_FALSE(down.connected);

  pair.server2 = TestServer::Start(port2);
  if (pair.server2 == nullptr) GTEST_SKIP() << "port " << port2 << " was taken meanwhile";
  pair.server2->service().set_target(pair.t2->service());
  ASSERT_TRUE(WaitConnected(*pair.t1, NodeId(2)));
  pair.t1->Send(NodeId(2), {App(1, 2, 1, 2)});
  ASSERT_TRUE(pair.sink2.WaitForMessages(2));
  EXPECT_EQ(pair.sink2.all_messages()[1].message, App(1, 2, 1, 2).message);
  EXPECT_GE(StatsOf(*pair.t1, NodeId(2)).reconnects, 1u);
}

TEST(TransportTest, QueueOverflowDropsAndCounts) {
  std::unique_ptr<TestServer> server2 = TestServer::Start();
  ASSERT_NE(server2, nullptr);
  RecordingSink sink1, sink2;
  Transport t2(Options("c", 2, {}), &sink2);
  server2->service().set_target(t2.service());
  t2.Start();

  TransportOptions o1 = Options("c", 1, {{NodeId(2), server2->address()}});
  const uint64_t size = ApproximateWireSize(App(1, 2, 0, 0, 300).message);
  o1.max_queue_bytes = 10 * size + size / 2;
  Transport t1(o1, &sink1);
  // Not started yet: nothing drains the queue.
  std::vector<GroupMessage> sent;
  for (uint64_t i = 0; i < 25; ++i) sent.push_back(App(1, 2, i % 4, i, 300));
  t1.Send(NodeId(2), sent);
  EXPECT_EQ(StatsOf(t1, NodeId(2)).messages_dropped, 15u);

  t1.Start();
  ASSERT_TRUE(sink2.WaitForMessages(10));
  EXPECT_TRUE(sink1.WaitForUnreachable(NodeId(2)));
  std::this_thread::sleep_for(50ms);
  const auto got = sink2.all_messages();
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].message, sent[i].message);
  const PeerStats s =
      StatsWhen(t1, NodeId(2), [](const PeerStats& s) { return s.messages_sent >= 10; });
  EXPECT_EQ(s.messages_sent, 10u);
  EXPECT_EQ(s.messages_dropped, 15u);

  t1.Stop(100);
  t2.Stop(100);
  server2->Shutdown();
}

TEST(TransportTest, StopReturnsPromptlyWithAHungPeer) {
  HungPeer hung;
  ASSERT_NE(hung.port(), 0);
  RecordingSink sink;
  Transport t(Options("c", 1, {{NodeId(2), Address(hung.port())}}), &sink);
  t.Start();
  // Large enough to block a write if the HTTP/2 connection ever comes up.
  t.Send(NodeId(2), {App(1, 2, 1, 1, 2 << 20)});
  std::this_thread::sleep_for(300ms);
  const auto before = Clock::now();
  t.Stop(100);
  EXPECT_LT(Clock::now() - before, 1500ms);
  EXPECT_FALSE(StatsOf(t, NodeId(2)).connected);
}

TEST(TransportTest, StoppedTransportRefusesInboundAndStopIsIdempotent) {
  Pair pair;
  pair.t2->Stop(0);
  pair.t2->Stop(0);
  ASSERT_TRUE(SendUntilUnreachable(*pair.t1, pair.sink1, NodeId(2), 1));
  EXPECT_EQ(pair.sink2.message_count(), 0u);

  // Never started: Stop() is harmless, Send() after it drops.
  RecordingSink sink;
  Transport idle(Options("c", 5, {{NodeId(6), "127.0.0.1:1"}}), &sink);
  idle.Stop();
  idle.Send(NodeId(6), {App(5, 6, 1, 1)});
  idle.Send(NodeId(9), {App(5, 9, 1, 1)});  // unknown peer: dropped, no crash
  idle.Stop();
  EXPECT_EQ(StatsOf(idle, NodeId(6)).messages_dropped, 1u);
}

}  // namespace
}  // namespace raftlog::broker
