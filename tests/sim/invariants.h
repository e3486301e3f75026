// Safety invariants the simulator checks after every step, named after the
// Raft paper's Figure 3 (plus KRaft's MonotonicHighWatermark):
//
//  ElectionSafety        at most one leader per term, ever.
//  LogMatching           two logs with an entry of the same index and term
//                        are identical up to that index.
//  LeaderCompleteness    a leader's log holds every committed entry.
//  StateMachineSafety    every node applies the same entries in the same
//                        order, each equal to the one globally recorded as
//                        committed at that index, and reaches the same
//                        application state (hash) after each index.
//  CommittedNeverLost    an entry once committed stays committed: every later
//                        commit and apply of that index agrees with it.
//  MonotonicCommit       a node's commit index never goes down while it runs,
//                        and after a restart is at least what it persisted.
//  AppliedWithinDurable  a node applies only entries it has durably stored.
//
// Each check returns a Status whose message starts with the invariant name,
// so a failing seed says which rule broke. The checker only reads logs
// through raft::LogStorage and never changes them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftlog::sim {

class SafetyChecker {
 public:
  // ElectionSafety: `node` is leader in `term`.
  absl::Status ObserveLeader(uint64_t node, uint64_t term);

  // MonotonicCommit: `commit` is what a running node reports now.
  absl::Status ObserveCommit(uint64_t node, uint64_t commit);
  // The node crashed; its volatile commit index is gone. `persisted_commit`
  // is the commit index in its durable hard state.
  void OnCrash(uint64_t node, uint64_t persisted_commit);

  // CommittedNeverLost / LogMatching against the global record: entries of
  // `log` in (previously recorded, commit] are committed; record them or
  // compare them with what is recorded. Also AppliedWithinDurable-style:
  // commit must not exceed log.LastIndex().
  // `term` is the node's current term: an entry it sees committed was
  // committed in that term or earlier.
  absl::Status RecordCommitted(uint64_t node, uint64_t term, const raft::LogStorage& log,
                               uint64_t commit);

  // StateMachineSafety. The node (re)starts its state machine from a
  // snapshot at (index, term) whose application state hashes to state_hash
  // (index 0: empty state).
  absl::Status OnRestore(uint64_t node, uint64_t index, uint64_t term, uint64_t state_hash);
  // The node applied `e`; `durable_last` is its durable last log index (or
  // its snapshot index, whichever is larger); state_hash is the application
  // state after applying.
  absl::Status OnApply(uint64_t node, uint64_t term, const raft::Entry& e, uint64_t durable_last,
                       uint64_t state_hash);

  // LeaderCompleteness: `node` is leader of `term`; `last_index` counts
  // entries not yet durable. Every entry known committed in an earlier term
  // must be in its log: those in its durable log must match the record, and
  // none may lie beyond last_index. (A stale leader of an older term need
  // not have entries committed after its term, so those are not checked.)
  absl::Status CheckLeaderCompleteness(uint64_t node, uint64_t term, const raft::LogStorage& log,
                                       uint64_t last_index) const;

  // LogMatching between every pair of durable logs.
  absl::Status CheckLogMatching(
      const std::vector<std::pair<uint64_t, const raft::LogStorage*>>& logs) const;

  uint64_t max_committed() const { return committed_.empty() ? 0 : committed_.rbegin()->first; }
  uint64_t applied(uint64_t node) const;
  size_t committed_entries() const { return committed_.size(); }
  size_t terms_with_leader() const { return leader_of_term_.size(); }

 private:
  struct Committed {
    uint64_t term = 0;
    raft::EntryType type = raft::EntryType::kNormal;
    raft::Payload data;  // shared with the entry, not copied
    uint64_t recorded_by = 0;
    // Term of the node that first saw it committed: it was committed in
    // this term or before.
    uint64_t commit_term = 0;
  };
  absl::Status CheckOrRecord(uint64_t node, uint64_t term, const raft::Entry& e, const char* what);

  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<uint64_t, Committed> committed_;       // index -> entry
  std::map<uint64_t, uint64_t> state_hash_;       // index -> application state hash
  std::map<uint64_t, uint64_t> commit_;           // node -> last observed commit
  std::map<uint64_t, uint64_t> recorded_commit_;  // node -> commit recorded up to
  std::map<uint64_t, uint64_t> applied_;          // node -> last applied index
};

// FNV-1a, for application state hashes.
uint64_t Fnv1a(const std::string& s);

}  // namespace raftlog::sim
