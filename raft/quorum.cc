// Majority quorum arithmetic.
#include "raft/quorum.h"

#include <algorithm>
#include <functional>

namespace raftlog::raft {

size_t MajoritySize(size_t n) { return n / 2 + 1; }

uint64_t QuorumValue(const std::vector<NodeId>& voters, const std::map<NodeId, uint64_t>& acked) {
  if (voters.empty()) return 0;
  std::vector<uint64_t> vals;
  vals.reserve(voters.size());
  for (NodeId v : voters) {
    auto it = acked.find(v);
    vals.push_back(it == acked.end() ? 0 : it->second);
  }
  std::sort(vals.begin(), vals.end(), std::greater<uint64_t>());
  // The q-th highest value is held by at least q voters.
  return vals[MajoritySize(voters.size()) - 1];
}

VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  size_t granted = 0, rejected = 0;
  for (NodeId v : voters) {
    auto it = votes.find(v);
    if (it == votes.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const size_t q = MajoritySize(voters.size());
  if (granted >= q) return VoteResult::kWon;
  if (voters.size() - rejected >= q) return VoteResult::kPending;
  return VoteResult::kLost;
}

}  // namespace raftlog::raft
