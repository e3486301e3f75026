// Single-server membership changes, see conf_change.h.
#include "raft/conf_change.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace raftlog::raft {

namespace {
bool Contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}
void Erase(std::vector<NodeId>& v, NodeId id) {
  v.erase(std::remove(v.begin(), v.end(), id), v.end());
}
void Insert(std::vector<NodeId>& v, NodeId id) {
  if (Contains(v, id)) return;
  v.insert(std::upper_bound(v.begin(), v.end(), id), id);
}
}  // namespace

bool IsVoterIn(const ConfState& cs, NodeId id) { return Contains(cs.voters, id); }
bool IsLearnerIn(const ConfState& cs, NodeId id) { return Contains(cs.learners, id); }

absl::Status ValidateConfChange(const ConfState& cs, const ConfChange& cc) {
  if (cc.node == kNoNode) return absl::InvalidArgumentError("conf change: node id 0");
  const bool voter = IsVoterIn(cs, cc.node);
  const bool learner = IsLearnerIn(cs, cc.node);
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
      if (voter) {
        return absl::FailedPreconditionError(
            absl::StrFormat("conf change: node %d is already a voter", cc.node.value()));
      }
      return absl::OkStatus();
    case ConfChangeType::kAddLearner:
      if (learner) {
        return absl::FailedPreconditionError(
            absl::StrFormat("conf change: node %d is already a learner", cc.node.value()));
      }
      if (voter && cs.voters.size() == 1) {
        return absl::FailedPreconditionError("conf change: cannot demote the last voter");
      }
      return absl::OkStatus();
    case ConfChangeType::kRemoveNode:
      if (!voter && !learner) {
        return absl::NotFoundError(
            absl::StrFormat("conf change: node %d is not a member", cc.node.value()));
      }
      if (voter && cs.voters.size() == 1) {
        return absl::FailedPreconditionError("conf change: cannot remove the last voter");
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("conf change: unknown type");
}

void ApplyToConfState(ConfState& cs, const ConfChange& cc) {
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
      Erase(cs.learners, cc.node);
      Insert(cs.voters, cc.node);
      break;
    case ConfChangeType::kAddLearner:
      Erase(cs.voters, cc.node);
      Insert(cs.learners, cc.node);
      break;
    case ConfChangeType::kRemoveNode:
      Erase(cs.voters, cc.node);
      Erase(cs.learners, cc.node);
      break;
  }
}

}  // namespace raftlog::raft
