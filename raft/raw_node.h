// RawNode: the single-threaded API a host programs against (the shape of
// etcd's rawnode.go). The core does no I/O: the host feeds it ticks, received
// messages and proposals, and collects work from it as a Ready.
//
// THE READY CONTRACT [10.2.1]. Loop:
//   if (node.HasReady()) { Ready rd = node.GetReady(); ...; node.Advance(rd); }
// and handle each Ready in this order:
//   1. rd.messages may be sent at once, before or while step 2 runs. They are
//      only a leader's kApp / kHeartbeat / kSnapshot / kTimeoutNow, which may
//      leave before the leader's own write is durable [10.2.1]: the leader
//      counts itself toward a quorum only after Advance.
//   2. Persist, durably (fsync), in this order: rd.snapshot if set (install it
//      in storage, e.g. MemoryStorage::ApplySnapshot), then rd.entries
//      (append; an entry at an existing index replaces that entry and every
//      later one), then rd.hard_state if set. All of it must be durable
//      before step 3. A failed fsync is fatal: crash, never retry. The
//      writes need not be atomic together: after a crash between them the
//      core restarts with commit >= the snapshot index, commit >= every
//      config change that another config change follows in the log, and
//      term >= the last entry's term.
//   3. Send rd.messages_after_persist. These depend on step 2 (votes,
//      self-votes' vote requests, append and snapshot acknowledgements); they
//      must never leave before it.
//   4. Apply rd.committed_entries in order (skip kNoop; kConfChange entries
//      need no host action: the core applies them at Advance, the host may
//      read the new membership from conf_state() afterwards). If
//      rd.snapshot was set, restore the application from it first. Answer
//      rd.read_states once the applied index reaches ReadState::index.
//      Committed entries never exceed what is durable locally once step 2 is
//      done (they lie in storage or in this very rd.entries).
//   5. Advance(rd). This acknowledges durability of exactly what rd carried:
//      the core records the last entry of rd.entries as (term, index), never
//      the index alone, so an entry that was overwritten by a newer leader in
//      the meantime is not mistaken for the one persisted (PITFALLS #16); and
//      it marks rd.committed_entries as applied.
// Tick/Step/Propose/ReadIndex/... may be called at any time, also between
// GetReady and Advance; GetReady may not be called again before Advance
// (HasReady() returns false meanwhile).
//
// Not-leader answers: Propose* and TransferLeadership on a non-leader return
// FailedPrecondition "not leader; leader is N" (or "leader unknown"); use
// LeaderHint(status) to get N as a NodeId.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/config.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftlog::raft {

class Raft;

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view RoleName(Role r);

// Volatile state the host may want to watch (leader changes).
struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

// A confirmed linearizable read [6.4]: serve the read identified by
// request_ctx once the applied index >= index.
struct ReadState {
  LogIndex index;
  std::string request_ctx;
  friend bool operator==(const ReadState&, const ReadState&) = default;
};

struct Ready {
  uint64_t number = 0;                  // 1, 2, 3, ...; Advance must get the same Ready back.
  std::optional<SoftState> soft_state;  // Set when it changed.
  std::optional<HardState> hard_state;  // Set when it changed; persist.
  std::optional<Snapshot> snapshot;     // Persist and restore from it.
  std::vector<Entry> entries;           // Persist (append).
  std::vector<Message> messages;        // Send any time.
  std::vector<Message> messages_after_persist;  // Send after persisting.
  std::vector<Entry> committed_entries;         // Apply.
  std::vector<ReadState> read_states;
  // True if step 2 has anything to persist (entries, snapshot, hard state).
  bool MustSync() const { return snapshot.has_value() || !entries.empty() || hard_state; }
};

enum class ProgressState : uint8_t {
  kProbe,      // Leader does not know the follower's match; one kApp at a time.
  kReplicate,  // Pipelined kApp within the inflight window.
  kSnapshot,   // Sending InstallSnapshot chunks; no kApp.
};
std::string_view ProgressStateName(ProgressState s);

// A follower as the leader sees it.
struct ProgressStatus {
  LogIndex match;  // Highest index known replicated (durably) on the node.
  LogIndex next;   // Next index to send. Invariant: match < next.
  ProgressState state = ProgressState::kProbe;
  bool is_learner = false;
  bool recent_active = false;
  int inflight = 0;           // kApp messages in flight.
  LogIndex pending_snapshot;  // Snapshot index being sent (kSnapshot state).
};

struct RaftStatus {
  NodeId id;
  Role role = Role::kFollower;
  Term term;
  NodeId vote = kNoNode;
  NodeId leader = kNoNode;
  LogIndex commit;
  LogIndex applied;
  LogIndex last_index;
  NodeId lead_transferee = kNoNode;
  bool recovering = false;  // Config::recovering, until caught up
  ConfState conf_state;
  std::map<NodeId, ProgressStatus> progress;  // Leader only (includes self).
};

class RawNode {
 public:
  // Restores from storage (snapshot + hard state + log). `storage` must
  // outlive the node and is only read. InvalidArgument on a bad config.
  static absl::StatusOr<std::unique_ptr<RawNode>> Create(const Config& config,
                                                         const LogStorage* storage);
  explicit RawNode(std::unique_ptr<Raft> raft);  // Use Create().
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances logical time by one tick (election / heartbeat timeouts).
  void Tick();
  // Starts an election now (pre-vote first if enabled). FailedPrecondition if
  // this node is not a voter or has unapplied committed config changes.
  absl::Status Campaign();
  // Appends data to the leader's log. All proposals made before the next
  // GetReady go out in one append per follower.
  absl::Status Propose(std::string data);
  absl::Status ProposeBatch(std::vector<std::string> data);
  // Single-server membership change [4.1]. FailedPrecondition if another
  // change is not yet applied, if the leader has not yet committed an entry
  // of its term (PITFALLS #1), or if it would be a no-op/invalid.
  absl::Status ProposeConfChange(const ConfChange& cc);
  // Feeds a message from the network. InvalidArgument if not addressed to
  // this node. Stale messages are dropped silently (OK).
  absl::Status Step(Message m);
  // Requests a linearizable read [6.4]; the answer comes as a ReadState in a
  // later Ready (none if leadership is lost; the host retries on timeout).
  // FailedPrecondition if no leader is known.
  absl::Status ReadIndex(std::string request_ctx);
  // Leadership transfer [3.10] (leader only); aborted after an election
  // timeout. Proposals fail while it is in progress.
  absl::Status TransferLeadership(NodeId to);
  // The transport could not deliver to `id`: fall back to probing.
  void ReportUnreachable(NodeId id);

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& rd);

  RaftStatus Status() const;
  NodeId id() const;
  NodeId leader() const;
  Role role() const;
  Term term() const;
  // Index of the last entry in the log (durable or not). Right after a
  // successful Propose on the leader, the index the proposal got.
  LogIndex last_index() const;
  // Highest index known committed.
  LogIndex commit_index() const;
  // Membership as of the applied index.
  ConfState conf_state() const;

 private:
  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  HardState prev_hard_;
  // Number of the Ready handed out and not yet advanced (0 if none).
  uint64_t outstanding_ready_ = 0;
  uint64_t ready_count_ = 0;
};

// The leader id carried by a "not leader" status (std::nullopt if the status
// carries none, e.g. "leader unknown").
std::optional<NodeId> LeaderHint(const absl::Status& s);

}  // namespace raftlog::raft
