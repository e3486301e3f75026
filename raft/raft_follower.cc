// Follower and candidate roles: AppendEntries consistency check and the
// fast back-off hint, heartbeats, chunked InstallSnapshot assembly and
// installation, TimeoutNow, forwarded ReadIndex answers, vote counting.
#include <algorithm>

#include "raft/check.h"
#include "raft/raft.h"

namespace raftlog::raft {

void Raft::StepCandidate(const Message& m) {
  switch (m.type) {
    case MessageType::kApp:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      // [3.4] A leader of our term exists: return to follower.
      BecomeFollower(term_, m.from);
      StepFollower(m);
      break;
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
      HandleVoteResponse(m);
      break;
    default:
      break;
  }
}

void Raft::StepFollower(const Message& m) {
  switch (m.type) {
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleAppendEntries(m);
      MaybeFinishRecovery();
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleHeartbeat(m);
      MaybeFinishRecovery();
      break;
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleSnapshotChunk(m);
      MaybeFinishRecovery();
      break;
    case MessageType::kTimeoutNow:
      // [3.10] Campaign at once, skipping pre-vote; voters' leases yield.
      if (Promotable() && !recovering_ && !HasUnappliedConfChanges()) {
        StartElection(false, true);
      }
      break;
    case MessageType::kReadIndexResp:
      read_states_.push_back(ReadState{m.index, m.context});
      break;
    default:
      break;  // kReadIndex to a follower: dropped, the asker retries.
  }
}

// Config::recovering: the leader of term_ commits entries of its own term
// only after it holds every entry committed before it (Leader Completeness),
// and our log matches its log up to our commit index. So once the entry at
// our commit index is of term_, nothing committed is missing here.
void Raft::MaybeFinishRecovery() {
  if (!recovering_ || lead_ == kNoNode) return;
  const LogIndex commit = log_.committed();
  if (commit == LogIndex(0) || log_.TermOrZero(commit) != term_) return;
  recovering_ = false;
  // A vote cast in term_ before the state was lost is forgotten; recording
  // one for the leader we follow makes a second vote in term_ impossible (a
  // new term clears it, as always).
  if (vote_ == kNoNode) vote_ = lead_;
}

void Raft::HandleAppendEntries(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = m.from;
  if (m.index < log_.committed()) {
    // Everything up to our commit matches the leader already.
    resp.index = log_.committed();
    Send(std::move(resp));
    return;
  }
  std::optional<LogIndex> replaced_from;
  if (auto last = log_.MaybeAppend(m.index, m.log_term, m.commit, m.entries, &replaced_from)) {
    // Entries from a conflicting index on were replaced: an acknowledgement
    // of them still waiting for the persist must not leave.
    if (replaced_from) DropUnsentAppendAcksFrom(*replaced_from);
    resp.index = *last;
    Send(std::move(resp));
    return;
  }
  // [3.5] Reject with a hint: the term of our entry at m.index and the first
  // index we hold of that term (or our last index + 1 if we are shorter).
  resp.reject = true;
  resp.index = m.index;
  const LogIndex last = log_.LastIndex();
  if (m.index > last) {
    resp.reject_hint = last + 1;
    resp.reject_hint_term = Term(0);
  } else {
    const Term t = log_.TermOrZero(m.index);
    LogIndex i = m.index;
    while (i - 1 > log_.committed() && log_.TermOrZero(i - 1) == t) i = i - 1;
    resp.reject_hint = i;
    resp.reject_hint_term = t;
  }
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const Message& m) {
  // The leader sends min(match, commit), all known to be in our log.
  log_.CommitTo(std::min(m.commit, log_.LastIndex()));
  Message resp;
  resp.type = MessageType::kHeartbeatResp;
  resp.to = m.from;
  resp.read_seq = m.read_seq;
  if (m.commit > log_.LastIndex()) {
    // We lost entries we acknowledged (a wiped disk): tell the leader where
    // our log ends, or an idle group would never repair us.
    resp.reject = true;
    resp.reject_hint = log_.LastIndex() + 1;
  }
  Send(std::move(resp));
}

void Raft::HandleSnapshotChunk(const Message& m) {
  FollowerRole& fr = std::get<FollowerRole>(role_);
  const SnapshotMetadata& meta = m.snapshot;
  auto reply_commit = [&] {
    Message resp;
    resp.type = MessageType::kAppResp;
    resp.to = m.from;
    resp.index = log_.committed();
    Send(std::move(resp));
  };
  if (meta.index <= log_.committed()) {
    // A stale snapshot must not roll us back; tell the leader where we are.
    fr.incoming.reset();
    reply_commit();
    return;
  }
  if (m.snapshot_offset == 0) {
    fr.incoming = IncomingSnapshot{m.from, meta, m.snapshot_total_size, ""};
  }
  IncomingSnapshot* in = fr.incoming ? &*fr.incoming : nullptr;
  const bool fits =
      in != nullptr && in->from == m.from && in->metadata == meta &&
      in->total_size == m.snapshot_total_size && in->data.size() == m.snapshot_offset &&
      in->data.size() + m.snapshot_data.size() <= in->total_size &&
      (!m.snapshot_done || in->data.size() + m.snapshot_data.size() == in->total_size);
  if (!fits) {
    // A gap or a different snapshot: ask for a restart from offset 0.
    fr.incoming.reset();
    Message resp;
    resp.type = MessageType::kSnapshotResp;
    resp.to = m.from;
    resp.index = meta.index;
    resp.reject = true;
    Send(std::move(resp));
    return;
  }
  in->data += m.snapshot_data;
  if (!m.snapshot_done) {
    Message resp;
    resp.type = MessageType::kSnapshotResp;
    resp.to = m.from;
    resp.index = meta.index;
    resp.snapshot_offset = in->data.size();
    Send(std::move(resp));
    return;
  }
  Snapshot s{in->metadata, std::move(in->data)};
  fr.incoming.reset();
  if (Restore(s)) {
    // Sent after the snapshot is durable (msgs_after_persist_).
    Message resp;
    resp.type = MessageType::kAppResp;
    resp.to = m.from;
    resp.index = log_.LastIndex();
    Send(std::move(resp));
  } else {
    reply_commit();
  }
}

// [5.3] / PITFALLS #7. Returns true if the snapshot replaces our log.
bool Raft::Restore(const Snapshot& s) {
  const SnapshotMetadata& meta = s.metadata;
  if (meta.index <= log_.committed()) return false;  // Stale: no rollback.
  if (log_.MatchTerm(meta.index, meta.term)) {
    // We hold the snapshot's last entry: keep our log and its suffix, and
    // just learn that the prefix is committed.
    log_.CommitTo(meta.index);
    return false;
  }
  // Discard the entire log (and unsent acknowledgements of what it held
  // beyond the snapshot).
  DropUnsentAppendAcksFrom(meta.index + 1);
  log_.Restore(s);
  conf_ = meta.conf_state;
  conf_index_ = meta.index;
  return true;
}

// An AppResp acknowledging index i claims our log holds the leader's entries
// up to i once the Ready that carries it is persisted. When entries from
// `from` on are replaced (a new leader's conflicting suffix, a snapshot)
// before that Ready, the claim would be false in the persisted log: the
// acknowledgement is dropped (the leader learns the new state from the reply
// to the message that replaced them). Found by the simulator: an ack of a
// term-1 suffix left after the same Ready had overwritten it with term 2's.
void Raft::DropUnsentAppendAcksFrom(LogIndex from) {
  std::erase_if(msgs_after_persist_, [from](const Message& m) {
    return m.type == MessageType::kAppResp && !m.reject && m.index >= from;
  });
}

}  // namespace raftlog::raft
