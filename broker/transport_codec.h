// Transport codec: pure conversion between raft::Message (per group) and the
// wire records of proto/raftlog/transport/v1/transport.proto, and the cutting
// of a run of GroupMessages into MessageBatches.
//
// Invariants:
//  - Decode(Encode(x)) == x for every field of raft::Message; from/to travel
//    once per batch (from_node/to_node), not per message.
//  - kHeartbeat / kHeartbeatResp use the compact Heartbeat / HeartbeatResponse
//    records only when every field those records lack is at its default;
//    otherwise they go as a full RaftMessage, so nothing is ever lost.
//  - Decoding a batch yields, per group, the messages in the order they were
//    given to BuildBatches (the builder cuts a batch where the record kinds
//    would otherwise reorder one group's messages). Different groups may be
//    interleaved differently.
//  - Bytes from the network are validated: an unknown message or entry type
//    is an InvalidArgument naming it and its position, never a crash.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/transport.h"
#include "raft/types.h"
#include "raftlog/transport/v1/transport.pb.h"

namespace raftlog::broker {

namespace transport_pb = ::raftlog::transport::v1;

// Approximate bytes `m` adds to a batch (queue accounting, batch cutting).
uint64_t ApproximateWireSize(const raft::Message& m);

// True if `m` is a kHeartbeat / kHeartbeatResp that the compact record holds
// without loss.
bool FitsCompactRecord(const raft::Message& m);

// Full record of `m` (every field but from/to).
void EncodeRaftMessage(GroupId group, const raft::Message& m, transport_pb::RaftMessage* out);

// Inverse of EncodeRaftMessage; from/to are the batch's.
absl::StatusOr<raft::Message> DecodeRaftMessage(const transport_pb::RaftMessage& in,
                                                raft::NodeId from, raft::NodeId to);

struct BatchHeader {
  std::string cluster_id;
  raft::NodeId from;
  raft::NodeId to;
};

// Cuts `messages` into batches of at most `max_batch_bytes` approximate bytes
// each (a single larger message goes alone). The messages' own from/to are
// not consulted: the header's are what the receiver sees.
std::vector<transport_pb::MessageBatch> BuildBatches(const BatchHeader& header,
                                                     std::span<const GroupMessage> messages,
                                                     uint64_t max_batch_bytes);

// A MessageBatch for the wire whose large entry payloads are not in its
// records but shared here, so that no payload byte is copied before the
// socket (transport_batch_encoder.h writes them in place).
struct OutgoingBatch {
  transport_pb::MessageBatch batch;
  // Slot k is the k-th entry of batch.messages (message by message, entry
  // by entry). A non-empty slot: that entry's `data` was left unset and
  // these are its bytes. Slots past the end, or empty: the data is in the
  // record. Deferred payloads are never empty.
  std::vector<raft::Payload> deferred;
};

// BuildBatches, moving snapshot chunks and contexts out of `messages` (the
// sender's queue, dropped afterwards); entry payloads of at least
// `min_deferred_bytes` (> 0) go to OutgoingBatch::deferred instead of being
// copied into records.
std::vector<OutgoingBatch> BuildOutgoingBatches(const BatchHeader& header,
                                                std::span<GroupMessage> messages,
                                                uint64_t max_batch_bytes,
                                                size_t min_deferred_bytes);

// Number of Raft messages a batch carries.
int BatchMessageCount(const transport_pb::MessageBatch& batch);

// Every message of `batch`: full records, then heartbeats, then heartbeat
// responses. Validates types; does not check cluster id or node ids.
absl::StatusOr<std::vector<GroupMessage>> DecodeBatch(const transport_pb::MessageBatch& batch);
// The same, moving the payloads out of `*batch` instead of copying them
// (what is left of it is only fit to be cleared or overwritten).
absl::StatusOr<std::vector<GroupMessage>> DecodeBatchConsuming(transport_pb::MessageBatch* batch);

}  // namespace raftlog::broker
