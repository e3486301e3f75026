// Raft: the protocol state machine behind RawNode (internal to raft/; hosts
// use raw_node.h). Single-threaded, no I/O, no clock: time is Tick(), input
// is Step(), output is the message queues and the log's unstable tail.
//
// The role is a std::variant (scylladb's fsm.hh shape) so that leader-only
// state (progress, ReadIndex queue, transfer target) exists only while
// leading. Step functions per role live in raft_leader.cc and
// raft_follower.cc (follower and candidate); this file's raft.cc holds term
// handling, voting, ticks and role transitions.
//
// Invariants:
//  - vote_ is a vote cast in term_; it is reset only when term_ grows.
//  - Pre-vote never changes term_ or vote_ (PITFALLS #3).
//  - The leader's own match counts only entries reported durable through
//    OnPersisted (PITFALLS #4), and only current-term entries are committed
//    by counting replicas [3.6.2].
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/config.h"
#include "raft/log_storage.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/raw_node.h"
#include "raft/read_only.h"
#include "raft/types.h"

namespace raftlog::raft {

// Deterministic PRNG (splitmix64) for the randomized election timeout.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();

 private:
  uint64_t state_;
};

// A snapshot being received chunk by chunk (follower).
struct IncomingSnapshot {
  NodeId from;
  SnapshotMetadata metadata;
  uint64_t total_size = 0;
  std::string data;  // Invariant: data.size() <= total_size.
};

struct FollowerRole {
  std::optional<IncomingSnapshot> incoming;
};

struct CandidateRole {
  bool pre_vote = false;
  std::map<NodeId, bool> votes;
};

// A ReadIndex request received before the leader committed an entry of its
// term; served once it has (PITFALLS #2).
struct WaitingRead {
  NodeId from;
  std::string ctx;
};

struct LeaderRole {
  std::map<NodeId, Progress> progress;  // Every voter and learner, self included.
  ReadOnly read_only;
  std::vector<WaitingRead> waiting_reads;
  NodeId transferee = kNoNode;
  // Ticks since the transfer started; aborted after an election timeout.
  int transfer_elapsed = 0;
  // Set once this leader sent TimeoutNow: the target may win an election
  // that overrides vote leases, so lease reads are no longer safe this term.
  bool lease_revoked = false;
  // Index of the latest config-change entry appended; a new one may be
  // proposed only when applied >= it (one change in flight).
  LogIndex pending_conf_index;
  // Proposals appended since the last broadcast (batched until FlushAppends).
  bool append_pending = false;
  // ReadIndex requests queued since the last heartbeat round; one round
  // (sent at FlushAppends) confirms all of them.
  bool read_heartbeat_pending = false;
};

class Raft {
 public:
  static absl::StatusOr<std::unique_ptr<Raft>> Create(const Config& config,
                                                      const LogStorage* storage);

  // ---- inputs ----
  void Tick();
  absl::Status Campaign();
  absl::Status Propose(std::vector<std::string> data);
  absl::Status ProposeConfChange(const ConfChange& cc);
  absl::Status Step(const Message& m);
  absl::Status ReadIndex(std::string ctx);
  absl::Status TransferLeadership(NodeId to);
  void ReportUnreachable(NodeId id);

  // ---- Ready plumbing (RawNode) ----
  // Sends the kApp messages for proposals, and the heartbeat round for
  // ReadIndex requests, batched since the last call.
  void FlushAppends();
  bool HasPendingAppends() const;
  bool HasOutput() const {
    return !msgs_.empty() || !msgs_after_persist_.empty() || !read_states_.empty();
  }
  std::vector<Message> TakeMessages() { return std::exchange(msgs_, {}); }
  std::vector<Message> TakeMessagesAfterPersist() { return std::exchange(msgs_after_persist_, {}); }
  std::vector<ReadState> TakeReadStates() { return std::exchange(read_states_, {}); }
  // The host made entries up to (index, term) durable.
  void OnPersisted(LogIndex index, Term term);
  void OnSnapshotPersisted(LogIndex index);
  // The host applied these committed entries (applies config changes).
  void OnApplied(const std::vector<Entry>& committed);

  // ---- state ----
  SoftState soft_state() const { return SoftState{lead_, role()}; }
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  const Config& config() const { return cfg_; }
  NodeId id() const { return cfg_.id; }
  NodeId leader() const { return lead_; }
  Term term() const { return term_; }
  Role role() const;
  const ConfState& conf_state() const { return conf_; }
  RaftStatus GetStatus() const;
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  bool recovering() const { return recovering_; }

  // Use Create().
  Raft(const Config& config, const LogStorage* storage);

 private:
  absl::Status Init();
  absl::StatusOr<LogIndex> CommitFloorFromConfChanges() const;

  // raft.cc: roles and elections.
  void BecomeFollower(Term term, NodeId lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void ResetTimers();
  void StartElection(bool pre_vote, bool transfer);
  void HandleVoteRequest(const Message& m);
  void RetrySplitVoteSoon(const Message& rival);
  void DropUnsentAppendAcksFrom(LogIndex from);
  void HandleVoteResponse(const Message& m);
  bool Promotable() const;
  bool IsVoter(NodeId id) const;
  bool HasUnappliedConfChanges() const;
  void ApplyConfChange(const ConfChange& cc);
  // Queues m (sets from; term unless preset) in msgs_ or msgs_after_persist_.
  void Send(Message m);
  absl::Status NotLeaderError() const;

  // raft_leader.cc
  void TickLeader();
  void StepLeader(const Message& m);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  void HandleSnapshotResponse(const Message& m);
  // Sends a kApp (or starts a snapshot) to `to` if its progress allows.
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void BroadcastAppend();
  void BroadcastHeartbeat(uint64_t read_seq);
  void SendHeartbeat(NodeId to, uint64_t read_seq);
  void StartSnapshot(NodeId to, Progress& pr);
  void SendSnapshotChunk(NodeId to, Progress& pr);
  bool MaybeCommit();
  void OnCommitAdvanced();
  bool CommittedInCurrentTerm() const;
  void ServeRead(NodeId from, std::string ctx);
  void ReleaseReads();
  void DeliverRead(NodeId from, LogIndex index, std::string ctx);
  void AbortTransfer();
  void SendTimeoutNow(NodeId to);
  absl::Status AppendProposals(std::vector<Entry> ents);
  LogIndex FastBackoffNext(const Message& m) const;

  // raft_follower.cc
  void StepFollower(const Message& m);
  // Ends amnesia recovery once caught up (Config::recovering).
  void MaybeFinishRecovery();
  void StepCandidate(const Message& m);
  void HandleAppendEntries(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshotChunk(const Message& m);
  // Installs s if it is newer than our commit; returns false if stale.
  bool Restore(const Snapshot& s);

  LeaderRole* leader_role() { return std::get_if<LeaderRole>(&role_); }
  const LeaderRole* leader_role() const { return std::get_if<LeaderRole>(&role_); }

  Config cfg_;
  bool recovering_ = false;  // Config::recovering until MaybeFinishRecovery.
  RaftLog log_;
  Term term_;
  NodeId vote_ = kNoNode;  // Vote cast in term_.
  NodeId lead_ = kNoNode;  // Known leader of term_.
  ConfState conf_;         // Membership as of the applied index.
  // Log index conf_ reflects (a snapshot's or a conf-change entry's); older
  // conf changes reported applied later (a snapshot was restored between
  // GetReady and Advance) are already contained in conf_ and are skipped.
  LogIndex conf_index_;
  std::variant<FollowerRole, CandidateRole, LeaderRole> role_;

  // Ticks since the last valid leader contact (follower) or since the last
  // CheckQuorum round / transfer start (leader).
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  // Invariant: election_tick <= randomized < 2 * election_tick.
  int randomized_election_timeout_ = 0;
  SplitMix64 rng_;

  std::vector<Message> msgs_;                // May be sent before persisting.
  std::vector<Message> msgs_after_persist_;  // Only after persisting.
  std::vector<ReadState> read_states_;
};

}  // namespace raftlog::raft
