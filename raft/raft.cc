// Raft core: construction and restore, term handling in Step, elections
// (Pre-Vote, CheckQuorum-style vote leases), ticks, role transitions and
// membership application. Leader logic: raft_leader.cc; follower and
// candidate logic: raft_follower.cc.
#include "raft/raft.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "raft/check.h"
#include "raft/conf_change.h"
#include "raft/quorum.h"

namespace raftlog::raft {

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Raft::Raft(const Config& config, const LogStorage* storage)
    : cfg_(config),
      recovering_(config.recovering),
      log_(storage),
      rng_(config.seed ^ (config.id.value() * 0xd1b54a32d192ed03ULL)) {}

absl::StatusOr<std::unique_ptr<Raft>> Raft::Create(const Config& config,
                                                   const LogStorage* storage) {
  if (storage == nullptr) return absl::InvalidArgumentError("raft: storage is null");
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto r = std::make_unique<Raft>(config, storage);
  if (absl::Status s = r->Init(); !s.ok()) return s;
  return r;
}

// Restart [3.8]: term, vote and commit come from the durable hard state;
// membership from the snapshot plus config changes up to the applied index.
absl::Status Raft::Init() {
  auto st = log_.storage()->GetInitialState();
  if (!st.ok()) return st.status();
  const HardState& hs = st->hard_state;
  const LogIndex first = log_.FirstIndex();
  const LogIndex last = log_.LastIndex();
  if (hs.commit > last) {
    return absl::DataLossError(absl::StrFormat(
        "raft: hard state commit %d beyond last log index %d", hs.commit.value(), last.value()));
  }
  // Step 2 of the Ready contract need not be atomic: a crash may leave a
  // snapshot or entries durable while the hard state that came with them is
  // not. A snapshot covers only committed entries, so commit is at least its
  // index; entries of term T are only accepted after adopting T, so our term
  // is at least the last entry's (a vote in that newer term was never
  // persisted nor sent, hence none is recorded). The lost commit index is
  // partly recovered below (CommitFloorFromConfChanges).
  term_ = hs.term;
  vote_ = hs.vote;
  if (const Term last_term = log_.LastTerm(); last_term > term_) {
    term_ = last_term;
    vote_ = kNoNode;
  }
  log_.CommitTo(std::max(hs.commit, first - 1));
  auto floor = CommitFloorFromConfChanges();
  if (!floor.ok()) return floor.status();
  if (*floor > log_.committed()) log_.CommitTo(*floor);
  if (cfg_.applied > log_.committed()) {
    return absl::InvalidArgumentError(absl::StrFormat("raft: config applied %d beyond commit %d",
                                                      cfg_.applied.value(),
                                                      log_.committed().value()));
  }
  log_.SetApplied(std::max(cfg_.applied, first - 1));
  conf_ = st->conf_state;
  for (LogIndex i = first; i <= log_.applied();) {
    auto ents = log_.Slice(i, log_.applied() + 1, 64 << 20);
    if (!ents.ok()) return ents.status();
    for (const Entry& e : *ents) {
      if (e.type != EntryType::kConfChange) continue;
      auto cc = DecodeConfChange(e.data);
      if (!cc.ok()) return cc.status();
      ApplyToConfState(conf_, *cc);
    }
    i = ents->back().index + 1;
  }
  conf_index_ = log_.applied();
  BecomeFollower(term_, kNoNode);
  return absl::OkStatus();
}

// Every config-change entry that some later config-change entry follows in
// the log is committed: the leader that created the later one had the
// earlier one at the same index (log matching) and proposes a change only
// once the previous one is applied (conf_change.h). After a crash that kept
// entries but lost the hard state carrying their commit index, this keeps a
// node holding C(n+1) from forgetting that C(n) committed and campaigning
// under C(n-1) (found in review; see raft/review_test.cc).
absl::StatusOr<LogIndex> Raft::CommitFloorFromConfChanges() const {
  LogIndex prev;
  LogIndex last_cc;
  const LogIndex last = log_.LastIndex();
  for (LogIndex i = std::max(log_.committed() + 1, log_.FirstIndex()); i <= last;) {
    auto ents = log_.Slice(i, last + 1, 64 << 20);
    if (!ents.ok()) return ents.status();
    for (const Entry& e : *ents) {
      if (e.type != EntryType::kConfChange) continue;
      prev = last_cc;
      last_cc = e.index;
    }
    i = ents->back().index + 1;
  }
  return prev;
}

Role Raft::role() const {
  if (std::holds_alternative<LeaderRole>(role_)) return Role::kLeader;
  if (auto* c = std::get_if<CandidateRole>(&role_)) {
    return c->pre_vote ? Role::kPreCandidate : Role::kCandidate;
  }
  return Role::kFollower;
}

bool Raft::IsVoter(NodeId id) const { return IsVoterIn(conf_, id); }
bool Raft::Promotable() const { return IsVoter(cfg_.id); }

bool Raft::HasUnappliedConfChanges() const {
  // A snapshot not yet handed to the host carries a membership too.
  if (log_.UnstableSnapshot()) return true;
  for (LogIndex i = std::max(log_.applied() + 1, log_.FirstIndex()); i <= log_.committed();) {
    auto ents = log_.Slice(i, log_.committed() + 1, 64 << 20);
    RAFT_CHECK(ents.ok());
    for (const Entry& e : *ents) {
      if (e.type == EntryType::kConfChange) return true;
    }
    i = ents->back().index + 1;
  }
  return false;
}

void Raft::ResetTimers() {
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomized_election_timeout_ =
      cfg_.election_tick +
      static_cast<int>(rng_.Next() % static_cast<uint64_t>(cfg_.election_tick));
}

void Raft::BecomeFollower(Term term, NodeId lead) {
  if (term != term_) {
    // A vote is per term: a new term clears it (never the reverse).
    RAFT_CHECK(term > term_);
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = lead;
  role_ = FollowerRole{};
  ResetTimers();
}

// [9.6] Pre-Vote: only the role changes; term_ and vote_ stay (PITFALLS #3).
void Raft::BecomePreCandidate() {
  RAFT_CHECK(role() != Role::kLeader);
  role_ = CandidateRole{.pre_vote = true, .votes = {}};
  lead_ = kNoNode;
  ResetTimers();
}

void Raft::BecomeCandidate() {
  RAFT_CHECK(role() != Role::kLeader);
  term_ = term_ + 1;
  vote_ = cfg_.id;
  lead_ = kNoNode;
  role_ = CandidateRole{.pre_vote = false, .votes = {}};
  ResetTimers();
}

absl::Status Raft::Campaign() {
  if (role() == Role::kLeader) return absl::OkStatus();
  if (!Promotable()) {
    return absl::FailedPreconditionError("raft: cannot campaign: not a voter");
  }
  if (recovering_) {
    return absl::FailedPreconditionError(
        "raft: cannot campaign: recovering lost state, not caught up yet");
  }
  if (HasUnappliedConfChanges()) {
    return absl::FailedPreconditionError(
        "raft: cannot campaign: committed configuration changes are not yet applied");
  }
  StartElection(cfg_.pre_vote, /*transfer=*/false);
  return absl::OkStatus();
}

// [3.4] / [9.6]: ask every other voter; count our own vote. The vote
// requests wait in msgs_after_persist_ until the new term and self-vote are
// durable.
void Raft::StartElection(bool pre_vote, bool transfer) {
  Term vote_term;
  if (pre_vote) {
    BecomePreCandidate();
    vote_term = term_ + 1;
  } else {
    BecomeCandidate();
    vote_term = term_;
  }
  auto& cand = std::get<CandidateRole>(role_);
  cand.votes[cfg_.id] = true;
  if (TallyVotes(conf_.voters, cand.votes) == VoteResult::kWon) {
    if (pre_vote) {
      StartElection(false, transfer);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (NodeId v : conf_.voters) {
    if (v == cfg_.id) continue;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.to = v;
    m.term = vote_term;
    m.index = log_.LastIndex();
    m.log_term = log_.LastTerm();
    m.leader_transfer = transfer;
    Send(std::move(m));
  }
}

void Raft::Send(Message m) {
  m.from = cfg_.id;
  if (m.term == Term(0)) m.term = term_;
  const bool leader_may_send_now =
      role() == Role::kLeader &&
      (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
       m.type == MessageType::kSnapshot || m.type == MessageType::kTimeoutNow);
  if (leader_may_send_now) {
    msgs_.push_back(std::move(m));
  } else {
    msgs_after_persist_.push_back(std::move(m));
  }
}

absl::Status Raft::NotLeaderError() const {
  if (lead_ == kNoNode) return absl::FailedPreconditionError("not leader; leader unknown");
  return absl::FailedPreconditionError(absl::StrFormat("not leader; leader is %d", lead_.value()));
}

void Raft::Tick() {
  if (role() == Role::kLeader) {
    TickLeader();
    return;
  }
  ++election_elapsed_;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    (void)Campaign();  // Refusal (unapplied conf change, recovering) just waits.
  }
}

absl::Status Raft::Step(const Message& m) {
  if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // [4.2.3] A node that heard from a live leader within the minimum
      // election timeout ignores (pre)votes, so removed or partitioned
      // servers cannot disrupt; a leadership transfer overrides this.
      const bool in_lease =
          cfg_.check_quorum && lead_ != kNoNode && election_elapsed_ < cfg_.election_tick;
      if (in_lease && !m.leader_transfer) return absl::OkStatus();
    }
    if (m.type == MessageType::kPreVote) {
      // Never change term on a pre-vote request.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // A granted pre-vote carries the future term; counted below.
    } else {
      const bool from_leader = m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
                               m.type == MessageType::kSnapshot;
      const int elapsed = election_elapsed_;
      BecomeFollower(m.term, from_leader ? m.from : kNoNode);
      // Figure 2: a follower restarts its election timer only on hearing
      // from the current leader or on granting a vote (HandleVoteRequest).
      // A higher-term vote request that is then rejected must not restart
      // it, or a candidate with a stale log can hold off the only electable
      // node forever (found by the simulator with pre-vote off).
      if (m.type == MessageType::kVote) election_elapsed_ = elapsed;
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat)) {
      // A stale leader: tell it our term so it steps down (with pre-vote or
      // check-quorum our term may never reach it otherwise).
      Message resp;
      resp.type = MessageType::kAppResp;
      resp.to = m.from;
      Send(std::move(resp));
    } else if (m.type == MessageType::kPreVote) {
      Message resp;
      resp.type = MessageType::kPreVoteResp;
      resp.to = m.from;
      resp.reject = true;
      Send(std::move(resp));
    }
    return absl::OkStatus();
  }

  if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
    HandleVoteRequest(m);
    return absl::OkStatus();
  }
  switch (role()) {
    case Role::kLeader:
      StepLeader(m);
      break;
    case Role::kCandidate:
    case Role::kPreCandidate:
      StepCandidate(m);
      break;
    case Role::kFollower:
      StepFollower(m);
      break;
  }
  return absl::OkStatus();
}

// [3.4, 3.6.1] Grant at most one vote per term, only to an up-to-date log.
// A pre-vote for a future term is granted without recording anything.
void Raft::HandleVoteRequest(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  // A recovering replica may have voted before it lost its state: no vote.
  const bool can_vote =
      !recovering_ &&
      (vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) || (pre && m.term > term_));
  Message resp;
  resp.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  resp.to = m.from;
  if (can_vote && log_.IsUpToDate(m.index, m.log_term)) {
    resp.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    resp.term = term_;
    resp.reject = true;
    if (!pre && role() == Role::kCandidate && m.term == term_) RetrySplitVoteSoon(m);
  }
  Send(std::move(resp));
}

// Two candidates of one term each voted for themselves (both pre-votes won
// within one round trip, as when a killed leader's many groups time out at
// once): with a third voter gone, neither can win this term, and a full
// randomized timeout would pass before either tries again. The candidate
// whose log is more up to date (on a tie, the lower id) starts the next
// election at its next tick instead; the other keeps its full timeout, so
// the retry meets a voter that is not campaigning. Only a timer moves:
// safety does not depend on it.
void Raft::RetrySplitVoteSoon(const Message& rival) {
  const Term last_term = log_.LastTerm();
  const LogIndex last_index = log_.LastIndex();
  const bool rival_newer =
      rival.log_term > last_term || (rival.log_term == last_term && rival.index > last_index);
  const bool rival_older =
      rival.log_term < last_term || (rival.log_term == last_term && rival.index < last_index);
  if (rival_newer) return;
  if (!rival_older && cfg_.id.value() > rival.from.value()) return;
  election_elapsed_ = std::max(election_elapsed_, randomized_election_timeout_ - 1);
}

void Raft::HandleVoteResponse(const Message& m) {
  auto& cand = std::get<CandidateRole>(role_);
  const MessageType want = cand.pre_vote ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  if (m.type != want) return;
  cand.votes.emplace(m.from, !m.reject);
  switch (TallyVotes(conf_.voters, cand.votes)) {
    case VoteResult::kWon:
      if (cand.pre_vote) {
        StartElection(false, false);
      } else {
        BecomeLeader();
      }
      break;
    case VoteResult::kLost:
      BecomeFollower(term_, kNoNode);
      break;
    case VoteResult::kPending:
      break;
  }
}

void Raft::ApplyConfChange(const ConfChange& cc) {
  ApplyToConfState(conf_, cc);
  LeaderRole* lr = leader_role();
  if (lr == nullptr) return;
  // Reconcile progress with the new membership.
  for (auto it = lr->progress.begin(); it != lr->progress.end();) {
    const bool voter = IsVoterIn(conf_, it->first), learner = IsLearnerIn(conf_, it->first);
    if (!voter && !learner) {
      it = lr->progress.erase(it);
    } else {
      it->second.is_learner = learner;
      ++it;
    }
  }
  auto add = [&](NodeId id, bool learner) {
    if (lr->progress.contains(id)) return;
    Progress p(cfg_.max_inflight_msgs);
    p.next = log_.LastIndex() + 1;
    p.recent_active = true;
    p.is_learner = learner;
    lr->progress.emplace(id, std::move(p));
  };
  for (NodeId v : conf_.voters) add(v, false);
  for (NodeId l : conf_.learners) add(l, true);
  if (!IsVoter(cfg_.id)) {
    // [4.2.2] A leader removed from the configuration steps down once the
    // change is committed (and applied).
    BecomeFollower(term_, kNoNode);
    return;
  }
  if (lr->transferee != kNoNode && !IsVoter(lr->transferee)) AbortTransfer();
  // The quorum may be smaller now.
  if (MaybeCommit()) OnCommitAdvanced();
  ReleaseReads();
  BroadcastAppend();
}

void Raft::OnPersisted(LogIndex index, Term term) {
  log_.StableTo(index, term);
  LeaderRole* lr = leader_role();
  if (lr == nullptr) return;
  // PITFALLS #4: the leader counts itself only for durable entries.
  auto it = lr->progress.find(cfg_.id);
  if (it != lr->progress.end() && it->second.MaybeUpdate(log_.StableLastIndex())) {
    if (MaybeCommit()) OnCommitAdvanced();
  }
}

void Raft::OnSnapshotPersisted(LogIndex index) {
  log_.StableSnapTo(index);
  if (index > log_.applied() && index <= log_.committed()) log_.AppliedTo(index);
}

void Raft::OnApplied(const std::vector<Entry>& committed) {
  if (committed.empty()) return;
  for (const Entry& e : committed) {
    if (e.type != EntryType::kConfChange || e.index <= conf_index_) continue;
    conf_index_ = e.index;
    auto cc = DecodeConfChange(e.data);
    RAFT_CHECK(cc.ok());
    ApplyConfChange(*cc);
  }
  if (committed.back().index > log_.applied()) log_.AppliedTo(committed.back().index);
}

RaftStatus Raft::GetStatus() const {
  RaftStatus s;
  s.id = cfg_.id;
  s.role = role();
  s.term = term_;
  s.vote = vote_;
  s.leader = lead_;
  s.commit = log_.committed();
  s.applied = log_.applied();
  s.last_index = log_.LastIndex();
  s.conf_state = conf_;
  s.recovering = recovering_;
  if (const LeaderRole* lr = leader_role()) {
    s.lead_transferee = lr->transferee;
    for (const auto& [id, pr] : lr->progress) s.progress.emplace(id, pr.ToStatus());
  }
  return s;
}

}  // namespace raftlog::raft
