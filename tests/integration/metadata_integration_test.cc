// End-to-end tests of the metadata service (issue 5) on three real raftlogd
// processes (tests/cluster/process_cluster.h), through the
// raftlog.metadata.v1.MetadataService gRPC API:
//   - a topic of 6 partitions with replication factor 3 gets a Raft group
//     per partition on every node, and leadership settles on the preferred
//     leaders: 2 partitions led by each node, which GetMetadata reports
//     from any node;
//   - with the metadata leader killed the metadata stays writable and
//     readable (topics; consumer offsets, committed through the group
//     coordinator, which alone may commit: the metadata service has no
//     commit RPC) through the survivors; the dead broker is fenced, a
//     replication factor above the live brokers is refused, and the
//     returning node is unfenced and gets its replicas;
//   - NodeAdmin.Propose refuses the metadata group (commands go through
//     the controller only);
//   - a deleted topic's groups disappear from every node and their
//     directories (with the data written to them) are removed.
// Every wait is bounded; timings are not asserted. Nodes run with a 3 s
// broker session, 300 ms heartbeats and a 500 ms leader-rebalance period.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "raftlog/api/v1/groups.grpc.pb.h"
#include "tests/cluster/process_cluster.h"

namespace raftlog::testing {
namespace {

namespace mdpb = raftlog::metadata::v1;
namespace apipb = raftlog::api::v1;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

// Calls `rpc` (one MetadataService method on node `via`) until it answers
// anything but UNAVAILABLE (no metadata leader yet, leader moving), for at
// most `timeout`.
template <typename Req, typename Resp, typename Rpc>
grpc::Status Call(ProcessCluster& c, int via, Rpc rpc, const Req& req, Resp* resp,
                  std::chrono::milliseconds timeout = 20s) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::Status s = (c.Metadata(via).*rpc)(&ctx, req, resp);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE || Clock::now() >= deadline) return s;
    std::this_thread::sleep_for(200ms);
  }
}

class MetadataIntegrationTest : public ::testing::Test {
 protected:
  static ProcessClusterOptions Options() {
    ProcessClusterOptions o;
    o.extra_args = {"--broker-session-timeout-ms=3000", "--broker-heartbeat-interval-ms=300",
                    "--leader-rebalance-interval-ms=500"};
    return o;
  }

  // Waits until node `via` reports `n` registered unfenced brokers.
  void WaitForLiveBrokers(int via, size_t n) {
    mdpb::ListBrokersResponse last;
    const bool ok = WaitUntil(
        [&] {
          mdpb::ListBrokersResponse resp;
          if (!Call(c_, via, &mdpb::MetadataService::Stub::ListBrokers, mdpb::ListBrokersRequest(),
                    &resp, 2s)
                   .ok()) {
            return false;
          }
          last = resp;
          size_t live = 0;
          for (const mdpb::Broker& b : resp.brokers()) live += b.fenced() ? 0 : 1;
          return live == n;
        },
        30s);
    ASSERT_TRUE(ok) << "want " << n << " live brokers; last answer: " << last.DebugString() << "\n"
                    << c_.LogTail(via);
  }

  mdpb::TopicDescription CreateTopic(int via, const std::string& name, int partitions, int rf) {
    mdpb::CreateTopicRequest req;
    req.set_name(name);
    req.set_partitions(partitions);
    req.set_replication_factor(rf);
    mdpb::CreateTopicResponse resp;
    grpc::Status s = Call(c_, via, &mdpb::MetadataService::Stub::CreateTopic, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.topic();
  }

  // The nodes hosting `group` (from each running node's Status).
  std::set<int> Hosts(uint64_t group) {
    std::set<int> hosts;
    for (int id = 1; id <= c_.size(); ++id) {
      if (!c_.IsRunning(id)) continue;
      absl::StatusOr<raftlog::node::v1::StatusResponse> st = c_.Status(id);
      if (!st.ok()) continue;
      for (const auto& g : st->groups()) {
        if (g.group() == group) hosts.insert(id);
      }
    }
    return hosts;
  }

  std::string GroupDir(int node, uint64_t group) {
    return absl::StrFormat("%s/groups/%020d", c_.DataDir(node), group);
  }

  ProcessCluster c_{Options()};
};

TEST_F(MetadataIntegrationTest, SixPartitionsRf3GetGroupsEverywhereAndLeadersSpread) {
  ASSERT_TRUE(c_.StartAll().ok());
  WaitForLiveBrokers(1, 3);
  const mdpb::TopicDescription t = CreateTopic(2, "orders", 6, 3);
  ASSERT_EQ(t.topic().partitions_size(), 6);
  std::vector<uint64_t> groups;
  std::map<uint64_t, uint64_t> preferred;
  std::map<uint64_t, int> preferred_per_node;
  for (const mdpb::Partition& p : t.topic().partitions()) {
    ASSERT_EQ(p.replicas_size(), 3);
    groups.push_back(p.group_id());
    preferred[p.group_id()] = p.replicas(0);
    ++preferred_per_node[p.replicas(0)];
  }
  EXPECT_EQ(preferred_per_node, (std::map<uint64_t, int>{{1, 2}, {2, 2}, {3, 2}}));
  for (uint64_t g : groups) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          return Hosts(g) == std::set<int>{1, 2, 3};
        },
        20s))
        << "group " << g;
  }
  absl::StatusOr<std::map<uint64_t, uint64_t>> leaders = c_.WaitForLeaders(groups);
  ASSERT_TRUE(leaders.ok()) << leaders.status();
  std::map<uint64_t, uint64_t> last;
  const bool spread = WaitUntil(
      [&] {
        last = c_.AgreedLeaders(groups);
        return last == preferred;
      },
      30s);
  std::map<uint64_t, int> led;
  for (const auto& [g, l] : last) ++led[l];
  EXPECT_TRUE(spread) << "leaders never settled on the preferred ones";
  EXPECT_EQ(led, (std::map<uint64_t, int>{{1, 2}, {2, 2}, {3, 2}}));

  // GetMetadata (any node) names the same leaders, learnt from heartbeats,
  // and every broker's address.
  mdpb::GetMetadataResponse md;
  const bool routed = WaitUntil(
      [&] {
        mdpb::GetMetadataRequest req;
        req.add_topics("orders");
        if (!Call(c_, 3, &mdpb::MetadataService::Stub::GetMetadata, req, &md).ok()) return false;
        for (const mdpb::PartitionMetadata& p : md.topics(0).partitions()) {
          if (p.leader() != preferred[p.group_id()]) return false;
        }
        return true;
      },
      10s);
  EXPECT_TRUE(routed) << md.DebugString();
  ASSERT_EQ(md.brokers_size(), 3);
  for (const mdpb::Broker& b : md.brokers()) {
    ASSERT_EQ(b.addresses_size(), 1);
    EXPECT_EQ(b.addresses(0), c_.Address(static_cast<int>(b.node_id())));
  }
  {
    mdpb::GetMetadataRequest req;
    req.add_topics("no-such-topic");
    grpc::Status s = Call(c_, 1, &mdpb::MetadataService::Stub::GetMetadata, req, &md);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  }

  // Metadata changes only through MetadataService, never raw proposals.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    raftlog::node::v1::ProposeRequest req;
    req.set_group(0);
    req.add_entries("not a command");
    raftlog::node::v1::ProposeResponse resp;
    grpc::Status s = c_.Admin(1).Propose(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }

  // Every node describes the topic the same way (reads go to the leader).
  for (int id = 1; id <= 3; ++id) {
    mdpb::DescribeTopicRequest req;
    req.set_name("orders");
    mdpb::DescribeTopicResponse resp;
    ASSERT_TRUE(Call(c_, id, &mdpb::MetadataService::Stub::DescribeTopic, req, &resp).ok());
    EXPECT_EQ(resp.topic().topic().SerializeAsString(), t.topic().SerializeAsString());
    EXPECT_EQ(resp.topic().effective_configs().at("cleanup.policy"), "delete");
  }
}

TEST_F(MetadataIntegrationTest, MetadataStaysWritableAndReadableWithOneNodeKilled) {
  ASSERT_TRUE(c_.StartAll().ok());
  WaitForLiveBrokers(1, 3);
  mdpb::ListBrokersResponse brokers;
  ASSERT_TRUE(
      Call(c_, 1, &mdpb::MetadataService::Stub::ListBrokers, mdpb::ListBrokersRequest(), &brokers)
          .ok());
  const int victim = static_cast<int>(brokers.metadata_leader());
  ASSERT_GE(victim, 1);
  c_.Kill(victim);
  std::vector<int> alive;
  for (int id = 1; id <= 3; ++id) {
    if (id != victim) alive.push_back(id);
  }

  const mdpb::TopicDescription t = CreateTopic(alive[0], "after-kill", 3, 2);
  ASSERT_EQ(t.topic().partitions_size(), 3);
  mdpb::ListTopicsResponse topics;
  ASSERT_TRUE(Call(c_, alive[1], &mdpb::MetadataService::Stub::ListTopics,
                   mdpb::ListTopicsRequest(), &topics)
                  .ok());
  ASSERT_EQ(topics.topics_size(), 1);
  EXPECT_EQ(topics.topics(0).name(), "after-kill");

  // Offsets are committed through the group coordinator (a simple-consumer
  // commit: no member, generation -1), which forwards to the new metadata
  // leader; the metadata service itself has no commit RPC.
  auto groups = apipb::GroupCoordinator::NewStub(
      grpc::CreateChannel(c_.Address(alive[1]), grpc::InsecureChannelCredentials()));
  apipb::OffsetCommitRequest commit;
  commit.set_group_id("billing");
  commit.set_generation(-1);
  apipb::OffsetCommitPartition* e = commit.add_offsets();
  e->set_topic("after-kill");
  e->set_partition(2);
  e->set_offset(42);
  e->set_metadata("m");
  apipb::OffsetCommitResponse committed;
  ASSERT_TRUE(WaitUntil(
      [&] {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 5s);
        return groups->OffsetCommit(&ctx, commit, &committed).ok() &&
               committed.error() == apipb::ERROR_NONE;
      },
      20s))
      << apipb::ErrorCode_Name(committed.error()) << " " << committed.error_message();
  // No client can write offsets past the coordinator's fencing: the
  // metadata service has no CommitOffsets method.
  grpc::GenericStub generic(
      grpc::CreateChannel(c_.Address(alive[0]), grpc::InsecureChannelCredentials()));
  grpc::ClientContext raw_ctx;
  raw_ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::Slice raw_slice(commit.SerializeAsString());
  grpc::ByteBuffer raw_request(&raw_slice, 1);
  grpc::ByteBuffer raw_reply;
  std::promise<grpc::Status> raw_done;
  generic.UnaryCall(&raw_ctx, "/raftlog.metadata.v1.MetadataService/CommitOffsets",
                    grpc::StubOptions(), &raw_request, &raw_reply,
                    [&raw_done](grpc::Status st) { raw_done.set_value(std::move(st)); });
  const grpc::Status raw_status = raw_done.get_future().get();
  EXPECT_EQ(raw_status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << raw_status.error_message();
  mdpb::FetchOffsetsRequest fetch;
  fetch.set_group("billing");
  mdpb::FetchOffsetsResponse offsets;
  ASSERT_TRUE(Call(c_, alive[0], &mdpb::MetadataService::Stub::FetchOffsets, fetch, &offsets).ok());
  ASSERT_EQ(offsets.offsets_size(), 1);
  EXPECT_EQ(offsets.offsets(0).offset(), 42);
  EXPECT_EQ(offsets.offsets(0).metadata(), "m");

  // The silent broker is fenced; RF 3 no longer fits the live brokers.
  WaitForLiveBrokers(alive[0], 2);
  mdpb::CreateTopicRequest too_wide;
  too_wide.set_name("too-wide");
  too_wide.set_partitions(1);
  too_wide.set_replication_factor(3);
  mdpb::CreateTopicResponse refused;
  grpc::Status s =
      Call(c_, alive[1], &mdpb::MetadataService::Stub::CreateTopic, too_wide, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "live brokers")) << s.error_message();

  // GetMetadata marks the dead broker's replicas offline and never names it leader.
  mdpb::GetMetadataResponse md;
  ASSERT_TRUE(
      Call(c_, alive[0], &mdpb::MetadataService::Stub::GetMetadata, mdpb::GetMetadataRequest(), &md)
          .ok());
  for (const mdpb::PartitionMetadata& p : md.topics(0).partitions()) {
    EXPECT_NE(p.leader(), static_cast<uint64_t>(victim));
    const bool hosted_by_victim = std::count(p.replicas().begin(), p.replicas().end(), victim) > 0;
    EXPECT_EQ(p.offline_replicas_size(), hosted_by_victim ? 1 : 0) << p.DebugString();
  }

  // The node returns: registered again (unfenced), it creates its replicas.
  ASSERT_TRUE(c_.Start(victim).ok());
  WaitForLiveBrokers(alive[0], 3);
  for (const mdpb::Partition& p : t.topic().partitions()) {
    std::set<int> want(p.replicas().begin(), p.replicas().end());
    EXPECT_TRUE(WaitUntil([&] { return Hosts(p.group_id()) == want; }, 20s))
        << "partition " << p.partition();
  }
}

TEST_F(MetadataIntegrationTest, DeletedTopicsGroupsDisappearAndTheirDiskIsFreed) {
  ASSERT_TRUE(c_.StartAll().ok());
  WaitForLiveBrokers(1, 3);
  const mdpb::TopicDescription t = CreateTopic(1, "doomed", 3, 3);
  std::vector<uint64_t> groups;
  for (const mdpb::Partition& p : t.topic().partitions()) groups.push_back(p.group_id());
  ASSERT_TRUE(c_.WaitForLeaders(groups).ok());
  const std::string batch = MakeTestBatch("doomed", 100);
  for (uint64_t g : groups) {
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<raftlog::node::v1::ProposeResponse> r = c_.Propose(g, {batch});
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  for (int id = 1; id <= 3; ++id) {
    for (uint64_t g : groups) ASSERT_TRUE(std::filesystem::exists(GroupDir(id, g)));
  }

  mdpb::DeleteTopicRequest del;
  del.set_name("doomed");
  mdpb::DeleteTopicResponse deleted;
  ASSERT_TRUE(Call(c_, 3, &mdpb::MetadataService::Stub::DeleteTopic, del, &deleted).ok());
  grpc::Status again = Call(c_, 2, &mdpb::MetadataService::Stub::DeleteTopic, del, &deleted);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND) << again.error_message();
  mdpb::DescribeTopicRequest describe;
  describe.set_name("doomed");
  mdpb::DescribeTopicResponse described;
  EXPECT_EQ(
      Call(c_, 1, &mdpb::MetadataService::Stub::DescribeTopic, describe, &described).error_code(),
      grpc::StatusCode::NOT_FOUND);

  for (uint64_t g : groups) {
    EXPECT_TRUE(WaitUntil([&] { return Hosts(g).empty(); }, 20s)) << "group " << g;
    for (int id = 1; id <= 3; ++id) {
      EXPECT_TRUE(WaitUntil([&] { return !std::filesystem::exists(GroupDir(id, g)); }, 10s))
          << GroupDir(id, g);
    }
  }
}

}  // namespace
}  // namespace raftlog::testing
