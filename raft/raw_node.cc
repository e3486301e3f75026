// RawNode: assembles Readys from the Raft state machine and applies the
// host's acknowledgements (see the contract in raw_node.h).
#include "raft/raw_node.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "raft/check.h"
#include "raft/raft.h"

namespace raftlog::raft {

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

std::string_view ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

std::optional<NodeId> LeaderHint(const absl::Status& s) {
  static constexpr char kPrefix[] = "not leader; leader is ";
  const std::string msg(s.message());
  if (s.code() != absl::StatusCode::kFailedPrecondition || msg.rfind(kPrefix, 0) != 0) {
    return std::nullopt;
  }
  uint64_t id = 0;
  if (!absl::SimpleAtoi(msg.substr(sizeof(kPrefix) - 1), &id) || id == 0) return std::nullopt;
  return NodeId(id);
}

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(const Config& config,
                                                         const LogStorage* storage) {
  auto r = Raft::Create(config, storage);
  if (!r.ok()) return r.status();
  return std::make_unique<RawNode>(std::move(*r));
}

RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {
  prev_soft_ = raft_->soft_state();
  prev_hard_ = raft_->hard_state();
}

RawNode::~RawNode() = default;

void RawNode::Tick() { raft_->Tick(); }
absl::Status RawNode::Campaign() { return raft_->Campaign(); }

absl::Status RawNode::Propose(std::string data) {
  std::vector<std::string> v;
  v.push_back(std::move(data));
  return raft_->Propose(std::move(v));
}

absl::Status RawNode::ProposeBatch(std::vector<std::string> data) {
  return raft_->Propose(std::move(data));
}

absl::Status RawNode::ProposeConfChange(const ConfChange& cc) {
  return raft_->ProposeConfChange(cc);
}

absl::Status RawNode::Step(Message m) {
  if (m.to != raft_->id()) {
    return absl::InvalidArgumentError("raft: message not addressed to this node");
  }
  if (m.from == kNoNode) return absl::InvalidArgumentError("raft: message without sender");
  return raft_->Step(m);
}

absl::Status RawNode::ReadIndex(std::string request_ctx) {
  return raft_->ReadIndex(std::move(request_ctx));
}

absl::Status RawNode::TransferLeadership(NodeId to) { return raft_->TransferLeadership(to); }
void RawNode::ReportUnreachable(NodeId id) { raft_->ReportUnreachable(id); }

bool RawNode::HasReady() const {
  if (outstanding_ready_ != 0) return false;
  const RaftLog& log = raft_->log();
  const HardState hs = raft_->hard_state();
  return raft_->soft_state() != prev_soft_ || (hs != prev_hard_ && !hs.IsEmpty()) ||
         log.UnstableSnapshot().has_value() || !log.UnstableEntries().empty() ||
         raft_->HasOutput() || log.HasNextCommittedEntries() || raft_->HasPendingAppends();
}

Ready RawNode::GetReady() {
  RAFT_CHECK(outstanding_ready_ == 0);  // Contract: Advance before GetReady.
  raft_->FlushAppends();
  Ready rd;
  rd.number = ++ready_count_;
  const SoftState ss = raft_->soft_state();
  if (ss != prev_soft_) {
    rd.soft_state = ss;
    prev_soft_ = ss;
  }
  const HardState hs = raft_->hard_state();
  if (hs != prev_hard_) {
    rd.hard_state = hs;
    prev_hard_ = hs;
  }
  RaftLog& log = raft_->log();
  rd.snapshot = log.UnstableSnapshot();
  rd.entries = log.UnstableEntries();
  rd.messages = raft_->TakeMessages();
  rd.messages_after_persist = raft_->TakeMessagesAfterPersist();
  rd.committed_entries = log.NextCommittedEntries(raft_->config().max_committed_size_per_ready);
  rd.read_states = raft_->TakeReadStates();
  outstanding_ready_ = rd.number;
  return rd;
}

void RawNode::Advance(const Ready& rd) {
  RAFT_CHECK(rd.number == outstanding_ready_ && rd.number != 0);
  outstanding_ready_ = 0;
  if (rd.snapshot) raft_->OnSnapshotPersisted(rd.snapshot->metadata.index);
  if (!rd.entries.empty()) raft_->OnPersisted(rd.entries.back().index, rd.entries.back().term);
  raft_->OnApplied(rd.committed_entries);
}

RaftStatus RawNode::Status() const { return raft_->GetStatus(); }
NodeId RawNode::id() const { return raft_->id(); }
NodeId RawNode::leader() const { return raft_->leader(); }
Role RawNode::role() const { return raft_->role(); }
Term RawNode::term() const { return raft_->term(); }
LogIndex RawNode::last_index() const { return raft_->log().LastIndex(); }
LogIndex RawNode::commit_index() const { return raft_->log().committed(); }
ConfState RawNode::conf_state() const { return raft_->conf_state(); }

}  // namespace raftlog::raft
