// DataService on three in-process nodes sharing a metadata group, each
// serving raftlog.api.v1.DataService on a real gRPC server on 127.0.0.1,
// called through stubs: produce (acks all / leader / none) and fetch back
// byte-identical batches at the returned offsets; every error code a client
// must tell apart (not leader with hint, unknown topic or partition,
// corrupt batch, too large, offset out of range); long-poll fetches woken by
// a produce and ending empty at max wait; multi-partition fetch with its
// byte limits; ListOffsets earliest, latest and by timestamp.
#include "broker/data_service.h"

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "broker/fetch_waiters.h"
#include "broker/local_cluster_test_util.h"
#include "broker/metadata_commands_test_util.h"
#include "broker/metadata_group.h"
#include "broker/metadata_host_test_util.h"
#include "broker/replica_manager.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "storage/record_batch_builder.h"
#include "storage/record_batch_header.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::api::v1;
using raft::NodeId;
using testing::BaseOffsetOf;
using testing::LocalCluster;
using testing::MakeBatch;
using testing::WaitFor;
using testing::WithoutBaseOffset;
using namespace std::chrono_literals;

// A gRPC call's outcome: status, the error code and leader hints of the
// trailing metadata.
struct CallResult {
  grpc::Status status;
  std::string error_code;
  std::string leader_id;
  std::string leader_address;
};

CallResult ResultOf(const grpc::ClientContext& ctx, grpc::Status status) {
  CallResult r{std::move(status), "", "", ""};
  for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
    const std::string key(k.data(), k.size()), value(v.data(), v.size());
    if (key == "raftlog-error-code") r.error_code = value;
    if (key == "raftlog-leader-id") r.leader_id = value;
    if (key == "raftlog-leader-address") r.leader_address = value;
  }
  return r;
}

// Splits concatenated RecordBatch v2 bytes into batches.
std::vector<std::string> SplitBatches(const std::string& bytes) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    absl::StatusOr<size_t> n = storage::BatchSize(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(bytes.data()) + pos, bytes.size() - pos));
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || pos + *n > bytes.size()) break;
    out.push_back(bytes.substr(pos, *n));
    pos += *n;
  }
  return out;
}

// A batch of an idempotent producer: `records` records from `sequence` on.
std::string ProducerBatch(int64_t producer, int16_t epoch, int32_t sequence, int records) {
  storage::BatchBuilder b;
  b.set_producer(producer, epoch, sequence);
  for (int i = 0; i < records; ++i) b.Add("k", "v" + std::to_string(sequence + i), 1000 + i);
  absl::StatusOr<std::vector<uint8_t>> bytes = b.Build();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : "";
}

// A batch whose records carry the given timestamps.
std::string BatchWithTimes(const std::vector<int64_t>& times) {
  storage::BatchBuilder b;
  for (size_t i = 0; i < times.size(); ++i) b.Add("k", "v" + std::to_string(i), times[i]);
  absl::StatusOr<std::vector<uint8_t>> bytes = b.Build();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : "";
}

class DataServiceTest : public ::testing::Test {
 protected:
  DataServiceTest() {
    for (uint64_t id = 1; id <= 3; ++id) waiters_[id] = std::make_unique<FetchWaiters>();
  }

  void SetUp() override {
    c_.Tweak([this](NodeOptions& o) {
      const uint64_t id = o.id.value();
      testing::HostMetadataGroup(o, state_);
      FetchWaiters* w = waiters_[id].get();
      o.on_high_watermark = [w](GroupId g) { w->Notify(g); };
    });
    for (uint64_t id = 1; id <= 3; ++id) {
      c_.Start(id);
      managers_[id] = std::make_unique<ReplicaManager>(c_.node(id).get(), state_[id]);
      services_[id] = std::make_unique<DataService>(c_.node(id).get(), waiters_[id].get());
      grpc::ServerBuilder builder;
      int port = 0;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      builder.RegisterService(services_[id].get());
      servers_[id] = builder.BuildAndStart();
      ASSERT_NE(servers_[id], nullptr);
      ASSERT_NE(port, 0);
      addresses_[id] = absl::StrFormat("127.0.0.1:%d", port);
      stubs_[id] = pb::DataService::NewStub(
          grpc::CreateChannel(addresses_[id], grpc::InsecureChannelCredentials()));
    }
    // Before the state is set, the service cannot resolve topics.
    pb::ProduceResponse resp;
    EXPECT_EQ(Produce(1, "t", 0, {MakeBatch(1, 1)}, pb::ACKS_ALL, &resp).error_code,
              "NODE_UNAVAILABLE");
    for (uint64_t id = 1; id <= 3; ++id) services_[id]->SetState(state_[id]);
    // Brokers register with the address of their DataService (the hint).
    for (uint64_t id = 1; id <= 3; ++id) {
      mdpb::MetadataCommand reg;
      reg.mutable_register_broker()->set_node_id(id);
      reg.mutable_register_broker()->add_addresses(addresses_[id]);
      reg.mutable_register_broker()->set_time_ms(1000);
      Run(reg);
    }
  }

  void TearDown() override {
    for (uint64_t id = 1; id <= 3; ++id) {
      waiters_[id]->Stop();
      if (servers_[id]) servers_[id]->Shutdown(std::chrono::system_clock::now() + 1s);
    }
    for (uint64_t id = 1; id <= 3; ++id) managers_[id].reset();
    for (uint64_t id = 1; id <= 3; ++id) c_.Kill(id);
  }

  ApplyResult Run(const mdpb::MetadataCommand& cmd) {
    const uint64_t leader = c_.WaitForLeader(kMetadataGroup);
    absl::StatusOr<ProposeResult> r = c_.Propose(leader, kMetadataGroup, {cmd.SerializeAsString()});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return ApplyResult{};
    ApplyResult a = std::any_cast<ApplyResult>(r->outcomes.at(0));
    EXPECT_TRUE(a.status.ok()) << a.status;
    for (uint64_t id = 1; id <= 3; ++id) {
      EXPECT_TRUE(WaitFor([&] { return state_[id]->applied_index() >= a.index; }));
    }
    return a;
  }

  // Creates the topic (RF 3) and waits until each partition has a leader.
  std::vector<GroupId> CreateTopic(const std::string& name, int partitions,
                                   std::map<std::string, std::string> configs = {}, int rf = 3) {
    ApplyResult created =
        Run(testing::CreateTopic(name, partitions, rf, ++topic_seed_, std::move(configs)));
    std::vector<GroupId> groups;
    if (!created.topic) return groups;
    for (uint64_t id = 1; id <= 3; ++id) {
      ReconcileReport r = managers_[id]->RunOnce(false);
      EXPECT_TRUE(r.status.ok()) << r.status;
    }
    for (const mdpb::Partition& p : created.topic->partitions()) {
      groups.push_back(p.group_id());
      EXPECT_NE(LeaderOf(p.group_id()), 0u);
    }
    return groups;
  }

  // The node leading `g` (all its replicas agreeing), once there is one.
  uint64_t LeaderOf(GroupId g) {
    uint64_t leader = 0;
    EXPECT_TRUE(WaitFor([&] {
      leader = 0;
      for (uint64_t id = 1; id <= 3; ++id) {
        std::shared_ptr<RaftGroup> grp = c_.node(id)->FindGroup(g);
        if (grp == nullptr) continue;
        if (grp->leader().value() == 0 || (leader != 0 && grp->leader().value() != leader)) {
          return false;
        }
        leader = grp->leader().value();
      }
      return leader != 0 && c_.node(leader)->FindGroup(g)->is_leader();
    })) << "group "
        << g;
    return leader;
  }
  uint64_t FollowerOf(GroupId g) { return LeaderOf(g) % 3 + 1; }

  // Makes node `to` lead `g`.
  void MoveLeader(GroupId g, uint64_t to) {
    ASSERT_TRUE(WaitFor(
        [&] {
          const uint64_t l = c_.AgreedLeader(g);
          if (l == to) return true;
          if (l != 0) (void)c_.node(l)->TransferLeader(g, NodeId(to));
          std::this_thread::sleep_for(20ms);
          return c_.AgreedLeader(g) == to;
        },
        20s))
        << "group " << g << " to node " << to;
  }

  CallResult Produce(uint64_t on, const std::string& topic, int32_t partition,
                     std::vector<std::string> batches, pb::Acks acks, pb::ProduceResponse* resp,
                     int32_t timeout_ms = 10000) {
    pb::ProduceRequest req;
    req.set_topic(topic);
    req.set_partition(partition);
    for (std::string& b : batches) req.add_batches(std::move(b));
    req.set_acks(acks);
    req.set_timeout_ms(timeout_ms);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    grpc::Status s = stubs_[on]->Produce(&ctx, req, resp);
    return ResultOf(ctx, s);
  }

  pb::FetchResponse Fetch(uint64_t on, const std::vector<pb::FetchPartition>& parts,
                          int32_t max_wait_ms = 0, int32_t min_bytes = 0, int32_t max_bytes = 0) {
    pb::FetchRequest req;
    req.set_max_wait_ms(max_wait_ms);
    req.set_min_bytes(min_bytes);
    req.set_max_bytes(max_bytes);
    for (const pb::FetchPartition& p : parts) *req.add_partitions() = p;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    pb::FetchResponse resp;
    grpc::Status s = stubs_[on]->Fetch(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  static pb::FetchPartition Part(const std::string& topic, int32_t partition, int64_t offset,
                                 int32_t max_bytes = 0) {
    pb::FetchPartition p;
    p.set_topic(topic);
    p.set_partition(partition);
    p.set_offset(offset);
    p.set_partition_max_bytes(max_bytes);
    return p;
  }

  pb::FetchPartitionResponse FetchOne(uint64_t on, const std::string& topic, int32_t partition,
                                      int64_t offset) {
    pb::FetchResponse r = Fetch(on, {Part(topic, partition, offset)});
    EXPECT_EQ(r.partitions_size(), 1);
    return r.partitions_size() == 1 ? r.partitions(0) : pb::FetchPartitionResponse();
  }

  pb::ListOffsetsPartitionResponse ListOffset(uint64_t on, const std::string& topic,
                                              int32_t partition, pb::OffsetSpec spec,
                                              int64_t timestamp_ms = 0) {
    pb::ListOffsetsRequest req;
    pb::ListOffsetsPartition* p = req.add_partitions();
    p->set_topic(topic);
    p->set_partition(partition);
    p->set_spec(spec);
    p->set_timestamp_ms(timestamp_ms);
    grpc::ClientContext ctx;
    pb::ListOffsetsResponse resp;
    grpc::Status s = stubs_[on]->ListOffsets(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.partitions_size(), 1);
    return resp.partitions_size() == 1 ? resp.partitions(0) : pb::ListOffsetsPartitionResponse();
  }

  uint8_t topic_seed_ = 0;
  // Declared before the cluster: they outlive its nodes, whose hooks call them.
  std::map<uint64_t, std::unique_ptr<FetchWaiters>> waiters_;
  LocalCluster c_{3};
  std::map<uint64_t, MetadataStateMachine*> state_;
  std::map<uint64_t, std::unique_ptr<ReplicaManager>> managers_;
  std::map<uint64_t, std::unique_ptr<DataService>> services_;
  std::map<uint64_t, std::unique_ptr<grpc::Server>> servers_;
  std::map<uint64_t, std::string> addresses_;
  std::map<uint64_t, std::unique_ptr<pb::DataService::Stub>> stubs_;
};

TEST_F(DataServiceTest, ProduceAcksAllThenFetchBackByteIdenticalBatchesAtTheirOffsets) {
  const GroupId g = CreateTopic("orders", 1)[0];
  const uint64_t leader = LeaderOf(g);
  const std::vector<std::string> sent = {MakeBatch(3, 1), MakeBatch(2, 2), MakeBatch(5, 3)};

  pb::ProduceResponse r1, r2;
  CallResult c1 = Produce(leader, "orders", 0, {sent[0], sent[1]}, pb::ACKS_ALL, &r1);
  ASSERT_TRUE(c1.status.ok()) << c1.status.error_message();
  ASSERT_EQ(r1.base_offsets_size(), 2);
  EXPECT_EQ(r1.base_offsets(0), 0);
  EXPECT_EQ(r1.base_offsets(1), 3);
  EXPECT_EQ(r1.log_start_offset(), 0);
  CallResult c2 = Produce(leader, "orders", 0, {sent[2]}, pb::ACKS_ALL, &r2);
  ASSERT_TRUE(c2.status.ok()) << c2.status.error_message();
  ASSERT_EQ(r2.base_offsets_size(), 1);
  EXPECT_EQ(r2.base_offsets(0), 5);

  // acks=all: committed, so the leader serves all of it at once.
  pb::FetchPartitionResponse all = FetchOne(leader, "orders", 0, 0);
  EXPECT_EQ(all.error(), pb::ERROR_NONE) << all.error_message();
  EXPECT_EQ(all.high_watermark(), 10);
  EXPECT_EQ(all.last_stable_offset(), 10);
  EXPECT_EQ(all.log_start_offset(), 0);
  std::vector<std::string> got = SplitBatches(all.records());
  ASSERT_EQ(got.size(), 3u);
  const std::vector<int64_t> offsets = {0, 3, 5};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(BaseOffsetOf(got[i]), offsets[i]);
    EXPECT_EQ(WithoutBaseOffset(got[i]), WithoutBaseOffset(sent[i])) << "batch " << i;
  }
  // From each returned offset: the batch stored there first.
  for (size_t i = 0; i < 3; ++i) {
    pb::FetchPartitionResponse at = FetchOne(leader, "orders", 0, offsets[i]);
    std::vector<std::string> b = SplitBatches(at.records());
    ASSERT_EQ(b.size(), 3 - i);
    EXPECT_EQ(b[0], got[i]);
  }
  // Mid-batch: the batch that contains the offset.
  EXPECT_EQ(SplitBatches(FetchOne(leader, "orders", 0, 4).records())[0], got[1]);
}

// Read-your-writes: once acks=all is answered, the leader's high watermark
// covers the batch, so a fetch sent after the answer returns it.
TEST_F(DataServiceTest, AnAcknowledgedProduceIsVisibleToTheNextFetch) {
  const GroupId g = CreateTopic("ryw", 1)[0];
  const uint64_t leader = LeaderOf(g);
  for (int i = 0; i < 50; ++i) {
    pb::ProduceResponse r;
    ASSERT_TRUE(Produce(leader, "ryw", 0, {MakeBatch(1, i)}, pb::ACKS_ALL, &r).status.ok());
    ASSERT_EQ(r.base_offsets(0), i);
    pb::FetchPartitionResponse f = FetchOne(leader, "ryw", 0, i);
    ASSERT_EQ(f.high_watermark(), i + 1) << "round " << i;
    ASSERT_EQ(SplitBatches(f.records()).size(), 1u) << "round " << i;
  }
}

TEST_F(DataServiceTest, AcksLeaderAnswersBeforeCommitAndAcksNoneAtOnce) {
  const GroupId g = CreateTopic("fast", 1)[0];
  const uint64_t leader = LeaderOf(g);
  pb::ProduceResponse r;
  ASSERT_TRUE(Produce(leader, "fast", 0, {MakeBatch(2, 1)}, pb::ACKS_LEADER, &r).status.ok());
  ASSERT_EQ(r.base_offsets_size(), 1);
  EXPECT_EQ(r.base_offsets(0), 0);
  ASSERT_TRUE(WaitFor([&] { return FetchOne(leader, "fast", 0, 0).high_watermark() == 2; }));

  // acks=0: an answer without offsets; the batch is stored anyway.
  pb::ProduceResponse none;
  const std::string b = MakeBatch(4, 2);
  ASSERT_TRUE(Produce(leader, "fast", 0, {b}, pb::ACKS_NONE, &none).status.ok());
  EXPECT_EQ(none.base_offsets_size(), 0);
  EXPECT_EQ(none.log_start_offset(), -1);
  ASSERT_TRUE(WaitFor([&] { return FetchOne(leader, "fast", 0, 2).high_watermark() == 6; }));
  std::vector<std::string> got = SplitBatches(FetchOne(leader, "fast", 0, 2).records());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(WithoutBaseOffset(got[0]), WithoutBaseOffset(b));

  // Cut off from its followers, the leader can still append (acks=1 is
  // answered) but not commit (acks=all is not acknowledged).
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != leader) c_.Cut(leader, id);
  }
  pb::ProduceResponse appended, committed;
  CallResult a = Produce(leader, "fast", 0, {MakeBatch(1, 3)}, pb::ACKS_LEADER, &appended, 5000);
  CallResult c = Produce(leader, "fast", 0, {MakeBatch(1, 4)}, pb::ACKS_ALL, &committed, 300);
  c_.HealAll();
  ASSERT_TRUE(a.status.ok()) << a.status.error_message() << " " << a.error_code;
  ASSERT_EQ(appended.base_offsets_size(), 1);
  EXPECT_EQ(appended.base_offsets(0), 6);
  EXPECT_FALSE(c.status.ok());
  EXPECT_TRUE(c.error_code == "REQUEST_TIMED_OUT" || c.error_code == "NOT_LEADER" ||
              c.error_code == "LEADER_NOT_AVAILABLE")
      << c.error_code << ": " << c.status.error_message();
}

TEST_F(DataServiceTest, FollowerAnswersNotLeaderWithTheLeadersIdAndAddress) {
  const GroupId g = CreateTopic("hint", 1)[0];
  const uint64_t leader = LeaderOf(g), follower = FollowerOf(g);
  pb::ProduceResponse r;
  CallResult c = Produce(follower, "hint", 0, {MakeBatch(1, 1)}, pb::ACKS_ALL, &r);
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(c.error_code, "NOT_LEADER");
  EXPECT_EQ(c.leader_id, std::to_string(leader));
  EXPECT_EQ(c.leader_address, addresses_[leader]);

  pb::FetchPartitionResponse f = FetchOne(follower, "hint", 0, 0);
  EXPECT_EQ(f.error(), pb::NOT_LEADER);
  EXPECT_EQ(f.leader_id(), leader);
  EXPECT_EQ(f.leader_address(), addresses_[leader]);
  EXPECT_TRUE(f.records().empty());

  pb::ListOffsetsPartitionResponse l = ListOffset(follower, "hint", 0, pb::OFFSET_LATEST);
  EXPECT_EQ(l.error(), pb::NOT_LEADER);
  EXPECT_EQ(l.leader_id(), leader);
}

TEST_F(DataServiceTest, UnknownTopicOrPartition) {
  const GroupId g = CreateTopic("known", 2)[0];
  const uint64_t leader = LeaderOf(g);
  pb::ProduceResponse r;
  for (auto [topic, partition] :
       std::vector<std::pair<std::string, int32_t>>{{"unknown", 0}, {"known", 2}, {"known", -1}}) {
    CallResult c = Produce(leader, topic, partition, {MakeBatch(1, 1)}, pb::ACKS_ALL, &r);
    EXPECT_EQ(c.status.error_code(), grpc::StatusCode::NOT_FOUND) << topic << "-" << partition;
    EXPECT_EQ(c.error_code, "UNKNOWN_TOPIC_OR_PARTITION") << c.status.error_message();
    EXPECT_EQ(FetchOne(leader, topic, partition, 0).error(), pb::UNKNOWN_TOPIC_OR_PARTITION);
    EXPECT_EQ(ListOffset(leader, topic, partition, pb::OFFSET_EARLIEST).error(),
              pb::UNKNOWN_TOPIC_OR_PARTITION);
  }
  // A node without a replica of the partition cannot name its leader.
  const GroupId single = CreateTopic("single", 1, {}, /*rf=*/1)[0];
  const uint64_t holder = LeaderOf(single);
  const uint64_t other = holder % 3 + 1;
  ASSERT_EQ(c_.node(other)->FindGroup(single), nullptr);
  CallResult elsewhere = Produce(other, "single", 0, {MakeBatch(1, 1)}, pb::ACKS_ALL, &r);
  EXPECT_EQ(elsewhere.error_code, "NOT_LEADER");
  EXPECT_EQ(elsewhere.leader_id, "");
  EXPECT_EQ(FetchOne(other, "single", 0, 0).error(), pb::NOT_LEADER);
  // A request without batches is malformed.
  CallResult empty = Produce(leader, "known", 0, {}, pb::ACKS_ALL, &r);
  EXPECT_EQ(empty.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(empty.error_code, "INVALID_REQUEST");
}

TEST_F(DataServiceTest, CorruptBatchIsRejectedAndNothingIsStored) {
  const GroupId g = CreateTopic("crc", 1)[0];
  const uint64_t leader = LeaderOf(g);
  std::string bad = MakeBatch(3, 1);
  bad[bad.size() - 2] ^= 0x40;  // inside the records: the CRC no longer matches
  pb::ProduceResponse r;
  for (pb::Acks acks : {pb::ACKS_ALL, pb::ACKS_LEADER}) {
    CallResult c = Produce(leader, "crc", 0, {MakeBatch(1, 2), bad}, acks, &r);
    EXPECT_EQ(c.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(c.error_code, "CORRUPT_MESSAGE") << c.status.error_message();
  }
  CallResult junk = Produce(leader, "crc", 0, {"not a record batch"}, pb::ACKS_ALL, &r);
  EXPECT_EQ(junk.error_code, "CORRUPT_MESSAGE");
  // The whole request was refused, the valid batch with it.
  ASSERT_TRUE(Produce(leader, "crc", 0, {MakeBatch(1, 3)}, pb::ACKS_ALL, &r).status.ok());
  EXPECT_EQ(r.base_offsets(0), 0);
}

TEST_F(DataServiceTest, BatchLargerThanMaxMessageBytesIsRejected) {
  const GroupId g = CreateTopic("small", 1, {{"max.message.bytes", "1000"}})[0];
  const uint64_t leader = LeaderOf(g);
  const std::string big = MakeBatch(100, 1);
  ASSERT_GT(big.size(), 1000u);
  pb::ProduceResponse r;
  CallResult c = Produce(leader, "small", 0, {MakeBatch(1, 2), big}, pb::ACKS_ALL, &r);
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(c.error_code, "MESSAGE_TOO_LARGE");
  EXPECT_NE(c.status.error_message().find("max.message.bytes"), std::string::npos);
  ASSERT_TRUE(Produce(leader, "small", 0, {MakeBatch(3, 3)}, pb::ACKS_ALL, &r).status.ok());
  EXPECT_EQ(r.base_offsets(0), 0);
}

TEST_F(DataServiceTest, OffsetOutOfRangeCarriesTheBoundsAndTheHighWatermarkIsValid) {
  const GroupId g = CreateTopic("range", 1)[0];
  const uint64_t leader = LeaderOf(g);
  pb::ProduceResponse r;
  ASSERT_TRUE(Produce(leader, "range", 0, {MakeBatch(4, 1)}, pb::ACKS_ALL, &r).status.ok());
  for (int64_t bad : {int64_t{1000}, int64_t{-1}}) {
    pb::FetchPartitionResponse f = FetchOne(leader, "range", 0, bad);
    EXPECT_EQ(f.error(), pb::OFFSET_OUT_OF_RANGE) << bad;
    EXPECT_EQ(f.log_start_offset(), 0);
    EXPECT_EQ(f.high_watermark(), 4);
    EXPECT_TRUE(f.records().empty());
  }
  pb::FetchPartitionResponse at_hw = FetchOne(leader, "range", 0, 4);
  EXPECT_EQ(at_hw.error(), pb::ERROR_NONE);
  EXPECT_EQ(at_hw.high_watermark(), 4);
  EXPECT_TRUE(at_hw.records().empty());
}

// Fetch is a raw method (its answer is encoded without copying the
// batches): a request that is not a FetchRequest is refused as invalid.
TEST_F(DataServiceTest, AFetchRequestThatDoesNotParseIsInvalid) {
  grpc::GenericStub stub(grpc::CreateChannel(addresses_[1], grpc::InsecureChannelCredentials()));
  const char garbage[] = "\xff\xff\xff";  // a varint key that never ends
  grpc::Slice slice(garbage, sizeof(garbage) - 1);
  grpc::ByteBuffer req(&slice, 1), resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/raftlog.api.v1.DataService/Fetch", grpc::StubOptions(), &req, &resp,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const CallResult r = ResultOf(ctx, done.get_future().get());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status.error_message();
  EXPECT_EQ(r.error_code, "INVALID_REQUEST");
}

TEST_F(DataServiceTest, LongPollReturnsWhenAProduceLandsAndEmptyAtMaxWait) {
  const GroupId g = CreateTopic("poll", 1)[0];
  const uint64_t leader = LeaderOf(g);
  // Nothing comes: empty once max_wait has passed.
  pb::FetchResponse idle = Fetch(leader, {Part("poll", 0, 0)}, /*max_wait_ms=*/200, 1);
  ASSERT_EQ(idle.partitions_size(), 1);
  EXPECT_EQ(idle.partitions(0).error(), pb::ERROR_NONE);
  EXPECT_TRUE(idle.partitions(0).records().empty());

  // A waiting fetch answers as soon as a produce commits, long before its
  // max wait (25 s; the test's bound on it is 20 s).
  const auto start = std::chrono::steady_clock::now();
  auto waiting = std::async(std::launch::async, [&] {
    return Fetch(leader, {Part("poll", 0, 0)}, /*max_wait_ms=*/25000, /*min_bytes=*/1);
  });
  ASSERT_TRUE(WaitFor([&] { return waiters_[leader]->waiting() == 1; }));
  EXPECT_EQ(waiting.wait_for(100ms), std::future_status::timeout);
  const std::string b = MakeBatch(2, 7);
  pb::ProduceResponse r;
  ASSERT_TRUE(Produce(leader, "poll", 0, {b}, pb::ACKS_ALL, &r).status.ok());
  ASSERT_EQ(waiting.wait_for(20s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  pb::FetchResponse woke = waiting.get();
  ASSERT_EQ(woke.partitions_size(), 1);
  std::vector<std::string> got = SplitBatches(woke.partitions(0).records());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(WithoutBaseOffset(got[0]), WithoutBaseOffset(b));
  EXPECT_EQ(waiters_[leader]->waiting(), 0u);
}

TEST_F(DataServiceTest, OneFetchReadsManyPartitionsWithinItsByteLimits) {
  const std::vector<GroupId> groups = CreateTopic("multi", 3);
  for (GroupId g : groups) MoveLeader(g, 1);
  std::vector<std::string> sent;
  for (int32_t p = 0; p < 3; ++p) {
    sent.push_back(MakeBatch(2 + p, 10 + p));
    pb::ProduceResponse r;
    ASSERT_TRUE(Produce(1, "multi", p, {sent.back()}, pb::ACKS_ALL, &r).status.ok());
  }
  pb::FetchResponse all =
      Fetch(1, {Part("multi", 2, 0), Part("multi", 0, 0), Part("multi", 1, 0), Part("nope", 0, 0)});
  ASSERT_EQ(all.partitions_size(), 4);
  const std::vector<int> order = {2, 0, 1};
  for (int i = 0; i < 3; ++i) {
    const pb::FetchPartitionResponse& p = all.partitions(i);
    EXPECT_EQ(p.topic(), "multi");
    EXPECT_EQ(p.partition(), order[i]);
    EXPECT_EQ(p.error(), pb::ERROR_NONE) << p.error_message();
    EXPECT_EQ(p.high_watermark(), 2 + order[i]);
    ASSERT_EQ(SplitBatches(p.records()).size(), 1u);
    EXPECT_EQ(WithoutBaseOffset(p.records()), WithoutBaseOffset(sent[order[i]]));
  }
  EXPECT_EQ(all.partitions(3).error(), pb::UNKNOWN_TOPIC_OR_PARTITION);

  // max_bytes of 1: the first partition still gets its first batch whole,
  // the others nothing (but their watermarks).
  pb::FetchResponse tight = Fetch(1, {Part("multi", 0, 0), Part("multi", 1, 0)}, 0, 0, 1);
  ASSERT_EQ(tight.partitions_size(), 2);
  EXPECT_EQ(WithoutBaseOffset(tight.partitions(0).records()), WithoutBaseOffset(sent[0]));
  EXPECT_TRUE(tight.partitions(1).records().empty());
  EXPECT_EQ(tight.partitions(1).high_watermark(), 3);

  // A long poll over several partitions wakes on any of them.
  auto waiting = std::async(std::launch::async, [&] {
    return Fetch(1, {Part("multi", 0, 2), Part("multi", 1, 3), Part("multi", 2, 4)}, 25000, 1);
  });
  ASSERT_TRUE(WaitFor([&] { return waiters_[1]->waiting() == 1; }));
  pb::ProduceResponse r;
  ASSERT_TRUE(Produce(1, "multi", 1, {MakeBatch(1, 99)}, pb::ACKS_ALL, &r).status.ok());
  ASSERT_EQ(waiting.wait_for(20s), std::future_status::ready);
  pb::FetchResponse woke = waiting.get();
  ASSERT_EQ(woke.partitions_size(), 3);
  EXPECT_TRUE(woke.partitions(0).records().empty());
  EXPECT_EQ(SplitBatches(woke.partitions(1).records()).size(), 1u);
  EXPECT_TRUE(woke.partitions(2).records().empty());
}

TEST_F(DataServiceTest, IdempotentProducerRetriesAreAnsweredWithTheOriginalOffsets) {
  const GroupId g = CreateTopic("idem", 1)[0];
  const uint64_t leader = LeaderOf(g);
  pb::ProduceResponse r;
  // A new leader takes idempotent writes once it has applied its
  // predecessors' entries (NODE_UNAVAILABLE until then, nothing stored).
  CallResult first;
  ASSERT_TRUE(WaitFor([&] {
    first = Produce(leader, "idem", 0, {ProducerBatch(77, 0, 0, 2)}, pb::ACKS_ALL, &r);
    return first.error_code != "NODE_UNAVAILABLE";
  }));
  ASSERT_TRUE(first.status.ok()) << first.error_code << ": " << first.status.error_message();
  EXPECT_EQ(r.base_offsets(0), 0);
  // The retry is answered with the stored batch's offset and not stored again.
  ASSERT_TRUE(
      Produce(leader, "idem", 0, {ProducerBatch(77, 0, 0, 2)}, pb::ACKS_ALL, &r).status.ok());
  EXPECT_EQ(r.base_offsets(0), 0);
  EXPECT_EQ(FetchOne(leader, "idem", 0, 0).high_watermark(), 2);

  CallResult gap = Produce(leader, "idem", 0, {ProducerBatch(77, 0, 5, 1)}, pb::ACKS_ALL, &r);
  EXPECT_EQ(gap.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(gap.error_code, "OUT_OF_ORDER_SEQUENCE_NUMBER") << gap.status.error_message();

  ASSERT_TRUE(
      Produce(leader, "idem", 0, {ProducerBatch(77, 1, 0, 1)}, pb::ACKS_ALL, &r).status.ok());
  EXPECT_EQ(r.base_offsets(0), 2);
  CallResult fenced = Produce(leader, "idem", 0, {ProducerBatch(77, 0, 2, 1)}, pb::ACKS_ALL, &r);
  EXPECT_EQ(fenced.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(fenced.error_code, "INVALID_PRODUCER_EPOCH") << fenced.status.error_message();
  EXPECT_EQ(FetchOne(leader, "idem", 0, 0).high_watermark(), 3);
}

TEST_F(DataServiceTest, ListOffsetsEarliestLatestAndByTimestamp) {
  const GroupId g = CreateTopic("times", 1)[0];
  const uint64_t leader = LeaderOf(g);
  // Offsets 0..2 at t=1000,3000,2000 (not monotonic); 3..4 at t=4000,5000.
  pb::ProduceResponse r;
  ASSERT_TRUE(Produce(leader, "times", 0,
                      {BatchWithTimes({1000, 3000, 2000}), BatchWithTimes({4000, 5000})},
                      pb::ACKS_ALL, &r)
                  .status.ok());
  EXPECT_EQ(ListOffset(leader, "times", 0, pb::OFFSET_EARLIEST).offset(), 0);
  EXPECT_EQ(ListOffset(leader, "times", 0, pb::OFFSET_LATEST).offset(), 5);
  struct Case {
    int64_t t, offset, timestamp;
  };
  for (const Case& c : std::vector<Case>{{0, 0, 1000},
                                         {1000, 0, 1000},
                                         {1500, 1, 3000},
                                         {2500, 1, 3000},
                                         {3001, 3, 4000},
                                         {4500, 4, 5000},
                                         {5000, 4, 5000},
                                         {5001, -1, -1}}) {
    pb::ListOffsetsPartitionResponse l = ListOffset(leader, "times", 0, pb::OFFSET_TIMESTAMP, c.t);
    EXPECT_EQ(l.error(), pb::ERROR_NONE) << l.error_message();
    EXPECT_EQ(l.offset(), c.offset) << "t=" << c.t;
    EXPECT_EQ(l.timestamp(), c.timestamp) << "t=" << c.t;
  }
}

}  // namespace
}  // namespace raftlog::broker
