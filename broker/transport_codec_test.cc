// Tests of the transport codec: exact round trips of every raft::Message
// field for every type, compact heartbeat records, batch cutting and per-group
// order, and refusal of malformed batches.
#include "broker/transport_codec.h"

#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Term;
using ::testing::HasSubstr;

constexpr NodeId kFrom(3);
constexpr NodeId kTo(7);
const BatchHeader kHeader{"cluster-a", kFrom, kTo};

constexpr MessageType kAllTypes[] = {
    MessageType::kVote,          MessageType::kVoteResp,      MessageType::kPreVote,
    MessageType::kPreVoteResp,   MessageType::kApp,           MessageType::kAppResp,
    MessageType::kHeartbeat,     MessageType::kHeartbeatResp, MessageType::kSnapshot,
    MessageType::kSnapshotResp,  MessageType::kTimeoutNow,    MessageType::kReadIndex,
    MessageType::kReadIndexResp,
};

// Every field set, each to a distinct value.
Message FullMessage(MessageType type) {
  Message m;
  m.type = type;
  m.from = kFrom;
  m.to = kTo;
  m.term = Term(11);
  m.log_term = Term(12);
  m.index = LogIndex(13);
  m.entries = {Entry{Term(14), LogIndex(15), EntryType::kNormal, "normal"},
               Entry{Term(16), LogIndex(17), EntryType::kNoop, ""},
               Entry{Term(18), LogIndex(19), EntryType::kConfChange, std::string("c\0c", 3)}};
  m.commit = LogIndex(20);
  m.reject = true;
  m.reject_hint = LogIndex(21);
  m.reject_hint_term = Term(22);
  m.snapshot.index = LogIndex(23);
  m.snapshot.term = Term(24);
  m.snapshot.conf_state.voters = {NodeId(25), NodeId(26)};
  m.snapshot.conf_state.learners = {NodeId(27)};
  m.snapshot_offset = 28;
  m.snapshot_total_size = 29;
  m.snapshot_data = std::string("snap\0data", 9);
  m.snapshot_done = true;
  m.context = "ctx-30";
  m.read_seq = 31;
  m.leader_transfer = true;
  return m;
}

std::vector<GroupMessage> RoundTrip(const std::vector<GroupMessage>& in,
                                    uint64_t max_batch_bytes = 1 << 20) {
  std::vector<GroupMessage> out;
  for (const transport_pb::MessageBatch& b : BuildBatches(kHeader, in, max_batch_bytes)) {
    // Through the wire bytes, as the peer sees them.
    transport_pb::MessageBatch parsed;
    EXPECT_TRUE(parsed.ParseFromString(b.SerializeAsString()));
    absl::StatusOr<std::vector<GroupMessage>> decoded = DecodeBatch(parsed);
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    if (!decoded.ok()) continue;
    for (GroupMessage& gm : *decoded) out.push_back(std::move(gm));
  }
  return out;
}

void ExpectSame(const std::vector<GroupMessage>& want, const std::vector<GroupMessage>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].group, got[i].group) << i;
    EXPECT_EQ(want[i].message, got[i].message)
        << i << ": want " << raft::DebugString(want[i].message) << " got "
        << raft::DebugString(got[i].message);
  }
}

TEST(TransportCodecTest, EveryFieldOfEveryTypeRoundTrips) {
  for (MessageType type : kAllTypes) {
    SCOPED_TRACE(std::string(raft::MessageTypeName(type)));
    const std::vector<GroupMessage> in = {GroupMessage{42, FullMessage(type)}};
    const auto batches = BuildBatches(kHeader, in, 1 << 20);
    ASSERT_EQ(batches.size(), 1u);
    // Extra fields on a heartbeat force the full record.
    EXPECT_EQ(batches[0].messages_size(), 1);
    EXPECT_EQ(batches[0].cluster_id(), "cluster-a");
    EXPECT_EQ(batches[0].from_node(), kFrom.value());
    EXPECT_EQ(batches[0].to_node(), kTo.value());
    ExpectSame(in, RoundTrip(in));
  }
}

TEST(TransportCodecTest, DefaultMessagesRoundTrip) {
  std::vector<GroupMessage> in;
  for (MessageType type : kAllTypes) {
    Message m;
    m.type = type;
    m.from = kFrom;
    m.to = kTo;
    in.push_back(GroupMessage{0, m});
  }
  ExpectSame(in, RoundTrip(in));
}

TEST(TransportCodecTest, CoreHeartbeatsUseCompactRecords) {
  Message hb;
  hb.type = MessageType::kHeartbeat;
  hb.from = kFrom;
  hb.to = kTo;
  hb.term = Term(5);
  hb.commit = LogIndex(9);
  hb.read_seq = 77;
  Message resp;
  resp.type = MessageType::kHeartbeatResp;
  resp.from = kFrom;
  resp.to = kTo;
  resp.term = Term(5);
  resp.read_seq = 78;
  const std::vector<GroupMessage> in = {{1, hb}, {2, resp}};
  const auto batches = BuildBatches(kHeader, in, 1 << 20);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].messages_size(), 0);
  EXPECT_EQ(batches[0].heartbeats_size(), 1);
  EXPECT_EQ(batches[0].heartbeat_responses_size(), 1);
  ExpectSame(in, RoundTrip(in));

  // A response carrying a commit does not fit the compact record.
  resp.commit = LogIndex(3);
  EXPECT_FALSE(FitsCompactRecord(resp));
  const std::vector<GroupMessage> in2 = {{2, resp}};
  EXPECT_EQ(BuildBatches(kHeader, in2, 1 << 20)[0].messages_size(), 1);
  ExpectSame(in2, RoundTrip(in2));
}

TEST(TransportCodecTest, ThousandHeartbeatsMakeOneBatch) {
  std::vector<GroupMessage> in;
  for (GroupId g = 0; g < 1000; ++g) {
    Message hb;
    hb.type = MessageType::kHeartbeat;
    hb.from = kFrom;
    hb.to = kTo;
    hb.term = Term(g + 1);
    hb.commit = LogIndex(g * 2);
    in.push_back(GroupMessage{g, hb});
  }
  const auto batches = BuildBatches(kHeader, in, 4 << 20);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].heartbeats_size(), 1000);
  EXPECT_LT(batches[0].ByteSizeLong(), 20u * 1000);
  ExpectSame(in, RoundTrip(in));
}

TEST(TransportCodecTest, BatchesAreCutAtMaxBytesAndLargeMessagesGoAlone) {
  std::vector<GroupMessage> in;
  for (int i = 0; i < 10; ++i) {
    Message m;
    m.type = MessageType::kApp;
    m.from = kFrom;
    m.to = kTo;
    m.index = LogIndex(i);
    m.entries.push_back(Entry{Term(1), LogIndex(i + 1), EntryType::kNormal,
                              std::string(i == 5 ? 10000 : 300, 'x')});
    in.push_back(GroupMessage{static_cast<GroupId>(i % 3), m});
  }
  const uint64_t max_bytes = 1000;
  const auto batches = BuildBatches(kHeader, in, max_bytes);
  int total = 0;
  bool big_alone = false;
  for (const auto& b : batches) {
    uint64_t bytes = 0;
    for (const auto& rm : b.messages()) {
      bytes += rm.entries(0).data().size();
      if (rm.entries(0).data().size() == 10000) big_alone = b.messages_size() == 1;
    }
    if (b.messages_size() > 1) {
      EXPECT_LE(bytes, max_bytes);
    }
    total += BatchMessageCount(b);
  }
  EXPECT_EQ(total, 10);
  EXPECT_TRUE(big_alone);
  EXPECT_GE(batches.size(), 4u);
  ExpectSame(in, RoundTrip(in, max_bytes));
}

TEST(TransportCodecTest, PerGroupOrderSurvivesMixedRecordKinds) {
  // Heartbeat, then an append, then a heartbeat response, then a heartbeat, of
  // one group: the decoded order must be the sent order.
  auto make = [](MessageType type, uint64_t term) {
    Message m;
    m.type = type;
    m.from = kFrom;
    m.to = kTo;
    m.term = Term(term);
    return m;
  };
  const std::vector<GroupMessage> in = {
      {9, make(MessageType::kHeartbeat, 1)}, {8, make(MessageType::kApp, 2)},
      {9, make(MessageType::kApp, 3)},       {9, make(MessageType::kHeartbeatResp, 4)},
      {9, make(MessageType::kHeartbeat, 5)}, {8, make(MessageType::kHeartbeat, 6)},
  };
  const std::vector<GroupMessage> out = RoundTrip(in);
  ASSERT_EQ(out.size(), in.size());
  std::vector<uint64_t> terms_9;
  for (const GroupMessage& gm : out) {
    if (gm.group == 9) terms_9.push_back(gm.message.term.value());
  }
  EXPECT_THAT(terms_9, ::testing::ElementsAre(1, 3, 4, 5));
  std::vector<uint64_t> terms_8;
  for (const GroupMessage& gm : out) {
    if (gm.group == 8) terms_8.push_back(gm.message.term.value());
  }
  EXPECT_THAT(terms_8, ::testing::ElementsAre(2, 6));
}

// The sender's and receiver's moving variants give the very batches and
// messages the copying ones do.
TEST(TransportCodecTest, ConsumingVariantsMatchTheCopyingOnes) {
  std::vector<GroupMessage> in;
  for (int round = 0; round < 3; ++round) {
    for (MessageType type : kAllTypes) {
      in.push_back(GroupMessage{static_cast<GroupId>(round * 100 + 7), FullMessage(type)});
      Message bare;
      bare.type = type;
      bare.from = kFrom;
      bare.to = kTo;
      bare.term = Term(round + 1);
      in.push_back(GroupMessage{static_cast<GroupId>(round), bare});
    }
  }
  for (uint64_t max_batch_bytes : {uint64_t{1} << 20, uint64_t{300}}) {
    SCOPED_TRACE(max_batch_bytes);
    const std::vector<transport_pb::MessageBatch> want = BuildBatches(kHeader, in, max_batch_bytes);
    std::vector<GroupMessage> consumed = in;
    // Nothing deferred: every payload stays in its record.
    std::vector<OutgoingBatch> outgoing =
        BuildOutgoingBatches(kHeader, std::span<GroupMessage>(consumed), max_batch_bytes,
                             std::numeric_limits<size_t>::max());
    std::vector<transport_pb::MessageBatch> got;
    for (OutgoingBatch& o : outgoing) {
      EXPECT_TRUE(o.deferred.empty());
      got.push_back(std::move(o.batch));
    }
    ASSERT_EQ(got.size(), want.size());
    if (max_batch_bytes == 300) {
      EXPECT_GT(got.size(), 1u);
    }
    std::vector<GroupMessage> decoded;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].SerializeAsString(), want[i].SerializeAsString()) << i;
      absl::StatusOr<std::vector<GroupMessage>> copied = DecodeBatch(want[i]);
      absl::StatusOr<std::vector<GroupMessage>> moved = DecodeBatchConsuming(&got[i]);
      ASSERT_TRUE(copied.ok()) << copied.status();
      ASSERT_TRUE(moved.ok()) << moved.status();
      ExpectSame(*copied, *moved);
      for (GroupMessage& gm : *moved) decoded.push_back(std::move(gm));
    }
    // Per group, in the order sent (groups may interleave differently).
    for (GroupId g : {GroupId{0}, GroupId{7}, GroupId{107}}) {
      std::vector<Message> sent, received;
      for (const GroupMessage& gm : in) {
        if (gm.group == g) sent.push_back(gm.message);
      }
      for (const GroupMessage& gm : decoded) {
        if (gm.group == g) received.push_back(gm.message);
      }
      EXPECT_EQ(received, sent) << "group " << g;
    }
  }
}

TEST(TransportCodecTest, UnknownMessageTypeIsRefusedByName) {
  transport_pb::MessageBatch batch;
  batch.set_from_node(2);
  batch.set_to_node(1);
  batch.add_messages()->set_type(0);
  transport_pb::RaftMessage* bad = batch.add_messages();
  bad->set_group(17);
  bad->set_type(99);
  absl::StatusOr<std::vector<GroupMessage>> decoded = DecodeBatch(batch);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("unknown message type 99"));
  EXPECT_THAT(decoded.status().message(), HasSubstr("message 1"));
  EXPECT_THAT(decoded.status().message(), HasSubstr("group 17"));
}

TEST(TransportCodecTest, UnknownEntryTypeIsRefusedByName) {
  transport_pb::MessageBatch batch;
  batch.set_from_node(2);
  batch.set_to_node(1);
  transport_pb::RaftMessage* m = batch.add_messages();
  m->set_type(static_cast<uint32_t>(MessageType::kApp));
  m->add_entries()->set_type(0);
  transport_pb::Entry* e = m->add_entries();
  e->set_index(5);
  e->set_type(7);
  absl::StatusOr<std::vector<GroupMessage>> decoded = DecodeBatch(batch);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("unknown entry type 7"));
  EXPECT_THAT(decoded.status().message(), HasSubstr("entry 1 (index 5)"));
}

TEST(TransportCodecTest, ApproximateSizeGrowsWithPayload) {
  Message small;
  small.type = MessageType::kApp;
  Message big = small;
  big.entries.push_back(Entry{Term(1), LogIndex(1), EntryType::kNormal, std::string(5000, 'y')});
  EXPECT_GE(ApproximateWireSize(big), ApproximateWireSize(small) + 5000);
  Message hb;
  hb.type = MessageType::kHeartbeat;
  EXPECT_LT(ApproximateWireSize(hb), ApproximateWireSize(small));
}

}  // namespace
}  // namespace raftlog::broker
