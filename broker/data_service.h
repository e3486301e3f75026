// DataService: the raftlog.api.v1.DataService gRPC service of one raftlogd
// (proto/raftlog/api/v1/data.proto): Produce, Fetch and ListOffsets over the
// partition Raft groups this node leads. Topic -> group comes from the
// node's applied metadata (PartitionResolver).
//
// PRODUCE: the batches of one request become ONE Node::Propose, in request
// order, so a partition stores them contiguously and in the order requests
// arrive at the leader. acks=all answers when committed (the proposal's
// done), acks=1 when durable in the leader's log (its `appended`), acks=0
// right after queueing. Each batch is checked against max.message.bytes
// here; the RecordBatch v2 validation (CRC...) runs once, in
// RaftGroup::Propose, whose InvalidArgument becomes CORRUPT_MESSAGE. The
// batches are moved, not copied, from the request into the proposal.
//
// FETCH: reads committed batches (below the high watermark) as stored,
// from the leader only. An offset in [log start, log end] is valid: at or
// beyond the high watermark (a new leader's may lag the old one's) it is an
// empty answer, never OFFSET_OUT_OF_RANGE, so consumers do not reset on a
// leader change. Long poll: while fewer than min_bytes are available and
// no partition has an error, the call waits in FetchWaiters (no thread held)
// until a high watermark of one of its groups advances or max_wait passes,
// then reads again.
//
// Threads: every method uses gRPC's callback API; waiting produces and
// fetches hold no thread (answered from the node's loop thread / the
// FetchWaiters worker). Reads run on gRPC's callback threads or the
// FetchWaiters worker, never on the node's loop.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/fetch_waiters.h"
#include "broker/metadata_state_machine.h"
#include "broker/node.h"
#include "broker/partition_resolver.h"
#include "raftlog/api/v1/data.grpc.pb.h"

namespace raftlog::broker {

struct DataServiceOptions {
  // Addresses for not-leader hints; a node missing here is looked up in the
  // metadata's broker registry (its advertised address).
  std::map<raft::NodeId, std::string> peer_addresses;
  // Upper bounds of a produce's timeout and a fetch's max wait.
  std::chrono::milliseconds max_produce_timeout{30000};
  std::chrono::milliseconds max_fetch_wait{30000};
};

// Fetch is a raw method (ByteBuffer in and out): its answer is encoded by
// FetchResponseEncoder, so the batches go from the log's read buffer to the
// socket without a copy; the bytes on the wire are a FetchResponse as before.
class DataService final : public raftlog::api::v1::DataService::WithCallbackMethod_Produce<
                              raftlog::api::v1::DataService::WithRawCallbackMethod_Fetch<
                                  raftlog::api::v1::DataService::WithCallbackMethod_ListOffsets<
                                      raftlog::api::v1::DataService::Service>>> {
 public:
  // `node` and `waiters` (fed by NodeOptions::on_high_watermark) must
  // outlive the service; `state` may be set later (SetState).
  DataService(Node* node, FetchWaiters* waiters, MetadataStateMachine* state = nullptr,
              DataServiceOptions options = {});

  // The node's metadata state machine, once the node has started.
  void SetState(MetadataStateMachine* state) { resolver_.SetState(state); }
  // Refuse new produces from now on (SIGTERM); waiting fetches are answered
  // by FetchWaiters::Stop.
  void StartDraining() { draining_.store(true); }

  grpc::ServerUnaryReactor* Produce(grpc::CallbackServerContext* ctx,
                                    const api::v1::ProduceRequest* req,
                                    api::v1::ProduceResponse* resp) override;
  // A FetchRequest in, a FetchResponse out (see the class comment).
  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req,
                                  grpc::ByteBuffer* resp) override;
  grpc::ServerUnaryReactor* ListOffsets(grpc::CallbackServerContext* ctx,
                                        const api::v1::ListOffsetsRequest* req,
                                        api::v1::ListOffsetsResponse* resp) override;

 private:
  struct FetchCall;
  // Where a partition's requests go, or why they cannot be served here.
  struct Route {
    std::shared_ptr<RaftGroup> group;  // set iff error == ERROR_NONE
    int64_t max_message_bytes = 0;
    api::v1::ErrorCode error = api::v1::ERROR_NONE;
    std::string message;
    raft::NodeId leader = raft::kNoNode;  // NOT_LEADER hint
  };
  Route RouteTo(const std::string& topic, int32_t partition);
  // The node's address for a hint ("" if unknown): options, else the
  // broker registry. `may_read_metadata` false (on the node's loop thread,
  // which must not block on RocksDB) uses only addresses read before.
  std::string AddressOf(raft::NodeId node, bool may_read_metadata = true) const;
  // A failed produce: the gRPC status plus the trailing metadata.
  grpc::Status ProduceError(grpc::CallbackServerContext* ctx, api::v1::ErrorCode code,
                            const std::string& message, raft::NodeId leader = raft::kNoNode,
                            bool on_loop = false);
  // Maps a failed proposal onto the produce error (on the loop thread).
  grpc::Status ProposeError(grpc::CallbackServerContext* ctx, const RaftGroup& group,
                            const absl::Status& s);
  // One pass of a fetch: reads every partition, then answers or waits.
  void RunFetch(std::shared_ptr<FetchCall> call);

  Node* const node_;
  FetchWaiters* const waiters_;
  const DataServiceOptions options_;
  PartitionResolver resolver_;
  std::atomic<bool> draining_{false};
  mutable std::mutex addresses_mu_;
  mutable std::map<uint64_t, std::string> registered_addresses_;  // node id -> address
};

}  // namespace raftlog::broker
