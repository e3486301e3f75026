// Single-server membership changes [4.1, 4.3]: validation of a proposed
// change against the current ConfState, and its application.
//
// Rules (enforced by the leader in Raft::ProposeConfChange):
//  - one change at a time: a new one is accepted only once the previous one
//    is applied on the leader;
//  - the leader must have committed an entry of its own term first (its
//    no-op), which fixes the single-server bug (PITFALLS #1);
//  - a change takes effect when applied (as in etcd), not when appended as
//    in [4.1]. Safe here because successive configurations differ by one
//    server, so any majority of the old overlaps any majority of the new; a
//    leader proposes C(n+1) only after applying C(n), and C(n) was committed
//    under C(n-1), so no two disjoint majorities can decide. Nodes refuse to
//    campaign while committed changes are unapplied (etcd does the same).
#pragma once

#include "absl/status/status.h"
#include "raft/types.h"

namespace raftlog::raft {

bool IsVoterIn(const ConfState& cs, NodeId id);
bool IsLearnerIn(const ConfState& cs, NodeId id);

// InvalidArgument / FailedPrecondition / NotFound if cc cannot apply to cs
// (already in that role, unknown node, or it would remove the last voter).
absl::Status ValidateConfChange(const ConfState& cs, const ConfChange& cc);

// Applies cc to cs, keeping voters and learners sorted and disjoint.
void ApplyToConfState(ConfState& cs, const ConfChange& cc);

}  // namespace raftlog::raft
