// Progress state machine of one follower as seen by the leader.
#include "raft/progress.h"

#include <algorithm>

#include "raft/check.h"

namespace raftlog::raft {

void Inflights::Add(LogIndex last) {
  RAFT_CHECK(!Full());
  RAFT_CHECK(buf_.empty() || buf_.back() < last);
  buf_.push_back(last);
}

void Inflights::FreeLE(LogIndex to) {
  while (!buf_.empty() && buf_.front() <= to) buf_.pop_front();
}

void Progress::ForgetAbove(LogIndex last) {
  if (last >= match) return;
  match = last;
  state = ProgressState::kProbe;
  BecomeProbe();
}

void Progress::BecomeProbe() {
  // After a snapshot the follower holds at least the snapshot's index.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  pending_snapshot = LogIndex(0);
  snapshot_send.reset();
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  pending_snapshot = LogIndex(0);
  snapshot_send.reset();
  inflights.Reset();
}

void Progress::BecomeSnapshot(LogIndex snapshot_index) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  pending_snapshot = snapshot_index;
  inflights.Reset();
}

bool Progress::MaybeUpdate(LogIndex n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(LogIndex rejected, LogIndex next_hint) {
  if (state == ProgressState::kReplicate) {
    // A rejection of an index we already know matches is stale.
    if (rejected <= match) return false;
    // Pipelining is pointless until the follower's log matches again.
    BecomeProbe();
    next = std::max(match + 1, std::min(next_hint, rejected));
    return true;
  }
  // Probe (or snapshot) state: only the answer to the latest probe counts.
  if (next == LogIndex(0) || next - 1 != rejected) return false;
  next = std::max(match + 1, std::min(next_hint, rejected));
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

ProgressStatus Progress::ToStatus() const {
  ProgressStatus s;
  s.match = match;
  s.next = next;
  s.state = state;
  s.is_learner = is_learner;
  s.recent_active = recent_active;
  s.inflight = inflights.Count();
  s.pending_snapshot = pending_snapshot;
  return s;
}

}  // namespace raftlog::raft
