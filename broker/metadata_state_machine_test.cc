// Tests of MetadataStateMachine: every validation rejection (with its
// message) consumes the entry and changes only the applied index; apply is
// deterministic (byte-identical state column families); snapshot + restore
// equals replay (deleted group offsets stay deleted); a damaged snapshot is DataLoss and changes
// nothing; the applied index survives a reopen together with its change; producer-id blocks never
// overlap; replica assignment is balanced; config defaults are applied at describe time.
#include "broker/metadata_state_machine.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/broker_test_util.h"
#include "broker/metadata_commands_test_util.h"
#include "broker/rocksdb_raft_storage.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/stackable_db.h"
#include "rocksdb/write_batch.h"

namespace raftlog::broker {
namespace {

using raft::LogIndex;
using raft::NodeId;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;
using namespace testing;  // command builders

// ---------------------------------------------------------------- fixture

struct Store {
  TempDir dir;
  std::unique_ptr<RocksDbRaftStorage> storage;
  std::unique_ptr<MetadataStateMachine> sm;

  Store() { Reopen(); }

  void Reopen() {
    sm.reset();
    storage.reset();
    auto s = RocksDbRaftStorage::Open(dir.path(), raft::ConfState{{NodeId(1)}, {}});
    ASSERT_TRUE(s.ok()) << s.status();
    storage = *std::move(s);
    auto m = MetadataStateMachine::Open(storage->db(), storage->state_cf());
    ASSERT_TRUE(m.ok()) << m.status();
    sm = *std::move(m);
  }

  // Applies `cmd` at the next index; returns the result (fails the test on an
  // infrastructure error).
  ApplyResult Apply(const mdpb::MetadataCommand& cmd) { return ApplyBytes(Encode(cmd)); }
  ApplyResult ApplyBytes(const std::string& bytes) {
    const LogIndex index = sm->applied_index() + 1;
    absl::StatusOr<ApplyResult> r = sm->Apply(index, bytes);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return ApplyResult{};
    EXPECT_EQ(r->index, index);
    EXPECT_FALSE(r->already_applied);
    EXPECT_EQ(sm->applied_index(), index);
    return *std::move(r);
  }

  // Every key/value of the state column family, in key order.
  std::vector<std::pair<std::string, std::string>> StateContent() const {
    std::vector<std::pair<std::string, std::string>> out;
    std::unique_ptr<rocksdb::Iterator> it(
        storage->db()->NewIterator(rocksdb::ReadOptions(), storage->state_cf()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.emplace_back(it->key().ToString(), it->value().ToString());
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return out;
  }

  void RegisterBrokers(int n) {
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(Apply(Register(i)).status.ok());
  }
};

std::vector<std::pair<std::string, std::string>> WithoutAppliedIndex(
    std::vector<std::pair<std::string, std::string>> content) {
  std::erase_if(content, [](const auto& kv) { return kv.first == "applied_index"; });
  return content;
}

// A command rejected at apply changes nothing but the applied index, and its
// status has `code` and a message containing `needle`.
void ExpectRejected(Store& s, const mdpb::MetadataCommand& cmd, absl::StatusCode code,
                    const std::string& needle) {
  auto before = s.StateContent();
  const LogIndex index = s.sm->applied_index() + 1;
  ApplyResult r = s.Apply(cmd);
  EXPECT_EQ(r.status.code(), code) << r.status;
  EXPECT_THAT(std::string(r.status.message()), HasSubstr(needle));
  EXPECT_FALSE(r.topic.has_value());
  EXPECT_FALSE(r.broker.has_value());
  EXPECT_FALSE(r.producer_ids.has_value());
  auto after = s.StateContent();
  std::string want_applied;
  for (int shift = 56; shift >= 0; shift -= 8) {
    want_applied.push_back(static_cast<char>((index.value() >> shift) & 0xff));
  }
  EXPECT_EQ(WithoutAppliedIndex(after), WithoutAppliedIndex(before));
  EXPECT_THAT(after,
              ::testing::Contains(std::make_pair(std::string("applied_index"), want_applied)));
}

// ---------------------------------------------------------------- tests

TEST(MetadataStateMachineTest, FreshStateIsEmpty) {
  Store s;
  EXPECT_EQ(s.sm->applied_index(), LogIndex(0));
  auto topics = s.sm->ListTopics();
  ASSERT_TRUE(topics.ok());
  EXPECT_TRUE(topics->empty());
  EXPECT_EQ(s.sm->GetTopic("orders").status().code(), absl::StatusCode::kNotFound);
}

TEST(MetadataStateMachineTest, RegisterHeartbeatFenceBrokers) {
  Store s;
  ApplyResult r = s.Apply(Register(2, 100));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_TRUE(r.broker.has_value());
  EXPECT_EQ(r.broker->epoch(), 1u);
  ASSERT_TRUE(s.Apply(Register(1, 100)).status.ok());

  r = s.Apply(Fence(2));
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.broker->fenced());
  r = s.Apply(Heartbeat(2, 500, /*epoch=*/1));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_FALSE(r.broker->fenced());
  EXPECT_EQ(r.broker->last_heartbeat_ms(), 500);
  // A heartbeat carrying an older time does not move the clock back.
  r = s.Apply(Heartbeat(2, 300));
  EXPECT_EQ(r.broker->last_heartbeat_ms(), 500);

  auto brokers = s.sm->ListBrokers();
  ASSERT_TRUE(brokers.ok());
  ASSERT_EQ(brokers->size(), 2u);
  EXPECT_EQ((*brokers)[0].node_id(), 1u);
  EXPECT_EQ((*brokers)[1].node_id(), 2u);
  EXPECT_EQ((*brokers)[1].addresses(0), "127.0.0.1:20002");
}

TEST(MetadataStateMachineTest, BrokerValidationErrors) {
  Store s;
  ExpectRejected(s, Register(0), absl::StatusCode::kInvalidArgument, "node id must be >= 1");
  mdpb::MetadataCommand no_addr = Register(1);
  no_addr.mutable_register_broker()->clear_addresses();
  ExpectRejected(s, no_addr, absl::StatusCode::kInvalidArgument, "no address");
  mdpb::MetadataCommand empty_addr = Register(1);
  empty_addr.mutable_register_broker()->add_addresses("");
  ExpectRejected(s, empty_addr, absl::StatusCode::kInvalidArgument, "empty address");
  ExpectRejected(s, Register(1, -5), absl::StatusCode::kInvalidArgument, "time_ms -5 < 0");
  ExpectRejected(s, Heartbeat(7, 10), absl::StatusCode::kNotFound, "broker 7 is not registered");
  ExpectRejected(s, Fence(7), absl::StatusCode::kNotFound, "broker 7 is not registered");
  ExpectRejected(s, Heartbeat(7, -1), absl::StatusCode::kInvalidArgument, "time_ms -1 < 0");
  ASSERT_TRUE(s.Apply(Register(1)).status.ok());  // epoch = its index
  const uint64_t epoch = s.sm->applied_index().value();
  ExpectRejected(s, Heartbeat(1, 10, epoch + 1), absl::StatusCode::kFailedPrecondition,
                 "stale broker epoch");
  EXPECT_TRUE(s.Apply(Heartbeat(1, 10, epoch)).status.ok());
}

TEST(MetadataStateMachineTest, UndecodableAndEmptyCommandsAreConsumed) {
  Store s;
  ApplyResult r = s.ApplyBytes(std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status.message()), HasSubstr("not a MetadataCommand"));
  ExpectRejected(s, mdpb::MetadataCommand(), absl::StatusCode::kInvalidArgument, "no command set");
  EXPECT_EQ(s.sm->applied_index(), LogIndex(2));
}

TEST(MetadataStateMachineTest, CreateTopicStoresAssignmentAndGroupIds) {
  Store s;
  s.RegisterBrokers(3);
  ApplyResult r = s.Apply(CreateTopic("orders", 6, 3, 1, {{"cleanup.policy", "compact"}}));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_TRUE(r.topic.has_value());
  ASSERT_TRUE(s.Apply(CreateTopic("audit", 2, 1, 2)).status.ok());

  auto t = s.sm->GetTopic("orders");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->topic_id(), TopicId(1));
  EXPECT_EQ(t->partition_count(), 6);
  EXPECT_EQ(t->replication_factor(), 3);
  ASSERT_EQ(t->partitions_size(), 6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(t->partitions(i).partition(), i);
    EXPECT_EQ(t->partitions(i).group_id(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(t->partitions(i).replicas_size(), 3);
  }
  // Group ids continue across topics; 0 (the metadata group) is never used.
  auto audit = s.sm->GetTopic("audit");
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->partitions(0).group_id(), 7u);
  EXPECT_EQ(audit->partitions(1).group_id(), 8u);

  auto topics = s.sm->ListTopics();
  ASSERT_TRUE(topics.ok());
  ASSERT_EQ(topics->size(), 2u);
  EXPECT_EQ((*topics)[0].name(), "audit");
  EXPECT_EQ((*topics)[1].name(), "orders");

  // Defaults applied at describe time, not stored.
  EXPECT_EQ(t->configs_size(), 1);
  auto eff = EffectiveTopicConfigs(*t);
  EXPECT_EQ(eff["cleanup.policy"], "compact");
  EXPECT_EQ(eff["retention.ms"], "604800000");
  EXPECT_EQ(eff["retention.bytes"], "-1");
  EXPECT_EQ(eff["segment.bytes"], "1073741824");
  EXPECT_EQ(eff["segment.ms"], "604800000");
  EXPECT_EQ(eff["max.message.bytes"], "1048588");
  EXPECT_EQ(eff.size(), 6u);
}

TEST(MetadataStateMachineTest, TopicNameValidation) {
  EXPECT_TRUE(ValidateTopicName("a.b_c-D9").ok());
  EXPECT_TRUE(ValidateTopicName(std::string(249, 'x')).ok());
  EXPECT_TRUE(ValidateTopicName("...").ok());
  EXPECT_THAT(std::string(ValidateTopicName("").message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(ValidateTopicName(std::string(250, 'x')).message()),
              HasSubstr("250 characters, at most 249"));
  EXPECT_THAT(std::string(ValidateTopicName(".").message()), HasSubstr("not allowed"));
  EXPECT_THAT(std::string(ValidateTopicName("..").message()), HasSubstr("not allowed"));
  EXPECT_THAT(std::string(ValidateTopicName("a b").message()), HasSubstr("illegal character ' '"));
  EXPECT_THAT(std::string(ValidateTopicName("a/b").message()), HasSubstr("illegal character"));
  EXPECT_EQ(ValidateTopicName(std::string("a\0b", 3)).code(), absl::StatusCode::kInvalidArgument);

  Store s;
  s.RegisterBrokers(3);
  ExpectRejected(s, CreateTopic("bad name", 1, 1), absl::StatusCode::kInvalidArgument,
                 "illegal character");
  ExpectRejected(s, CreateTopic("..", 1, 1), absl::StatusCode::kInvalidArgument, "not allowed");
  ExpectRejected(s, CreateTopic("", 1, 1), absl::StatusCode::kInvalidArgument, "empty");
}

TEST(MetadataStateMachineTest, CreateTopicValidationErrors) {
  Store s;
  s.RegisterBrokers(3);
  ASSERT_TRUE(s.Apply(CreateTopic("orders", 3, 3, 1)).status.ok());
  ExpectRejected(s, CreateTopic("orders", 3, 3, 9), absl::StatusCode::kAlreadyExists,
                 "topic \"orders\" already exists");
  ExpectRejected(s, CreateTopic("other", 3, 3, 1), absl::StatusCode::kAlreadyExists,
                 "already used by topic \"orders\"");
  mdpb::MetadataCommand short_id = CreateTopic("t", 1, 1, 2);
  short_id.mutable_create_topic()->set_topic_id("abc");
  ExpectRejected(s, short_id, absl::StatusCode::kInvalidArgument, "has 3 bytes, want 16");
  mdpb::MetadataCommand zero_id = CreateTopic("t", 1, 1, 2);
  zero_id.mutable_create_topic()->set_topic_id(std::string(16, '\0'));
  ExpectRejected(s, zero_id, absl::StatusCode::kInvalidArgument, "all zero");
  ExpectRejected(s, CreateTopic("t", 0, 1, 2), absl::StatusCode::kInvalidArgument,
                 "partitions must be in 1..10000, got 0");
  ExpectRejected(s, CreateTopic("t", -4, 1, 2), absl::StatusCode::kInvalidArgument, "got -4");
  ExpectRejected(s, CreateTopic("t", 1, 0, 2), absl::StatusCode::kInvalidArgument,
                 "replication factor must be >= 1, got 0");
  ExpectRejected(s, CreateTopic("t", 1, 4, 2, {}, {1, 2, 3, 4}), absl::StatusCode::kInvalidArgument,
                 "replication factor 4 exceeds the 3 live (registered, unfenced) brokers");
  // A fenced broker does not count as live.
  ASSERT_TRUE(s.Apply(Fence(3)).status.ok());
  ExpectRejected(s, CreateTopic("t", 1, 3, 2), absl::StatusCode::kInvalidArgument,
                 "replication factor 3 exceeds the 2 live");
  ASSERT_TRUE(s.Apply(Heartbeat(3, 2000)).status.ok());

  // Assignment inconsistencies.
  mdpb::MetadataCommand c = CreateTopic("t", 2, 2, 2);
  c.mutable_create_topic()->mutable_assignment()->RemoveLast();
  ExpectRejected(s, c, absl::StatusCode::kInvalidArgument,
                 "replica assignment has 1 partitions, want 2");
  c = CreateTopic("t", 2, 2, 2);
  c.mutable_create_topic()->mutable_assignment(1)->set_partition(0);
  ExpectRejected(s, c, absl::StatusCode::kInvalidArgument, "names partition 0 twice");
  c = CreateTopic("t", 2, 2, 2);
  c.mutable_create_topic()->mutable_assignment(1)->set_partition(5);
  ExpectRejected(s, c, absl::StatusCode::kInvalidArgument, "partition 5, outside 0..1");
  c = CreateTopic("t", 2, 2, 2);
  c.mutable_create_topic()->mutable_assignment(0)->add_replicas(3);
  ExpectRejected(s, c, absl::StatusCode::kInvalidArgument,
                 "partition 0 has 3 replicas, replication factor is 2");
  c = CreateTopic("t", 2, 2, 2);
  c.mutable_create_topic()->mutable_assignment(0)->set_replicas(1, 1);
  c.mutable_create_topic()->mutable_assignment(0)->set_replicas(0, 1);
  ExpectRejected(s, c, absl::StatusCode::kInvalidArgument, "partition 0 lists broker 1 twice");
  c = CreateTopic("t", 2, 2, 2);
  c.mutable_create_topic()->mutable_assignment(1)->set_replicas(0, 42);
  ExpectRejected(s, c, absl::StatusCode::kInvalidArgument,
                 "partition 1 is assigned to broker 42, which is not registered");

  // Configs.
  ExpectRejected(s, CreateTopic("t", 1, 1, 2, {{"compression.type", "lz4"}}),
                 absl::StatusCode::kInvalidArgument,
                 "unknown topic config key \"compression.type\"");
  ExpectRejected(s, CreateTopic("t", 1, 1, 2, {{"segment.bytes", "1000"}}),
                 absl::StatusCode::kInvalidArgument,
                 "segment.bytes=1000 is out of range: must be >= 1048576");

  // After all that, only "orders" exists.
  auto topics = s.sm->ListTopics();
  ASSERT_TRUE(topics.ok());
  EXPECT_EQ(topics->size(), 1u);
}

TEST(MetadataStateMachineTest, ConfigValidation) {
  EXPECT_TRUE(ValidateTopicConfig("retention.ms", "-1").ok());
  EXPECT_TRUE(ValidateTopicConfig("retention.ms", "0").ok());
  EXPECT_TRUE(ValidateTopicConfig("retention.bytes", "9223372036854775807").ok());
  EXPECT_TRUE(ValidateTopicConfig("segment.bytes", "1048576").ok());
  EXPECT_TRUE(ValidateTopicConfig("segment.ms", "1").ok());
  EXPECT_TRUE(ValidateTopicConfig("cleanup.policy", "delete").ok());
  EXPECT_TRUE(ValidateTopicConfig("cleanup.policy", "compact").ok());
  EXPECT_TRUE(ValidateTopicConfig("max.message.bytes", "1").ok());
  EXPECT_TRUE(ValidateTopicConfig("max.message.bytes", "67108864").ok());

  auto msg = [](absl::string_view k, absl::string_view v) {
    absl::Status st = ValidateTopicConfig(k, v);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << k << "=" << v;
    return std::string(st.message());
  };
  EXPECT_THAT(msg("retention.ms", "-2"), HasSubstr("-1 (unlimited) or >= 0"));
  EXPECT_THAT(msg("retention.bytes", "-2"), HasSubstr("-1 (unlimited) or >= 0"));
  EXPECT_THAT(msg("segment.bytes", "1048575"), HasSubstr(">= 1048576"));
  EXPECT_THAT(msg("segment.ms", "0"), HasSubstr(">= 1"));
  EXPECT_THAT(msg("max.message.bytes", "0"), HasSubstr("1..67108864"));
  EXPECT_THAT(msg("max.message.bytes", "67108865"), HasSubstr("1..67108864"));
  EXPECT_THAT(msg("cleanup.policy", "compact,delete"), HasSubstr("must be delete or compact"));
  EXPECT_THAT(msg("retention.ms", " 5"), HasSubstr("not a decimal integer"));
  EXPECT_THAT(msg("retention.ms", "+5"), HasSubstr("not a decimal integer"));
  EXPECT_THAT(msg("retention.ms", "5ms"), HasSubstr("not a decimal integer"));
  EXPECT_THAT(msg("retention.ms", ""), HasSubstr("not a decimal integer"));
  EXPECT_THAT(msg("retention.ms", "9223372036854775808"), HasSubstr("not a decimal integer"));
  EXPECT_THAT(msg("flush.ms", "5"), HasSubstr("unknown topic config key \"flush.ms\""));
}

TEST(MetadataStateMachineTest, DeleteTopicAndItsOffsets) {
  Store s;
  s.RegisterBrokers(3);
  ASSERT_TRUE(s.Apply(CreateTopic("orders", 2, 1, 1)).status.ok());
  ASSERT_TRUE(s.Apply(CreateTopic("orders2", 1, 1, 2)).status.ok());
  ASSERT_TRUE(
      s.Apply(Commit("g", {{"orders", 0, 10}, {"orders", 1, 11}, {"orders2", 0, 12}})).status.ok());
  ExpectRejected(s, DeleteTopic("nope"), absl::StatusCode::kNotFound,
                 "delete: unknown topic \"nope\"");
  ASSERT_TRUE(s.Apply(DeleteTopic("orders")).status.ok());
  EXPECT_EQ(s.sm->GetTopic("orders").status().code(), absl::StatusCode::kNotFound);
  auto offsets = s.sm->GetCommittedOffsets("g");
  ASSERT_TRUE(offsets.ok());
  ASSERT_EQ(offsets->size(), 1u);
  EXPECT_EQ((*offsets)[0].topic(), "orders2");
  // Its id and name are free again.
  EXPECT_TRUE(s.Apply(CreateTopic("orders", 1, 1, 1)).status.ok());
}

TEST(MetadataStateMachineTest, AlterTopicConfig) {
  Store s;
  s.RegisterBrokers(1);
  ASSERT_TRUE(
      s.Apply(CreateTopic("t", 1, 1, 1, {{"retention.ms", "1000"}, {"segment.ms", "50"}}, {1}))
          .status.ok());
  ApplyResult r = s.Apply(AlterConfig("t", {{"retention.bytes", "4096"}}, {"segment.ms"}));
  ASSERT_TRUE(r.status.ok()) << r.status;
  auto t = s.sm->GetTopic("t");
  ASSERT_TRUE(t.ok());
  std::map<std::string, std::string> configs(t->configs().begin(), t->configs().end());
  EXPECT_EQ(configs, (std::map<std::string, std::string>{{"retention.bytes", "4096"},
                                                         {"retention.ms", "1000"}}));
  EXPECT_EQ(EffectiveTopicConfigs(*t)["segment.ms"], "604800000");

  ExpectRejected(s, AlterConfig("nope", {}), absl::StatusCode::kNotFound,
                 "alter config: unknown topic \"nope\"");
  ExpectRejected(s, AlterConfig("t", {{"bogus", "1"}}), absl::StatusCode::kInvalidArgument,
                 "unknown topic config key \"bogus\"");
  ExpectRejected(s, AlterConfig("t", {}, {"bogus"}), absl::StatusCode::kInvalidArgument,
                 "unknown topic config key \"bogus\"");
  ExpectRejected(s, AlterConfig("t", {{"segment.ms", "0"}}), absl::StatusCode::kInvalidArgument,
                 "segment.ms=0 is out of range");
  ExpectRejected(s, AlterConfig("t", {{"segment.ms", "5"}}, {"segment.ms"}),
                 absl::StatusCode::kInvalidArgument, "both set and deleted");
}

TEST(MetadataStateMachineTest, CreatePartitions) {
  Store s;
  s.RegisterBrokers(3);
  ASSERT_TRUE(s.Apply(CreateTopic("t", 2, 2, 1)).status.ok());
  ExpectRejected(s, AddPartitions("nope", 2, 4, 2), absl::StatusCode::kNotFound,
                 "create partitions: unknown topic \"nope\"");
  ExpectRejected(s, AddPartitions("t", 2, 2, 2), absl::StatusCode::kInvalidArgument,
                 "new partition count 2 must be greater than the current 2");
  ExpectRejected(s, AddPartitions("t", 2, 1, 2), absl::StatusCode::kInvalidArgument,
                 "new partition count 1 must be greater");
  ExpectRejected(s, AddPartitions("t", 2, 4, 3), absl::StatusCode::kInvalidArgument,
                 "partition 2 has 3 replicas, replication factor is 2");
  mdpb::MetadataCommand c = AddPartitions("t", 2, 4, 2);
  c.mutable_create_partitions()->mutable_assignment(0)->set_partition(1);
  ExpectRejected(s, c, absl::StatusCode::kInvalidArgument, "partition 1, outside 2..3");

  ApplyResult r = s.Apply(AddPartitions("t", 2, 4, 2));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_TRUE(r.topic.has_value());
  EXPECT_EQ(r.topic->partition_count(), 4);
  ASSERT_EQ(r.topic->partitions_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.topic->partitions(i).partition(), i);
    EXPECT_EQ(r.topic->partitions(i).group_id(), static_cast<uint64_t>(i + 1));
  }
}

TEST(MetadataStateMachineTest, CommitOffsets) {
  Store s;
  s.RegisterBrokers(3);
  ASSERT_TRUE(s.Apply(CreateTopic("b", 2, 1, 1)).status.ok());
  ASSERT_TRUE(s.Apply(CreateTopic("a", 1, 1, 2)).status.ok());
  ASSERT_TRUE(
      s.Apply(Commit("billing", {{"b", 1, 7, "m1"}, {"a", 0, 3}, {"b", 0, 5}}, 42, 3)).status.ok());
  ASSERT_TRUE(s.Apply(Commit("other", {{"a", 0, 100}})).status.ok());
  ASSERT_TRUE(s.Apply(Commit("billing", {{"b", 1, 9}})).status.ok());

  auto offsets = s.sm->GetCommittedOffsets("billing");
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  ASSERT_EQ(offsets->size(), 3u);
  EXPECT_EQ((*offsets)[0].topic(), "a");
  EXPECT_EQ((*offsets)[0].offset(), 3);
  EXPECT_EQ((*offsets)[1].topic(), "b");
  EXPECT_EQ((*offsets)[1].partition(), 0);
  EXPECT_EQ((*offsets)[1].offset(), 5);
  EXPECT_EQ((*offsets)[1].commit_time_ms(), 42);
  EXPECT_EQ((*offsets)[1].generation(), 3);
  EXPECT_EQ((*offsets)[2].partition(), 1);
  EXPECT_EQ((*offsets)[2].offset(), 9);
  EXPECT_EQ((*offsets)[2].metadata(), "");
  auto none = s.sm->GetCommittedOffsets("unknown-group");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(s.sm->GetCommittedOffsets("").status().code(), absl::StatusCode::kInvalidArgument);

  ExpectRejected(s, Commit("", {{"a", 0, 1}}), absl::StatusCode::kInvalidArgument,
                 "consumer group id is empty");
  ExpectRejected(s, Commit(std::string("g\0h", 3), {{"a", 0, 1}}),
                 absl::StatusCode::kInvalidArgument, "NUL");
  ExpectRejected(s, Commit(std::string(256, 'g'), {{"a", 0, 1}}),
                 absl::StatusCode::kInvalidArgument, "at most 255");
  ExpectRejected(s, Commit("g", {}), absl::StatusCode::kInvalidArgument, "has no entries");
  ExpectRejected(s, Commit("g", {{"a", 0, 1}}, -1), absl::StatusCode::kInvalidArgument,
                 "time_ms -1 < 0");
  ExpectRejected(s, Commit("g", {{"zz", 0, 1}}), absl::StatusCode::kNotFound,
                 "offset commit: unknown topic \"zz\"");
  ExpectRejected(s, Commit("g", {{"a", 1, 1}}), absl::StatusCode::kNotFound,
                 "topic \"a\" has no partition 1 (it has 1)");
  ExpectRejected(s, Commit("g", {{"a", -1, 1}}), absl::StatusCode::kNotFound, "no partition -1");
  // All or nothing: a bad entry after a good one rejects both.
  ExpectRejected(s, Commit("g", {{"b", 0, 1}, {"a", 0, -1}}), absl::StatusCode::kInvalidArgument,
                 "offset -1 for a-0 is negative");
  ExpectRejected(s, Commit("g", {{"a", 0, 1}, {"a", 0, 2}}), absl::StatusCode::kInvalidArgument,
                 "a-0 appears twice");
  ExpectRejected(s, Commit("g", {{"a", 0, 1, std::string(4097, 'm')}}),
                 absl::StatusCode::kInvalidArgument, "4097 bytes, at most 4096");
}

std::vector<std::string> GroupIds(const std::vector<CommittedGroup>& groups) {
  std::vector<std::string> ids;
  for (const CommittedGroup& g : groups) ids.push_back(g.group);
  return ids;
}

TEST(MetadataStateMachineTest, DeleteGroupOffsetsRemovesOnlyThatGroupAndIsIdempotent) {
  Store s;
  s.RegisterBrokers(3);
  ASSERT_TRUE(s.Apply(CreateTopic("a", 2, 1, 1)).status.ok());
  ASSERT_TRUE(s.Apply(CreateTopic("b", 1, 1, 2)).status.ok());
  ASSERT_TRUE(s.Apply(Commit("billing", {{"a", 0, 1}, {"a", 1, 2}}, 10, 4)).status.ok());
  ASSERT_TRUE(s.Apply(Commit("billing", {{"b", 0, 3}}, 20, 6)).status.ok());
  // "billing2" shares a prefix with "billing" but not the key prefix (\0).
  ASSERT_TRUE(s.Apply(Commit("billing2", {{"a", 0, 5}}, 30, -1)).status.ok());
  ASSERT_TRUE(s.Apply(Commit("audit", {{"b", 0, 9}}, 40, 2)).status.ok());

  auto listed = s.sm->ListCommittedGroups();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(GroupIds(*listed), ElementsAre("audit", "billing", "billing2"));
  EXPECT_EQ((*listed)[1].partitions, 3);
  EXPECT_EQ((*listed)[1].max_generation, 6);
  EXPECT_EQ((*listed)[1].last_commit_time_ms, 20);
  EXPECT_EQ((*listed)[2].max_generation, -1);  // simple-consumer commits only

  ApplyResult r = s.Apply(DeleteGroupOffsets("billing"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_TRUE(r.deleted_offsets.has_value());
  EXPECT_EQ(*r.deleted_offsets, 3);
  auto offsets = s.sm->GetCommittedOffsets("billing");
  ASSERT_TRUE(offsets.ok());
  EXPECT_TRUE(offsets->empty());
  offsets = s.sm->GetCommittedOffsets("billing2");
  ASSERT_TRUE(offsets.ok());
  ASSERT_EQ(offsets->size(), 1u);
  EXPECT_EQ((*offsets)[0].offset(), 5);
  listed = s.sm->ListCommittedGroups();
  ASSERT_TRUE(listed.ok());
  EXPECT_THAT(GroupIds(*listed), ElementsAre("audit", "billing2"));

  // Again, and for a group that never committed: no-ops, not rejections;
  // only the applied index moves.
  const auto before = s.StateContent();
  r = s.Apply(DeleteGroupOffsets("billing"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.deleted_offsets, std::optional<int64_t>(0));
  r = s.Apply(DeleteGroupOffsets("never"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.deleted_offsets, std::optional<int64_t>(0));
  EXPECT_EQ(WithoutAppliedIndex(s.StateContent()), WithoutAppliedIndex(before));

  ExpectRejected(s, DeleteGroupOffsets(""), absl::StatusCode::kInvalidArgument,
                 "consumer group id is empty");
  ExpectRejected(s, DeleteGroupOffsets(std::string("bill\0ing", 8)),
                 absl::StatusCode::kInvalidArgument, "NUL");

  // The group can commit again afterwards; it starts from nothing.
  ASSERT_TRUE(s.Apply(Commit("billing", {{"a", 1, 7}}, 50, 1)).status.ok());
  offsets = s.sm->GetCommittedOffsets("billing");
  ASSERT_TRUE(offsets.ok());
  ASSERT_EQ(offsets->size(), 1u);
  EXPECT_EQ((*offsets)[0].partition(), 1);
  EXPECT_EQ((*offsets)[0].offset(), 7);
}

TEST(MetadataStateMachineTest, DeletedGroupOffsetsStayDeletedThroughASnapshot) {
  Store source;
  source.RegisterBrokers(1);
  ASSERT_TRUE(source.Apply(CreateTopic("t", 2, 1, 1, {}, {1})).status.ok());
  ASSERT_TRUE(source.Apply(Commit("keep", {{"t", 0, 1}})).status.ok());
  ASSERT_TRUE(source.Apply(Commit("drop", {{"t", 0, 2}, {"t", 1, 3}})).status.ok());
  ASSERT_TRUE(source.Apply(DeleteGroupOffsets("drop")).status.ok());
  auto snap = source.sm->Snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();

  // A replica that still holds "drop"'s offsets (it is behind) restores.
  Store behind;
  behind.RegisterBrokers(1);
  ASSERT_TRUE(behind.Apply(CreateTopic("t", 2, 1, 1, {}, {1})).status.ok());
  ASSERT_TRUE(behind.Apply(Commit("keep", {{"t", 0, 1}})).status.ok());
  ASSERT_TRUE(behind.Apply(Commit("drop", {{"t", 0, 2}, {"t", 1, 3}})).status.ok());
  ASSERT_TRUE(behind.sm->Restore(*snap).ok());
  EXPECT_EQ(behind.StateContent(), source.StateContent());
  auto offsets = behind.sm->GetCommittedOffsets("drop");
  ASSERT_TRUE(offsets.ok());
  EXPECT_TRUE(offsets->empty());
  auto listed = behind.sm->ListCommittedGroups();
  ASSERT_TRUE(listed.ok());
  EXPECT_THAT(GroupIds(*listed), ElementsAre("keep"));
}

TEST(MetadataStateMachineTest, ProducerIdBlocksNeverOverlap) {
  Store s;
  ExpectRejected(s, AllocPids(0), absl::StatusCode::kInvalidArgument, "got 0");
  ExpectRejected(s, AllocPids(-3), absl::StatusCode::kInvalidArgument, "got -3");
  ExpectRejected(s, AllocPids(kMaxProducerIdBlock + 1), absl::StatusCode::kInvalidArgument,
                 "must be in 1..");
  std::vector<std::pair<int64_t, int64_t>> blocks;
  for (int32_t count : {1, 1000, 7, 1000, 1}) {
    ApplyResult r = s.Apply(AllocPids(count));
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.producer_ids.has_value());
    EXPECT_EQ(r.producer_ids->count(), count);
    blocks.emplace_back(r.producer_ids->first(), r.producer_ids->first() + count);
  }
  // Survives a reopen: the next block starts after every earlier one.
  s.Reopen();
  ApplyResult r = s.Apply(AllocPids(5));
  ASSERT_TRUE(r.producer_ids.has_value());
  blocks.emplace_back(r.producer_ids->first(), r.producer_ids->first() + 5);
  EXPECT_EQ(blocks.front().first, 0);
  for (size_t i = 0; i < blocks.size(); ++i) {
    for (size_t j = i + 1; j < blocks.size(); ++j) {
      const bool disjoint =
          blocks[i].second <= blocks[j].first || blocks[j].second <= blocks[i].first;
      EXPECT_TRUE(disjoint) << i << " and " << j;
    }
  }
}

TEST(MetadataStateMachineTest, AlreadyAppliedIndexIsSkipped) {
  Store s;
  ASSERT_TRUE(s.sm->Apply(LogIndex(5), Encode(AllocPids(10))).ok());
  auto before = s.StateContent();
  absl::StatusOr<ApplyResult> r = s.sm->Apply(LogIndex(5), Encode(AllocPids(10)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->already_applied);
  r = s.sm->Apply(LogIndex(3), Encode(AllocPids(10)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->already_applied);
  EXPECT_EQ(s.StateContent(), before);
  EXPECT_EQ(s.sm->applied_index(), LogIndex(5));
}

TEST(MetadataStateMachineTest, AppliedIndexPersistsWithTheChange) {
  Store s;
  s.RegisterBrokers(3);
  ASSERT_TRUE(s.Apply(CreateTopic("orders", 3, 3)).status.ok());
  ExpectRejected(s, CreateTopic("orders", 3, 3), absl::StatusCode::kAlreadyExists, "exists");
  const LogIndex applied = s.sm->applied_index();
  EXPECT_EQ(applied, LogIndex(5));
  auto before = s.StateContent();
  s.Reopen();
  EXPECT_EQ(s.sm->applied_index(), applied);
  EXPECT_EQ(s.StateContent(), before);
  auto t = s.sm->GetTopic("orders");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->created_index(), 4u);
}

// Forwards to the store's database (not owned), recording every WriteBatch's
// put keys, and failing writes on demand as a crash before the write would.
class RecordingDb : public rocksdb::StackableDB {
 public:
  explicit RecordingDb(rocksdb::DB* db)
      : rocksdb::StackableDB(std::shared_ptr<rocksdb::DB>(db, [](rocksdb::DB*) {})) {}

  rocksdb::Status Write(const rocksdb::WriteOptions& opts, rocksdb::WriteBatch* batch) override {
    struct Keys : rocksdb::WriteBatch::Handler {
      std::vector<std::string> keys;
      rocksdb::Status PutCF(uint32_t, const rocksdb::Slice& key, const rocksdb::Slice&) override {
        keys.push_back(key.ToString());
        return rocksdb::Status::OK();
      }
    } handler;
    EXPECT_TRUE(batch->Iterate(&handler).ok());
    writes.push_back(std::move(handler.keys));
    if (fail_writes) return rocksdb::Status::IOError("injected write failure");
    return rocksdb::StackableDB::Write(opts, batch);
  }

  std::vector<std::vector<std::string>> writes;
  bool fail_writes = false;
};

TEST(MetadataStateMachineTest, ChangeAndAppliedIndexGoInOneWriteBatch) {
  Store s;
  RecordingDb db(s.storage->db());
  auto opened = MetadataStateMachine::Open(&db, s.storage->state_cf());
  ASSERT_TRUE(opened.ok());
  MetadataStateMachine& sm = **opened;
  ASSERT_TRUE(sm.Apply(LogIndex(1), Encode(Register(1))).ok());
  ASSERT_TRUE(sm.Apply(LogIndex(2), Encode(CreateTopic("orders", 2, 1, 1, {}, {1}))).ok());
  ASSERT_EQ(db.writes.size(), 2u);
  EXPECT_THAT(db.writes[1],
              ::testing::UnorderedElementsAre("topic/orders", "counters",
                                              ::testing::StartsWith("topic_id/"), "applied_index"));
  // A failed write (as if the process died before it) leaves neither the
  // change nor the applied index behind.
  auto before = s.StateContent();
  db.fail_writes = true;
  absl::StatusOr<ApplyResult> r =
      sm.Apply(LogIndex(3), Encode(CreateTopic("t2", 1, 1, 2, {}, {1})));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("injected write failure"));
  EXPECT_EQ(sm.applied_index(), LogIndex(2));
  EXPECT_EQ(s.StateContent(), before);
  db.fail_writes = false;
  // The host retries the same entry after the failure is resolved.
  r = sm.Apply(LogIndex(3), Encode(CreateTopic("t2", 1, 1, 2, {}, {1})));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->status.ok()) << r->status;
  EXPECT_EQ(sm.applied_index(), LogIndex(3));
}

// Drives a fixed mixed sequence of commands (including rejected ones).
void ApplyScript(Store& s) {
  s.RegisterBrokers(3);
  s.Apply(CreateTopic(
      "orders", 6, 3, 1,
      {{"retention.ms", "1000"}, {"cleanup.policy", "compact"}, {"segment.bytes", "2097152"}}));
  s.Apply(CreateTopic("audit", 2, 2, 2));
  s.Apply(CreateTopic("orders", 1, 1, 3));  // rejected: exists
  s.Apply(Heartbeat(2, 1500));
  s.Apply(Commit("billing", {{"orders", 0, 10, "x"}, {"orders", 5, 3}}));
  s.Apply(AllocPids(1000));
  s.Apply(AddPartitions("audit", 2, 5, 2));
  s.Apply(AlterConfig("orders", {{"max.message.bytes", "2048"}}, {"retention.ms"}));
  s.Apply(Fence(3));
  s.Apply(CreateTopic("tmp", 1, 1, 4));
  s.Apply(Commit("billing", {{"tmp", 0, 1}}));
  s.Apply(DeleteTopic("tmp"));
  s.Apply(AllocPids(5));
  s.Apply(Commit("gone", {{"orders", 1, 4}, {"audit", 3, 2}}));
  s.Apply(DeleteGroupOffsets("gone"));
  s.Apply(Register(4, 3000));
}

TEST(MetadataStateMachineTest, ApplyIsDeterministic) {
  Store a;
  Store b;
  ApplyScript(a);
  ApplyScript(b);
  auto ca = a.StateContent();
  auto cb = b.StateContent();
  EXPECT_GT(ca.size(), 8u);
  EXPECT_EQ(ca, cb);
  // And the snapshots, which serialize the whole family, are identical bytes.
  auto sa = a.sm->Snapshot();
  auto sb = b.sm->Snapshot();
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_EQ(*sa, *sb);
}

TEST(MetadataStateMachineTest, SnapshotThenRestoreEqualsReplay) {
  Store replayed;
  ApplyScript(replayed);
  auto snap = replayed.sm->Snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  auto idx = MetadataStateMachine::SnapshotAppliedIndex(*snap);
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(*idx, replayed.sm->applied_index());

  // The target has a different, partly overlapping history that must vanish.
  Store restored;
  restored.RegisterBrokers(1);
  restored.Apply(CreateTopic("zzz", 1, 1, 9, {}, {1}));
  restored.Apply(Commit("zgroup", {{"zzz", 0, 1}}));
  ASSERT_TRUE(restored.sm->Restore(*snap).ok());
  EXPECT_EQ(restored.sm->applied_index(), replayed.sm->applied_index());
  EXPECT_EQ(restored.StateContent(), replayed.StateContent());

  // It survives a reopen, and both continue identically.
  restored.Reopen();
  EXPECT_EQ(restored.sm->applied_index(), replayed.sm->applied_index());
  ApplyResult ra = restored.Apply(AllocPids(3));
  ApplyResult rb = replayed.Apply(AllocPids(3));
  ASSERT_TRUE(ra.producer_ids.has_value() && rb.producer_ids.has_value());
  EXPECT_EQ(ra.producer_ids->first(), rb.producer_ids->first());
  EXPECT_EQ(restored.StateContent(), replayed.StateContent());

  // Restoring into an empty store; and an empty store's snapshot empties one.
  Store empty;
  auto empty_snap = empty.sm->Snapshot();
  ASSERT_TRUE(empty_snap.ok());
  ASSERT_TRUE(restored.sm->Restore(*empty_snap).ok());
  EXPECT_TRUE(restored.StateContent().empty());
  EXPECT_EQ(restored.sm->applied_index(), LogIndex(0));
}

TEST(MetadataStateMachineTest, SnapshotCoveringRefusesAnIndexNotYetApplied) {
  Store s;
  s.RegisterBrokers(3);
  auto ok = s.sm->SnapshotCovering(LogIndex(3));
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto idx = MetadataStateMachine::SnapshotAppliedIndex(*ok);
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(*idx, LogIndex(3));
  EXPECT_EQ(s.sm->SnapshotCovering(LogIndex(4)).status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetadataStateMachineTest, CorruptedSnapshotIsDataLossAndChangesNothing) {
  Store source;
  ApplyScript(source);
  auto snap = source.sm->Snapshot();
  ASSERT_TRUE(snap.ok());

  Store target;
  target.RegisterBrokers(2);
  auto before = target.StateContent();
  const LogIndex applied = target.sm->applied_index();
  // Flip one bit at many positions (header, entries, checksum), truncate, extend.
  std::vector<std::string> damaged;
  for (size_t pos = 0; pos < snap->size(); pos += std::max<size_t>(1, snap->size() / 97)) {
    std::string d = *snap;
    d[pos] = static_cast<char>(d[pos] ^ 0x10);
    damaged.push_back(std::move(d));
  }
  damaged.push_back(snap->substr(0, snap->size() - 1));
  damaged.push_back(snap->substr(0, 10));
  damaged.push_back("");
  damaged.push_back(*snap + "x");
  for (const std::string& d : damaged) {
    absl::Status st = target.sm->Restore(d);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_FALSE(MetadataStateMachine::SnapshotAppliedIndex(d).ok());
  }
  EXPECT_THAT(std::string(target.sm->Restore(damaged[damaged.size() / 2]).message()),
              HasSubstr("checksum mismatch"));
  EXPECT_EQ(target.StateContent(), before);
  EXPECT_EQ(target.sm->applied_index(), applied);
}

TEST(MetadataStateMachineTest, ReplicaCountsByBroker) {
  Store s;
  s.RegisterBrokers(4);
  ASSERT_TRUE(s.Apply(CreateTopic("t", 3, 2, 1)).status.ok());  // over brokers 1..3
  auto counts = s.sm->ReplicaCountsByBroker();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (std::map<uint64_t, int64_t>{{1, 2}, {2, 2}, {3, 2}, {4, 0}}));
}

// Replicas and preferred leaders per broker.
std::pair<std::map<uint64_t, int>, std::map<uint64_t, int>> Loads(
    const std::vector<mdpb::PartitionAssignment>& a) {
  std::map<uint64_t, int> replicas;
  std::map<uint64_t, int> leaders;
  for (const auto& p : a) {
    ++leaders[p.replicas(0)];
    for (uint64_t r : p.replicas()) ++replicas[r];
  }
  return {replicas, leaders};
}

TEST(AssignReplicasTest, SixPartitionsRf3OverThreeBrokersIsBalanced) {
  auto a = AssignReplicas(6, 3, {1, 2, 3});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 6u);
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].partition(), static_cast<int32_t>(i));
    std::set<uint64_t> distinct((*a)[i].replicas().begin(), (*a)[i].replicas().end());
    EXPECT_EQ(distinct.size(), 3u);
  }
  auto [replicas, leaders] = Loads(*a);
  EXPECT_EQ(replicas, (std::map<uint64_t, int>{{1, 6}, {2, 6}, {3, 6}}));
  EXPECT_EQ(leaders, (std::map<uint64_t, int>{{1, 2}, {2, 2}, {3, 2}}));
  // Deterministic.
  auto again = AssignReplicas(6, 3, {3, 1, 2});
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_THAT((*again)[i].replicas(),
                ::testing::ElementsAreArray((*a)[i].replicas().begin(), (*a)[i].replicas().end()));
  }
}

TEST(AssignReplicasTest, BalancedOnMoreBrokersThanReplicas) {
  auto a = AssignReplicas(10, 3, {1, 2, 3, 4, 5});
  ASSERT_TRUE(a.ok());
  auto [replicas, leaders] = Loads(*a);
  for (uint64_t b = 1; b <= 5; ++b) {
    EXPECT_EQ(replicas[b], 6) << b;
    EXPECT_EQ(leaders[b], 2) << b;
  }
  for (const auto& p : *a) {
    std::set<uint64_t> distinct(p.replicas().begin(), p.replicas().end());
    EXPECT_EQ(distinct.size(), 3u);
  }
}

TEST(AssignReplicasTest, LeastLoadedBrokersGoFirst) {
  auto a = AssignReplicas(1, 2, {1, 2, 3}, {{1, 10}, {2, 0}, {3, 4}});
  ASSERT_TRUE(a.ok());
  EXPECT_THAT((*a)[0].replicas(), ElementsAre(2u, 3u));
  auto b = AssignReplicas(2, 1, {1, 2, 3}, {}, /*first_partition=*/4);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)[0].partition(), 4);
  EXPECT_EQ((*b)[1].partition(), 5);
}

TEST(AssignReplicasTest, Errors) {
  EXPECT_THAT(std::string(AssignReplicas(0, 1, {1}).status().message()),
              HasSubstr("partitions must be >= 1"));
  EXPECT_THAT(std::string(AssignReplicas(1, 0, {1}).status().message()),
              HasSubstr("replication factor must be >= 1"));
  EXPECT_THAT(std::string(AssignReplicas(1, 3, {1, 2}).status().message()),
              HasSubstr("replication factor 3 exceeds the 2 live brokers"));
  EXPECT_THAT(std::string(AssignReplicas(1, 1, {1, 1}).status().message()),
              HasSubstr("broker 1 listed twice"));
  EXPECT_THAT(std::string(AssignReplicas(1, 1, {0}).status().message()), HasSubstr("broker id 0"));
  EXPECT_FALSE(AssignReplicas(2, 1, {1}, {}, kMaxPartitionsPerTopic - 1).ok());
}

}  // namespace
}  // namespace raftlog::broker
