// ReadIndex request queue, see read_only.h.
#include "raft/read_only.h"

#include <algorithm>

#include "raft/quorum.h"

namespace raftlog::raft {

uint64_t ReadOnly::Add(LogIndex index, NodeId from, std::string ctx) {
  const uint64_t seq = next_seq_++;
  pending_.push_back(ReadRequest{seq, index, from, std::move(ctx)});
  return seq;
}

void ReadOnly::RecvAck(NodeId from, uint64_t seq) {
  uint64_t& a = acked_[from];
  a = std::max(a, seq);
}

std::vector<ReadRequest> ReadOnly::Release(const std::vector<NodeId>& voters, NodeId self) {
  std::vector<ReadRequest> out;
  if (pending_.empty()) return out;
  std::map<NodeId, uint64_t> acked = acked_;
  acked[self] = pending_.back().seq;
  const uint64_t confirmed = QuorumValue(voters, acked);
  while (!pending_.empty() && pending_.front().seq <= confirmed) {
    out.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return out;
}

}  // namespace raftlog::raft
