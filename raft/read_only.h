// ReadOnly: the leader's queue of ReadIndex requests awaiting confirmation of
// leadership [6.4]. Each request gets a sequence number; heartbeats carry the
// latest number and responses echo it, so a response acknowledges every
// request with a number <= the echoed one. A request is released once a
// majority of voters (the leader counts itself) acknowledged it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "raft/types.h"

namespace raftlog::raft {

struct ReadRequest {
  uint64_t seq = 0;
  LogIndex index;  // Leader's commit index when the request arrived.
  NodeId from;     // Who asked (the leader itself or a forwarding follower).
  std::string ctx;
};

class ReadOnly {
 public:
  // Queues a request at commit index `index`; returns its sequence number.
  uint64_t Add(LogIndex index, NodeId from, std::string ctx);
  // `from` answered a heartbeat carrying `seq`.
  void RecvAck(NodeId from, uint64_t seq);
  // Pops every request acknowledged by a majority of `voters` (`self`
  // always acknowledges), oldest first.
  std::vector<ReadRequest> Release(const std::vector<NodeId>& voters, NodeId self);
  // Sequence number of the newest pending request, 0 if none.
  uint64_t LastPendingSeq() const { return pending_.empty() ? 0 : pending_.back().seq; }
  size_t PendingCount() const { return pending_.size(); }

 private:
  uint64_t next_seq_ = 1;
  // Invariant: seq strictly increasing.
  std::deque<ReadRequest> pending_;
  std::map<NodeId, uint64_t> acked_;
};

}  // namespace raftlog::raft
