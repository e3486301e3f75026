// Majority quorum arithmetic [3.6, 4.1]: the committed index of a voter set
// given each voter's acknowledged index, and the outcome of a vote. Pure
// functions over the voter list; no joint configurations (membership changes
// are single-server, see conf_change.h).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "raft/types.h"

namespace raftlog::raft {

// Smallest number of voters that forms a majority of `n` (n/2 + 1).
size_t MajoritySize(size_t n);

// The largest value v such that a majority of `voters` has acked >= v.
// Voters missing from `acked` count as 0. An empty voter set yields 0.
uint64_t QuorumValue(const std::vector<NodeId>& voters, const std::map<NodeId, uint64_t>& acked);

enum class VoteResult : uint8_t { kPending, kWon, kLost };

// Votes: true = granted, false = rejected; voters absent have not answered.
// Responses from non-voters are ignored.
VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes);

}  // namespace raftlog::raft
