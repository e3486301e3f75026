// Tests of EncodeMessageBatch: the bytes parse as the same MessageBatch, and
// large payloads are sent from their own memory, not copied.
#include "broker/transport_batch_encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "grpcpp/support/slice.h"
#include "proto/byte_buffer_test_util.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::transport::v1;

pb::Entry* AddEntry(pb::RaftMessage* m, uint64_t index, std::string data) {
  pb::Entry* e = m->add_entries();
  e->set_term(3);
  e->set_index(index);
  e->set_type(index % 2);
  e->set_data(std::move(data));
  return e;
}

// Every kind of record, and entries below, at and above the slice threshold.
pb::MessageBatch MixedBatch() {
  pb::MessageBatch b;
  b.set_cluster_id("cluster-a");
  b.set_from_node(1);
  b.set_to_node(2);
  pb::RaftMessage* app = b.add_messages();
  app->set_group(7);
  app->set_type(1);
  app->set_term(3);
  app->set_log_term(3);
  app->set_index(41);
  app->set_commit(40);
  AddEntry(app, 42, std::string(70000, 'a'));
  AddEntry(app, 43, "");                                    // no payload
  AddEntry(app, 44, std::string(kMinSliceBytes - 1, 'b'));  // just below
  AddEntry(app, 45, std::string(kMinSliceBytes, 'c'));      // just at
  AddEntry(app, 46, std::string(300000, 'd'));
  pb::RaftMessage* small = b.add_messages();  // only small entries
  small->set_group(8);
  small->set_type(1);
  AddEntry(small, 5, "tiny");
  pb::RaftMessage* resp = b.add_messages();  // no entries at all
  resp->set_group(7);
  resp->set_type(2);
  resp->set_reject(true);
  resp->set_reject_hint(17);
  resp->set_context("ctx");
  pb::RaftMessage* snap = b.add_messages();
  snap->set_group(9);
  snap->set_type(5);
  snap->mutable_snapshot()->set_index(100);
  snap->mutable_snapshot()->mutable_conf_state()->add_voters(1);
  snap->set_snapshot_data(std::string(5000, 's'));
  snap->set_snapshot_done(true);
  AddEntry(b.add_messages(), 1, std::string(2000, 'x'))->set_index(1);  // a message after others
  pb::Heartbeat* hb = b.add_heartbeats();
  hb->set_group(11);
  hb->set_term(2);
  hb->set_commit(9);
  pb::HeartbeatResponse* hr = b.add_heartbeat_responses();
  hr->set_group(12);
  hr->set_term(2);
  return b;
}

TEST(TransportBatchEncoderTest, ParsesAsTheSameBatch) {
  const pb::MessageBatch original = MixedBatch();
  pb::MessageBatch consumed = original;
  std::vector<grpc::Slice> slices;
  const std::string wire = proto::FlattenByteBuffer(EncodeMessageBatch(&consumed), &slices);
  EXPECT_EQ(wire.size(), original.ByteSizeLong());
  pb::MessageBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  // Protobuf serializes a parsed message in field order: equal bytes mean
  // equal messages, element order of every repeated field included.
  EXPECT_EQ(parsed.SerializeAsString(), original.SerializeAsString());
}

TEST(TransportBatchEncoderTest, LargePayloadsAreSlicesOfTheirOwnMemory) {
  pb::MessageBatch b = MixedBatch();
  const char* large = b.messages(0).entries(0).data().data();
  const char* at_threshold = b.messages(0).entries(3).data().data();
  const char* larger = b.messages(0).entries(4).data().data();
  const char* below = b.messages(0).entries(2).data().data();
  std::vector<grpc::Slice> slices;
  const grpc::ByteBuffer wire = EncodeMessageBatch(&b);
  b.Clear();  // what the transport does: the slices own the payloads now
  proto::FlattenByteBuffer(wire, &slices);
  std::vector<const char*> starts;
  for (const grpc::Slice& s : slices) starts.push_back(reinterpret_cast<const char*>(s.begin()));
  auto sent_in_place = [&](const char* p) {
    return std::find(starts.begin(), starts.end(), p) != starts.end();
  };
  EXPECT_TRUE(sent_in_place(large));
  EXPECT_TRUE(sent_in_place(at_threshold));
  EXPECT_TRUE(sent_in_place(larger));
  EXPECT_FALSE(sent_in_place(below));
  // The fields before each of the 4 large payloads, then the payload; the
  // last message ends with a large payload, so nothing follows it.
  EXPECT_EQ(slices.size(), 2u * 4);
}

raft::Message AppendWith(std::vector<raft::Payload> payloads) {
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.term = raft::Term(3);
  m.log_term = raft::Term(3);
  m.index = raft::LogIndex(10);
  m.commit = raft::LogIndex(9);
  uint64_t i = 11;
  for (raft::Payload& p : payloads) {
    m.entries.push_back(
        raft::Entry{raft::Term(3), raft::LogIndex(i++), raft::EntryType::kNormal, std::move(p)});
  }
  return m;
}

// From raft messages to the socket, an OutgoingBatch's large payloads are
// neither copied into records nor into slices: the slices reference the
// shared bytes, keep them alive until gRPC drops them, and the wire parses
// back to the same messages.
TEST(TransportBatchEncoderTest, OutgoingBatchSendsSharedPayloadsInPlace) {
  const raft::Payload large(std::string(70000, 'a'));
  const raft::Payload at_threshold(std::string(kMinSliceBytes, 'c'));
  const raft::Payload below(std::string(kMinSliceBytes - 1, 'b'));
  const raft::Payload other(std::string(5000, 'x'));
  std::vector<GroupMessage> msgs;
  msgs.push_back(GroupMessage{7, AppendWith({large, raft::Payload(), below, at_threshold})});
  raft::Message resp;
  resp.type = raft::MessageType::kAppResp;
  resp.term = raft::Term(3);
  resp.index = raft::LogIndex(4);
  msgs.push_back(GroupMessage{8, resp});
  msgs.push_back(GroupMessage{9, AppendWith({raft::Payload("tiny")})});
  msgs.push_back(GroupMessage{10, AppendWith({other})});
  const std::vector<GroupMessage> want = msgs;  // shares the payloads
  const long base_refs = large.shared().use_count();

  std::vector<OutgoingBatch> batches =
      BuildOutgoingBatches(BatchHeader{"cluster-a", raft::NodeId(1), raft::NodeId(2)},
                           std::span<GroupMessage>(msgs), UINT64_MAX, kMinSliceBytes);
  ASSERT_EQ(batches.size(), 1u);
  // Slots: entries 0..3 of group 7, "tiny", then `other`.
  ASSERT_EQ(batches[0].deferred.size(), 6u);
  EXPECT_TRUE(batches[0].deferred[0].SharesWith(large));
  EXPECT_TRUE(batches[0].deferred[1].empty());
  EXPECT_TRUE(batches[0].deferred[2].empty());
  EXPECT_TRUE(batches[0].deferred[3].SharesWith(at_threshold));
  EXPECT_TRUE(batches[0].deferred[4].empty());
  EXPECT_TRUE(batches[0].deferred[5].SharesWith(other));
  EXPECT_TRUE(batches[0].batch.messages(0).entries(0).data().empty());
  EXPECT_EQ(batches[0].batch.messages(0).entries(2).data(), below.view());

  auto wire = std::make_unique<grpc::ByteBuffer>(EncodeMessageBatch(&batches[0]));
  batches.clear();
  msgs.clear();
  EXPECT_EQ(large.shared().use_count(), base_refs);  // held by `wire` instead
  std::vector<grpc::Slice> slices;
  const std::string bytes = proto::FlattenByteBuffer(*wire, &slices);
  std::vector<const char*> starts;
  for (const grpc::Slice& s : slices) starts.push_back(reinterpret_cast<const char*>(s.begin()));
  auto sent_in_place = [&](const raft::Payload& p) {
    return std::find(starts.begin(), starts.end(), p.data()) != starts.end();
  };
  EXPECT_TRUE(sent_in_place(large));
  EXPECT_TRUE(sent_in_place(at_threshold));
  EXPECT_TRUE(sent_in_place(other));
  EXPECT_FALSE(sent_in_place(below));

  pb::MessageBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  absl::StatusOr<std::vector<GroupMessage>> got = DecodeBatchConsuming(&parsed);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*got)[i].group, want[i].group);
    raft::Message m = want[i].message;
    m.from = raft::NodeId(1);
    m.to = raft::NodeId(2);
    EXPECT_EQ((*got)[i].message, m) << i;
  }

  // gRPC dropping the slices drops the references.
  slices.clear();
  wire.reset();
  EXPECT_EQ(large.shared().use_count(), base_refs - 1);  // `want` holds one
}

TEST(TransportBatchEncoderTest, BatchWithoutMessages) {
  pb::MessageBatch b;
  b.set_cluster_id("c");
  b.set_from_node(1);
  b.set_to_node(3);
  b.add_heartbeats()->set_group(4);
  const pb::MessageBatch original = b;
  std::vector<grpc::Slice> slices;
  pb::MessageBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(proto::FlattenByteBuffer(EncodeMessageBatch(&b), &slices)));
  EXPECT_EQ(parsed.SerializeAsString(), original.SerializeAsString());

  pb::MessageBatch empty;
  slices.clear();
  EXPECT_EQ(proto::FlattenByteBuffer(EncodeMessageBatch(&empty), &slices), "");
}

}  // namespace
}  // namespace raftlog::broker
