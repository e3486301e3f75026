// The client library against in-process fake brokers (gRPC servers on
// 127.0.0.1 answering MetadataService and GroupCoordinator from canned
// state), for behaviour that real clusters make slow or racy to reach:
//   - a silent broker (accepts the connection, never answers: a paused or
//     partitioned node) costs one attempt_timeout, then the next broker
//     answers; afterwards it is tried last;
//   - CreateTopic retried after a timed-out attempt that may have been
//     applied takes ALREADY_EXISTS of the asked-for topic as done, while a
//     plain ALREADY_EXISTS stays an error;
//   - Producer::Send blocks at most max_block in all, also when the
//     metadata of its topic cannot be fetched;
//   - a consumer whose SyncGroup fails after a successful JoinGroup keeps no
//     generation: the next Poll joins again.
// Every wait is bounded; timings only bound from above, with wide margins.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "client/admin_client.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace raftlog::client {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A broker answering from canned state, or not at all while silent.
class FakeBroker final : public mdpb::MetadataService::Service,
                         public apipb::GroupCoordinator::Service {
 public:
  FakeBroker() {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(static_cast<mdpb::MetadataService::Service*>(this));
    b.RegisterService(static_cast<apipb::GroupCoordinator::Service*>(this));
    server_ = b.BuildAndStart();
  }
  ~FakeBroker() override {
    stopping_ = true;
    server_->Shutdown(std::chrono::system_clock::now() + 2s);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // While silent, every call waits until the caller gives up.
  std::atomic<bool> silent{false};
  // The GetMetadata answer (brokers, leader, topics).
  mdpb::GetMetadataResponse metadata;
  std::atomic<int> joins{0}, syncs{0}, metadata_calls{0};
  std::atomic<int> failing_syncs{0};  // SyncGroup calls still to fail
  std::atomic<bool> topic_exists{false};

  grpc::Status GetMetadata(grpc::ServerContext* ctx, const mdpb::GetMetadataRequest*,
                           mdpb::GetMetadataResponse* out) override {
    if (Silence(ctx)) return Silenced();
    ++metadata_calls;
    *out = metadata;
    return grpc::Status::OK;
  }
  grpc::Status ListTopics(grpc::ServerContext* ctx, const mdpb::ListTopicsRequest*,
                          mdpb::ListTopicsResponse*) override {
    return Silence(ctx) ? Silenced() : grpc::Status::OK;
  }
  grpc::Status CreateTopic(grpc::ServerContext* ctx, const mdpb::CreateTopicRequest* req,
                           mdpb::CreateTopicResponse* out) override {
    if (Silence(ctx)) return Silenced();
    if (topic_exists) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          "topic \"" + req->name() + "\" already exists");
    }
    topic_exists = true;
    Describe(req->name(), out->mutable_topic());
    return grpc::Status::OK;
  }
  grpc::Status DescribeTopic(grpc::ServerContext* ctx, const mdpb::DescribeTopicRequest* req,
                             mdpb::DescribeTopicResponse* out) override {
    if (Silence(ctx)) return Silenced();
    if (!topic_exists) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such topic");
    Describe(req->name(), out->mutable_topic());
    return grpc::Status::OK;
  }
  grpc::Status JoinGroup(grpc::ServerContext* ctx, const apipb::JoinGroupRequest*,
                         apipb::JoinGroupResponse* out) override {
    if (Silence(ctx)) return Silenced();
    out->set_generation(++joins);
    out->set_member_id("member-1");
    out->set_leader_id("member-1");
    return grpc::Status::OK;
  }
  grpc::Status SyncGroup(grpc::ServerContext* ctx, const apipb::SyncGroupRequest*,
                         apipb::SyncGroupResponse*) override {
    if (Silence(ctx)) return Silenced();
    ++syncs;
    if (failing_syncs.fetch_sub(1) > 0) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "sync failed (test)");
    }
    return grpc::Status::OK;  // an empty assignment
  }
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const apipb::HeartbeatRequest*,
                         apipb::HeartbeatResponse*) override {
    return Silence(ctx) ? Silenced() : grpc::Status::OK;
  }
  grpc::Status LeaveGroup(grpc::ServerContext* ctx, const apipb::LeaveGroupRequest*,
                          apipb::LeaveGroupResponse*) override {
    return Silence(ctx) ? Silenced() : grpc::Status::OK;
  }

 private:
  // True (after waiting for the caller to give up) while silent.
  bool Silence(grpc::ServerContext* ctx) {
    if (!silent) return false;
    while (!ctx->IsCancelled() && !stopping_) std::this_thread::sleep_for(5ms);
    return true;
  }
  static grpc::Status Silenced() { return grpc::Status(grpc::StatusCode::CANCELLED, "silent"); }
  static void Describe(const std::string& name, mdpb::TopicDescription* d) {
    d->mutable_topic()->set_name(name);
    d->mutable_topic()->set_partition_count(3);
    d->mutable_topic()->set_replication_factor(3);
  }

  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<grpc::Server> server_;
};

// Two fake brokers: node 1 (`silent_one`, the metadata leader by the
// metadata both serve) and node 2 (`healthy`).
class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (FakeBroker* b : {&silent_one_, &healthy_}) {
      b->metadata.set_metadata_leader(1);
      mdpb::Broker* b1 = b->metadata.add_brokers();
      b1->set_node_id(1);
      b1->add_addresses(silent_one_.address());
      mdpb::Broker* b2 = b->metadata.add_brokers();
      b2->set_node_id(2);
      b2->add_addresses(healthy_.address());
      mdpb::TopicMetadata* t = b->metadata.add_topics();
      t->set_name("known");
      mdpb::PartitionMetadata* p = t->add_partitions();
      p->set_partition(0);
      p->set_group_id(7);
      p->add_replicas(2);
      p->set_leader(2);
    }
  }

  // Connected through node 2 (node 1 is the first candidate afterwards).
  std::shared_ptr<Cluster> Connect() {
    ClientOptions o;
    o.bootstrap = {healthy_.address()};
    o.request_timeout = 5s;
    o.retry_timeout = 20s;
    o.attempt_timeout = 700ms;
    absl::StatusOr<std::shared_ptr<Cluster>> c = Cluster::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }

  FakeBroker silent_one_;
  FakeBroker healthy_;
};

TEST_F(FailoverTest, ASilentBrokerCostsOneAttemptThenTheNextAnswers) {
  std::shared_ptr<Cluster> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  silent_one_.silent = true;
  AdminClient admin(cluster);
  Clock::time_point start = Clock::now();
  absl::StatusOr<std::vector<mdpb::Topic>> topics = admin.ListTopics();
  ASSERT_TRUE(topics.ok()) << topics.status();
  // One attempt_timeout (700 ms) on the silent leader, not request_timeout.
  EXPECT_LT(Clock::now() - start, 3s);
  // It is now suspect: tried last, so the next call does not wait for it.
  start = Clock::now();
  ASSERT_TRUE(admin.ListTopics().ok());
  EXPECT_LT(Clock::now() - start, 500ms);
  ASSERT_TRUE(cluster->Metadata(/*refresh=*/true).ok());
}

TEST_F(FailoverTest, EveryBrokerSilentFailsWithinTheRetryBudget) {
  std::shared_ptr<Cluster> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  silent_one_.silent = true;
  healthy_.silent = true;
  bool outcome_unknown = false;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<mdpb::ListTopicsResponse> r =
      cluster->CallMetadata(&mdpb::MetadataService::Stub::ListTopics, mdpb::ListTopicsRequest(),
                            {.deadline = Clock::now() + 2s, .outcome_unknown = &outcome_unknown});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_TRUE(outcome_unknown);
  EXPECT_NE(r.status().message().find(healthy_.address()), std::string::npos) << r.status();
  EXPECT_LT(Clock::now() - start, 4s);
}

TEST_F(FailoverTest, CreateTopicRetriedAfterATimeoutTakesItsOwnTopicAsCreated) {
  std::shared_ptr<Cluster> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  AdminClient admin(cluster);
  // Without any timeout, an existing topic is an error.
  healthy_.topic_exists = true;
  silent_one_.topic_exists = true;
  EXPECT_TRUE(absl::IsAlreadyExists(admin.CreateTopic("orders", 3, 3).status()));
  // The leader times out (it may have created it); the retry elsewhere
  // answers ALREADY_EXISTS for a topic of the asked-for shape: done.
  silent_one_.silent = true;
  absl::StatusOr<mdpb::TopicDescription> t = admin.CreateTopic("orders", 3, 3);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->topic().name(), "orders");
  // Not the asked-for shape: someone else's topic, still an error.
  EXPECT_TRUE(absl::IsAlreadyExists(admin.CreateTopic("orders", 5, 3).status()));
}

TEST_F(FailoverTest, SendBlocksAtMostMaxBlockWhenMetadataCannotBeFetched) {
  std::shared_ptr<Cluster> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  ProducerOptions o;
  o.client = cluster->options();
  o.idempotence = false;
  o.max_block = 500ms;
  absl::StatusOr<std::unique_ptr<Producer>> p = Producer::Create(cluster, o);
  ASSERT_TRUE(p.ok()) << p.status();
  silent_one_.silent = true;
  healthy_.silent = true;
  ProducerRecord r;
  r.topic = "not-in-the-cache";
  r.value = "x";
  const Clock::time_point start = Clock::now();
  absl::StatusOr<RecordMetadata> m = (*p)->Send(std::move(r)).get();
  const auto took = Clock::now() - start;
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("max_block"), std::string::npos) << m.status();
  // 500 ms, not one request_timeout (5 s) nor the retry budget (20 s).
  EXPECT_LT(took, 1500ms);
  (*p)->Close(1s);
}

TEST_F(FailoverTest, AFailedSyncLeavesNoGenerationAndTheNextPollRejoins) {
  std::shared_ptr<Cluster> cluster = Connect();
  ASSERT_NE(cluster, nullptr);
  ConsumerOptions o;
  o.client = cluster->options();
  o.group_id = "g";
  o.enable_auto_commit = false;
  o.heartbeat_interval = 100ms;
  o.session_timeout = 3s;
  for (FakeBroker* b : {&silent_one_, &healthy_}) b->failing_syncs = 1;
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(cluster, o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Subscribe({"known"}).ok());
  absl::StatusOr<std::vector<ConsumerRecord>> first = (*c)->Poll(100ms);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ((*c)->generation(), -1) << "a generation kept without its assignment";
  const int joins_before = silent_one_.joins + healthy_.joins;
  absl::StatusOr<std::vector<ConsumerRecord>> second = (*c)->Poll(100ms);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(silent_one_.joins + healthy_.joins, joins_before + 1) << "the next Poll must rejoin";
  EXPECT_GE((*c)->generation(), 1);
  (*c)->Close();
}

}  // namespace
}  // namespace raftlog::client
