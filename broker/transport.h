// Transport: the inter-node Raft transport of one raftlogd (issue 4).
//
// Shape (proto/raftlog/transport/v1/transport.proto):
//  - One long-lived gRPC client stream per peer (RaftTransport.Stream), dialled
//    by this node, carrying the messages of every group it shares with that
//    peer; the peer's messages to us arrive on the stream it dialled, served
//    by service() on our single gRPC port.
//  - Send() never blocks: it enqueues to the peer's bounded outbound queue; a
//    per-peer sender thread drains the whole queue into one MessageBatch per
//    write (so all messages of one node round, e.g. every group's heartbeat of
//    one tick, leave as one batch). kHeartbeat and kHeartbeatResp are encoded
//    as compact Heartbeat/HeartbeatResponse records.
//  - A slow or dead peer never stalls the others: each peer has its own queue
//    and thread; when a queue is over its byte limit, new messages to that
//    peer are dropped (Raft retransmits) and counted.
//  - A broken stream is redialled with exponential back-off (with jitter);
//    messages queued while disconnected are dropped and the sink is told the
//    peer is unreachable (raft falls back to probing).
//  - Batches whose cluster id or destination node id do not match ours are
//    refused: the stream is ended with FAILED_PRECONDITION and nothing is
//    delivered; the sender logs the reason and keeps retrying with back-off.
//
// Threads: one sender thread per peer (a fixed set: peers, not groups). The
// sink is called from gRPC server threads and sender threads; it must not
// block for long.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/types.h"

namespace grpc {
class Service;
class ServerBuilder;
}  // namespace grpc

namespace raftlog::broker {

using GroupId = uint64_t;

// One Raft message of one group.
struct GroupMessage {
  GroupId group = 0;
  raft::Message message;  // message.from == sender node, message.to == receiver
};

// Where the transport hands what it receives.
class TransportSink {
 public:
  virtual ~TransportSink() = default;
  // Every message of one received batch, in order. `from` is the peer.
  virtual void Deliver(raft::NodeId from, std::vector<GroupMessage> messages) = 0;
  // Messages to `peer` were dropped (queue full, stream broken, peer down).
  virtual void PeerUnreachable(raft::NodeId peer) = 0;
};

struct TransportPeer {
  raft::NodeId id;
  std::string address;  // host:port
};

struct TransportOptions {
  std::string cluster_id;
  raft::NodeId self;
  std::vector<TransportPeer> peers;  // every other node (self is skipped if listed)
  // Outbound queue limit per peer; messages beyond it are dropped.
  uint64_t max_queue_bytes = 64ull << 20;
  // Upper bound of one MessageBatch (a larger single message goes alone).
  uint64_t max_batch_bytes = 4ull << 20;
  int backoff_initial_ms = 50;
  int backoff_max_ms = 2000;
};

struct PeerStats {
  raft::NodeId id;
  std::string address;
  bool connected = false;
  uint64_t batches_sent = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_dropped = 0;
  uint64_t reconnects = 0;
};

class Transport {
 public:
  // `sink` must outlive the transport.
  Transport(TransportOptions options, TransportSink* sink);
  ~Transport();  // Stops if still running.
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // The RaftTransport service to register on the node's gRPC server (before
  // it is built). Owned by the transport.
  grpc::Service* service();

  // Starts the sender threads (dialling is lazy and retried).
  void Start();
  // Stops accepting Send(), tries to flush what is queued for up to
  // `flush_ms`, closes the streams, joins the threads. Inbound streams are
  // refused with UNAVAILABLE from then on. Idempotent.
  void Stop(int flush_ms = 500);

  // Enqueues messages for one peer (message.to must be `to`). Never blocks.
  // Messages to unknown peers are dropped with a log line.
  void Send(raft::NodeId to, std::vector<GroupMessage> messages);

  std::vector<PeerStats> Stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Server-side settings the transport's peers rely on; call it on the builder
// that registers service(). Peers send keepalive pings every second, also on
// an idle stream (a default server answers those with GOAWAY "too_many_pings"
// after two), and batches may be up to 64 MiB (the default receive limit is 4).
void ConfigureTransportServer(grpc::ServerBuilder& builder);

}  // namespace raftlog::broker
