// Per-follower replication state kept by a leader (etcd's tracker/): the
// Progress of each peer with its probe / replicate / snapshot state machine,
// the Inflights window of pipelined AppendEntries, and the state of a chunked
// InstallSnapshot transfer [3.5, 5.3, 10.2].
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "raft/raw_node.h"
#include "raft/types.h"

namespace raftlog::raft {

// Sliding window of in-flight kApp messages, each recorded by the last index
// it carries. Invariant: indexes strictly increasing, size <= capacity.
class Inflights {
 public:
  explicit Inflights(int capacity) : capacity_(capacity) {}
  void Add(LogIndex last);
  // Frees every in-flight message whose last index <= to (acknowledged).
  void FreeLE(LogIndex to);
  bool Full() const { return static_cast<int>(buf_.size()) >= capacity_; }
  int Count() const { return static_cast<int>(buf_.size()); }
  void Reset() { buf_.clear(); }

 private:
  int capacity_;
  std::deque<LogIndex> buf_;
};

// An InstallSnapshot transfer in progress, one chunk in flight at a time.
struct SnapshotSend {
  Snapshot snapshot;
  // Bytes the follower acknowledged. Invariant: acked <= snapshot.data.size().
  uint64_t acked = 0;
  // Ticks since the last acknowledgement; the transfer restarts from offset 0
  // when this reaches the election timeout (a chunk or its ack was lost).
  int idle_ticks = 0;
  // True once the last chunk was sent; the follower then answers with a
  // kAppResp after it has persisted the snapshot.
  bool done_sent = false;
};

struct Progress {
  explicit Progress(int max_inflight) : inflights(max_inflight) {}

  // Invariant: match < next. match only grows within a term, except when the
  // follower reports that it lost acknowledged entries (ForgetAbove).
  LogIndex match;
  LogIndex next;
  ProgressState state = ProgressState::kProbe;
  // Valid in kSnapshot: the index of the snapshot being sent.
  LogIndex pending_snapshot;
  // Heard from since the last CheckQuorum round [6.2].
  bool recent_active = false;
  // kProbe: a kApp is in flight; send no other until it is answered or a
  // heartbeat response arrives.
  bool probe_sent = false;
  bool is_learner = false;
  Inflights inflights;
  std::optional<SnapshotSend> snapshot_send;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(LogIndex snapshot_index);
  // Acknowledgement of index n. Returns true if match grew.
  bool MaybeUpdate(LogIndex n);
  // After sending entries up to `last` in replicate state.
  void OptimisticUpdate(LogIndex last) { next = last + 1; }
  // Rejection of the kApp at prev index `rejected`; next_hint is the leader's
  // guess of the follower's first mismatch (fast back-off). Returns false if
  // the rejection is stale (it answers an older message). A rejection in
  // replicate state falls back to probe.
  bool MaybeDecrTo(LogIndex rejected, LogIndex next_hint);
  // The follower's log ends at `last` < match: it lost entries it had
  // acknowledged (its disk was wiped; Config::recovering). match drops to
  // `last` and replication restarts with a probe after it.
  void ForgetAbove(LogIndex last);
  // No kApp may be sent now.
  bool IsPaused() const;
  ProgressStatus ToStatus() const;
};

}  // namespace raftlog::raft
