// Leader role: heartbeats and CheckQuorum, log replication with per-follower
// progress and fast back-off, commitment, proposals (batched), ReadIndex,
// leadership transfer and chunked InstallSnapshot sending.
#include <algorithm>

#include "absl/strings/str_format.h"
#include "raft/check.h"
#include "raft/conf_change.h"
#include "raft/quorum.h"
#include "raft/raft.h"

namespace raftlog::raft {

void Raft::BecomeLeader() {
  RAFT_CHECK(role() == Role::kCandidate);
  role_ = LeaderRole{};
  lead_ = cfg_.id;
  ResetTimers();
  LeaderRole& lr = std::get<LeaderRole>(role_);
  const LogIndex last = log_.LastIndex();
  auto add = [&](NodeId id, bool learner) {
    Progress p(cfg_.max_inflight_msgs);
    p.next = last + 1;
    p.is_learner = learner;
    if (id == cfg_.id) {
      // Only what is durable counts (PITFALLS #4); the rest follows through
      // OnPersisted.
      p.match = log_.StableLastIndex();
      p.BecomeReplicate();
      p.next = last + 1;
      p.recent_active = true;
    }
    lr.progress.emplace(id, std::move(p));
  };
  for (NodeId v : conf_.voters) add(v, false);
  for (NodeId l : conf_.learners) add(l, true);
  // Entries in our log may hold an unapplied config change.
  lr.pending_conf_index = last;
  // [3.6.2, 6.4] The no-op lets the leader commit an entry of its term,
  // which commits everything before it and enables ReadIndex.
  log_.Append({Entry{term_, last + 1, EntryType::kNoop, ""}});
  BroadcastAppend();
}

void Raft::TickLeader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= cfg_.election_tick) {
    election_elapsed_ = 0;
    LeaderRole& lr = std::get<LeaderRole>(role_);
    if (cfg_.check_quorum) {
      // [6.2] Step down without hearing from a majority for an election
      // timeout; a partitioned leader thus stops serving within one.
      size_t active = 0;
      for (auto& [id, pr] : lr.progress) {
        if (pr.is_learner) continue;
        if (id == cfg_.id || pr.recent_active) ++active;
      }
      for (auto& [id, pr] : lr.progress) pr.recent_active = (id == cfg_.id);
      if (active < MajoritySize(conf_.voters.size())) {
        BecomeFollower(term_, kNoNode);
        return;
      }
    }
  }
  LeaderRole& lr = std::get<LeaderRole>(role_);
  // [3.10] A transfer not done within an election timeout is aborted. It has
  // its own timer: resetting election_elapsed_ would postpone CheckQuorum.
  if (lr.transferee != kNoNode && ++lr.transfer_elapsed >= cfg_.election_tick) AbortTransfer();
  for (auto& [id, pr] : lr.progress) {
    if (pr.state != ProgressState::kSnapshot || !pr.snapshot_send) continue;
    if (++pr.snapshot_send->idle_ticks >= cfg_.election_tick) StartSnapshot(id, pr);
  }
  if (heartbeat_elapsed_ >= cfg_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat(lr.read_only.LastPendingSeq());
  }
}

void Raft::StepLeader(const Message& m) {
  switch (m.type) {
    case MessageType::kAppResp:
      HandleAppendResponse(m);
      break;
    case MessageType::kHeartbeatResp:
      HandleHeartbeatResponse(m);
      break;
    case MessageType::kSnapshotResp:
      HandleSnapshotResponse(m);
      break;
    case MessageType::kReadIndex:
      ServeRead(m.from, m.context);
      break;
    default:
      break;  // Stale votes, our own term's messages from nobody, ...
  }
}

// Fast back-off [3.5]: the follower reported the term of its conflicting
// entry and the first index it holds of that term. If we have entries of
// that term, the follower's log can match up to our last one of them;
// otherwise skip the follower's whole term.
LogIndex Raft::FastBackoffNext(const Message& m) const {
  if (m.reject_hint_term == Term(0)) return m.reject_hint;
  LogIndex j = std::min(m.index, log_.LastIndex());
  std::optional<Term> t;
  while (true) {
    t = log_.TermAt(j);
    if (!t || *t <= m.reject_hint_term || j == LogIndex(0)) break;
    j = j - 1;
  }
  if (t && *t == m.reject_hint_term && j >= m.reject_hint) return j + 1;
  return m.reject_hint;
}

void Raft::HandleAppendResponse(const Message& m) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  auto it = lr.progress.find(m.from);
  if (it == lr.progress.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    if (pr.MaybeDecrTo(m.index, FastBackoffNext(m))) MaybeSendAppend(m.from, true);
    return;
  }
  const bool was_paused = pr.IsPaused();
  if (!pr.MaybeUpdate(m.index)) return;  // Duplicate or reordered.
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match + 1 >= log_.FirstIndex() || pr.match >= pr.pending_snapshot) {
        pr.BecomeProbe();
        pr.BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.FreeLE(m.index);
      break;
  }
  if (MaybeCommit()) {
    OnCommitAdvanced();
  } else if (was_paused) {
    // It may have missed a commit index update while paused.
    MaybeSendAppend(m.from, true);
  }
  // Fill the window.
  while (leader_role() != nullptr && MaybeSendAppend(m.from, false)) {
  }
  LeaderRole* lrp = leader_role();
  if (lrp != nullptr && lrp->transferee == m.from) {
    auto pit = lrp->progress.find(m.from);
    if (pit != lrp->progress.end() && pit->second.match == log_.LastIndex()) {
      SendTimeoutNow(m.from);
    }
  }
}

void Raft::HandleHeartbeatResponse(const Message& m) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  auto it = lr.progress.find(m.from);
  if (it == lr.progress.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.probe_sent = false;
  if (m.reject && m.reject_hint <= pr.match) pr.ForgetAbove(m.reject_hint - 1);
  if (pr.match < log_.LastIndex()) {
    // A lost kApp leaves a full window: re-probe from the known match.
    if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) pr.BecomeProbe();
    MaybeSendAppend(m.from, true);
  }
  if (m.read_seq > 0) {
    lr.read_only.RecvAck(m.from, m.read_seq);
    ReleaseReads();
  }
}

bool Raft::MaybeSendAppend(NodeId to, bool send_if_empty) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  if (to == cfg_.id) return false;
  auto it = lr.progress.find(to);
  if (it == lr.progress.end()) return false;
  Progress& pr = it->second;
  if (pr.IsPaused()) return false;
  const LogIndex prev = pr.next - 1;
  const std::optional<Term> prev_term = log_.TermAt(prev);
  auto ents = log_.EntriesFrom(pr.next, cfg_.max_size_per_msg);
  if (!prev_term || !ents.ok()) {
    // The entries it needs are compacted: send the snapshot [5.3].
    if (!pr.recent_active) return false;
    StartSnapshot(to, pr);
    return false;  // Chunks are paced by their acks, not by this loop.
  }
  if (ents->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kApp;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  if (!ents->empty()) {
    const LogIndex last = ents->back().index;
    if (pr.state == ProgressState::kReplicate) {
      pr.OptimisticUpdate(last);
      pr.inflights.Add(last);
    } else {
      pr.probe_sent = true;
    }
  } else if (pr.state == ProgressState::kProbe) {
    pr.probe_sent = true;
  }
  m.entries = std::move(*ents);
  Send(std::move(m));
  return true;
}

void Raft::BroadcastAppend() {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  for (auto& [id, pr] : lr.progress) {
    if (id != cfg_.id) MaybeSendAppend(id, true);
  }
}

void Raft::SendHeartbeat(NodeId to, uint64_t read_seq) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  const Progress& pr = lr.progress.at(to);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  // Only what the follower is known to hold may be marked committed on it.
  m.commit = std::min(pr.match, log_.committed());
  m.read_seq = read_seq;
  Send(std::move(m));
}

void Raft::BroadcastHeartbeat(uint64_t read_seq) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  for (auto& [id, pr] : lr.progress) {
    if (id != cfg_.id) SendHeartbeat(id, read_seq);
  }
}

void Raft::StartSnapshot(NodeId to, Progress& pr) {
  auto snap = log_.GetSnapshot();
  if (!snap.ok() || snap->IsEmpty()) return;  // Not ready yet: retried later.
  pr.BecomeSnapshot(snap->metadata.index);
  pr.snapshot_send = SnapshotSend{std::move(*snap), 0, 0, false};
  SendSnapshotChunk(to, pr);
}

void Raft::SendSnapshotChunk(NodeId to, Progress& pr) {
  SnapshotSend& ss = *pr.snapshot_send;
  const uint64_t size = ss.snapshot.data.size();
  const uint64_t off = ss.acked;
  const uint64_t len = std::min<uint64_t>(cfg_.snapshot_chunk_size, size - off);
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot = ss.snapshot.metadata;
  m.snapshot_offset = off;
  m.snapshot_total_size = size;
  m.snapshot_data = ss.snapshot.data.substr(off, len);
  m.snapshot_done = off + len == size;
  m.commit = log_.committed();
  ss.idle_ticks = 0;
  ss.done_sent = m.snapshot_done;
  Send(std::move(m));
}

void Raft::HandleSnapshotResponse(const Message& m) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  auto it = lr.progress.find(m.from);
  if (it == lr.progress.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (pr.state != ProgressState::kSnapshot || !pr.snapshot_send || m.index != pr.pending_snapshot) {
    return;
  }
  SnapshotSend& ss = *pr.snapshot_send;
  if (m.reject) {
    // The follower saw a gap: restart from the beginning.
    ss.acked = 0;
    SendSnapshotChunk(m.from, pr);
    return;
  }
  if (m.snapshot_offset <= ss.acked || m.snapshot_offset > ss.snapshot.data.size()) return;
  ss.acked = m.snapshot_offset;
  ss.idle_ticks = 0;
  if (ss.acked < ss.snapshot.data.size()) SendSnapshotChunk(m.from, pr);
}

bool Raft::MaybeCommit() {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  std::map<NodeId, uint64_t> match;
  for (const auto& [id, pr] : lr.progress) match[id] = pr.match.value();
  // [3.6.2] Only an entry of the current term is committed by counting
  // replicas; earlier ones commit with it (PITFALLS #2).
  return log_.MaybeCommit(LogIndex(QuorumValue(conf_.voters, match)), term_);
}

bool Raft::CommittedInCurrentTerm() const { return log_.TermOrZero(log_.committed()) == term_; }

void Raft::OnCommitAdvanced() {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  if (!lr.waiting_reads.empty() && CommittedInCurrentTerm()) {
    std::vector<WaitingRead> waiting = std::exchange(lr.waiting_reads, {});
    for (WaitingRead& w : waiting) ServeRead(w.from, std::move(w.ctx));
  }
  BroadcastAppend();
}

absl::Status Raft::AppendProposals(std::vector<Entry> ents) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  log_.Append(ents);
  lr.append_pending = true;
  return absl::OkStatus();
}

absl::Status Raft::Propose(std::vector<std::string> data) {
  LeaderRole* lr = leader_role();
  if (lr == nullptr) return NotLeaderError();
  if (lr->transferee != kNoNode) {
    return absl::FailedPreconditionError(
        absl::StrFormat("raft: leadership transfer to %d in progress", lr->transferee.value()));
  }
  if (data.empty()) return absl::OkStatus();
  std::vector<Entry> ents;
  ents.reserve(data.size());
  LogIndex i = log_.LastIndex();
  for (std::string& d : data) {
    ++i;
    ents.push_back(Entry{term_, i, EntryType::kNormal, std::move(d)});
  }
  return AppendProposals(std::move(ents));
}

absl::Status Raft::ProposeConfChange(const ConfChange& cc) {
  LeaderRole* lr = leader_role();
  if (lr == nullptr) return NotLeaderError();
  if (lr->transferee != kNoNode) {
    return absl::FailedPreconditionError("raft: leadership transfer in progress");
  }
  if (lr->pending_conf_index > log_.applied()) {
    return absl::FailedPreconditionError("raft: a configuration change is already in progress");
  }
  if (!CommittedInCurrentTerm()) {
    return absl::FailedPreconditionError("raft: leader has not yet committed an entry of its term");
  }
  if (absl::Status s = ValidateConfChange(conf_, cc); !s.ok()) return s;
  if (cc.type == ConfChangeType::kAddVoter && IsLearnerIn(conf_, cc.node)) {
    auto it = lr->progress.find(cc.node);
    if (it == lr->progress.end() || it->second.match < log_.committed()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "raft: learner %d has not caught up with the commit index", cc.node.value()));
    }
  }
  const LogIndex index = log_.LastIndex() + 1;
  lr->pending_conf_index = index;
  return AppendProposals({Entry{term_, index, EntryType::kConfChange, EncodeConfChange(cc)}});
}

void Raft::FlushAppends() {
  LeaderRole* lr = leader_role();
  if (lr == nullptr) return;
  if (lr->append_pending) {
    lr->append_pending = false;
    for (auto& [id, pr] : lr->progress) {
      // Fill each follower's window (one message if probing).
      while (id != cfg_.id && MaybeSendAppend(id, false)) {
      }
    }
  }
  if (lr->read_heartbeat_pending) {
    lr->read_heartbeat_pending = false;
    BroadcastHeartbeat(lr->read_only.LastPendingSeq());
  }
}

bool Raft::HasPendingAppends() const {
  const LeaderRole* lr = leader_role();
  return lr != nullptr && (lr->append_pending || lr->read_heartbeat_pending);
}

// [6.4] ReadIndex on the leader.
void Raft::ServeRead(NodeId from, std::string ctx) {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  if (!CommittedInCurrentTerm()) {
    // Our commit index may lag what a previous leader exposed until our
    // no-op commits (PITFALLS #2, #11).
    lr.waiting_reads.push_back(WaitingRead{from, std::move(ctx)});
    return;
  }
  bool lease = cfg_.read_only_option == ReadOnlyOption::kLeaseBased && !lr.lease_revoked;
  if (lease) {
    // PITFALLS #9: CheckQuorum notices a lost quorum only up to two election
    // timeouts after the last ack, but voters' leases last one. The lease
    // holds only if a quorum acked within the current CheckQuorum round
    // (recent_active is reset at each round's start).
    size_t active = 0;
    for (const auto& [id, pr] : lr.progress) {
      if (!pr.is_learner && (id == cfg_.id || pr.recent_active)) ++active;
    }
    lease = active >= MajoritySize(conf_.voters.size());
  }
  if (lease || conf_.voters.size() == 1) {
    DeliverRead(from, log_.committed(), std::move(ctx));
    return;
  }
  lr.read_only.Add(log_.committed(), from, std::move(ctx));
  lr.read_heartbeat_pending = true;
}

void Raft::ReleaseReads() {
  LeaderRole& lr = std::get<LeaderRole>(role_);
  for (ReadRequest& r : lr.read_only.Release(conf_.voters, cfg_.id)) {
    DeliverRead(r.from, r.index, std::move(r.ctx));
  }
}

void Raft::DeliverRead(NodeId from, LogIndex index, std::string ctx) {
  if (from == cfg_.id) {
    read_states_.push_back(ReadState{index, std::move(ctx)});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResp;
  m.to = from;
  m.index = index;
  m.context = std::move(ctx);
  Send(std::move(m));
}

absl::Status Raft::ReadIndex(std::string ctx) {
  if (role() == Role::kLeader) {
    ServeRead(cfg_.id, std::move(ctx));
    return absl::OkStatus();
  }
  if (lead_ == kNoNode) return absl::FailedPreconditionError("raft: read index: leader unknown");
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = lead_;
  m.context = std::move(ctx);
  Send(std::move(m));
  return absl::OkStatus();
}

absl::Status Raft::TransferLeadership(NodeId to) {
  LeaderRole* lr = leader_role();
  if (lr == nullptr) return NotLeaderError();
  if (to == cfg_.id) return absl::OkStatus();
  if (!IsVoter(to)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("raft: transfer target %d is not a voter", to.value()));
  }
  if (lr->transferee == to) return absl::OkStatus();
  lr->transferee = to;
  lr->transfer_elapsed = 0;
  Progress& pr = lr->progress.at(to);
  if (pr.match == log_.LastIndex()) {
    SendTimeoutNow(to);
  } else {
    MaybeSendAppend(to, true);
  }
  return absl::OkStatus();
}

void Raft::AbortTransfer() {
  if (LeaderRole* lr = leader_role()) lr->transferee = kNoNode;
}

void Raft::SendTimeoutNow(NodeId to) {
  std::get<LeaderRole>(role_).lease_revoked = true;
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  Send(std::move(m));
}

void Raft::ReportUnreachable(NodeId id) {
  LeaderRole* lr = leader_role();
  if (lr == nullptr) return;
  auto it = lr->progress.find(id);
  if (it != lr->progress.end() && it->second.state == ProgressState::kReplicate) {
    it->second.BecomeProbe();
  }
}

}  // namespace raftlog::raft
