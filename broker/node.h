// Node: the multi-Raft host of one raftlogd (DESIGN decision 5). It runs
// every Raft group this node holds a replica of on ONE loop thread with one
// shared logical clock, plus a fixed SyncPool for writes and fsyncs; no
// thread or timer per group.
//
// THE LOOP (one iteration):
//   1. Take everything queued since the last iteration, under one lock:
//      received messages (from the transport), proposals, tasks.
//   2. If a tick is due (every tick_ms), Tick() every group.
//   3. Step messages into their groups; run tasks and proposals.
//   4. A ROUND over every group with a Ready (raw_node.h's contract). Only
//      ROUND CANDIDATES are asked (HasReady), not every hosted group: the
//      groups a message, proposal or read reached since the last round, the
//      groups that had a Ready in it (Advance may leave more work), and
//      every group after a tick, an unreachable peer or any other task
//      (group management, status, ...), so that 1,000 quiet groups cost
//      nothing per round:
//      a. GetReady; collect rd.messages of ALL groups per peer and hand each
//         peer its messages in one Send (one batch per peer per round: all
//         heartbeats of a tick travel together);
//      b. persist every Ready that must sync, in parallel on the SyncPool:
//         WriteReady, SyncReady (fsync), FinishReady per group: this is the
//         group commit, one fsync per active group per round, many at once;
//      c. send rd.messages_after_persist (again one Send per peer), apply
//         committed entries (resolving proposals), Advance.
//      A partition leader's commit notices (appends without entries) are
//      held until the next append to that follower or the next tick (see
//      COMMIT NOTICES below).
//      Rounds repeat while groups have Readys (bounded), then the loop waits
//      for new work or the next tick.
// Proposals that arrive while a round is persisting are batched into the
// next round, so throughput grows with concurrency.
//
// Threading: public methods are thread-safe; they enqueue work for the loop
// and (the blocking ones) wait for its answer. Callbacks run on the loop
// thread and must not block. A group whose storage fails is stopped (its
// proposals fail; Status shows the error); the node keeps running.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/group_state_machine.h"
#include "broker/log_checksum.h"
#include "broker/node_journal.h"
#include "broker/raft_group.h"
#include "broker/sync_pool.h"
#include "broker/transport.h"
#include "raft/raw_node.h"
#include "storage/partition_log.h"

namespace raftlog::broker {

// How a round's writes are made durable (docs/ARCHITECTURE.md, durability):
//  kJournal:  partition entries also go to the node journal
//             (broker/node_journal.h); ONE fdatasync of it per round; the
//             segment logs are fsynced in the background (checkpoint) and the
//             journal replayed into them at start. The default. A round that
//             wrote few groups (<= journal_max_direct_groups), none of which
//             has entries in a journal file not yet checkpointed, fsyncs
//             those logs directly instead (no double write); the condition
//             keeps replay from ever putting back entries a direct write
//             replaced.
//  kPerGroup: every written log is fdatasync'ed, on the SyncPool in parallel;
//  kSyncfs:   one syncfs() of the data directory's filesystem per round, then
//             each log's (now clean, so cheap) fdatasync to keep its own
//             flushed state and surface any error.
// The metadata group (RocksDB) always syncs its own WAL.
enum class SyncMode { kJournal, kPerGroup, kSyncfs };

// The metadata group's storage and the state machine applied on it.
struct MetadataHost {
  std::unique_ptr<GroupStorage> storage;
  std::unique_ptr<GroupStateMachine> state_machine;
};

struct NodeOptions {
  raft::NodeId id;
  // Partition groups live in <data_dir>/groups/<20-digit group id>/.
  std::string data_dir;
  int tick_ms = 100;
  int election_ticks = 10;
  int heartbeat_ticks = 3;
  // false: never fsync (tests and benchmarks of the CPU path only).
  bool sync = true;
  int sync_threads = 8;
  SyncMode sync_mode = SyncMode::kJournal;
  // Start in amnesia recovery (BeginRecovery before Start).
  bool recovering = false;
  // kJournal: the journal file is rotated and the logs written meanwhile
  // fsynced in the background once it holds this many bytes or is this old.
  uint64_t journal_rotate_bytes = 64ull << 20;
  int journal_rotate_ms = 10000;
  int journal_max_direct_groups = 4;
  // kJournal (with sync): each partition's appends gather in memory up to
  // this many bytes before one write to its segment
  // (PartitionLogOptions::write_buffer_bytes): with many groups a round
  // brings each only a few small entries, and one write per group per round
  // cost more than the journal write. Safe because whatever a crash takes
  // from the segments is in the journal, which checkpoints only after the
  // logs are synced (flushed). Held until written: at most this much per
  // group written since the last checkpoint; none once synced. 0 = off.
  size_t journal_segment_buffer_bytes = 16 << 10;
  storage::PartitionLogOptions log_options;
  // How messages leave this node (the Transport, or an in-process router in
  // tests). Called on the loop thread; must not block.
  std::function<void(raft::NodeId to, std::vector<GroupMessage> messages)> send;
  // Optional: how the metadata group's storage (RocksDB) and state machine
  // (may be null) are opened; unset = the node hosts no metadata group.
  std::function<absl::StatusOr<MetadataHost>(const raft::ConfState& initial)> open_metadata;
  raft::ConfState metadata_voters;
  // Optional: called on the loop thread when a partition group's high
  // watermark advanced (wakes long-poll fetches). Must not block.
  std::function<void(GroupId)> on_high_watermark;
  // Upper bound of Readys handled per round, to keep rounds short.
  int max_readys_per_round = 4096;
};

struct FollowerStatus {
  raft::NodeId node;
  raft::ProgressStatus progress;
  uint64_t lag = 0;  // leader's last index - match
};

struct GroupStatusInfo {
  GroupId group = 0;
  raft::RaftStatus raft;
  std::vector<FollowerStatus> followers;  // leader only
  raft::LogIndex first_index;
  int64_t log_start_offset = 0;
  int64_t high_watermark = 0;
  int64_t log_end_offset = 0;
  std::string failure;  // empty when healthy
};

struct NodeCounters {
  uint64_t rounds = 0;
  uint64_t readys = 0;
  uint64_t synced_readys = 0;
  uint64_t ticks = 0;
  uint64_t journal_syncs = 0;
  uint64_t checkpoints = 0;
};

class Node : public TransportSink {
 public:
  explicit Node(NodeOptions options);
  ~Node() override;  // Stop()s if needed.
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Opens every group found under data_dir (and the metadata group if
  // configured), then starts the loop thread.
  absl::Status Start();
  // Hands leadership of every group it leads to the most up-to-date
  // follower, waits until none is led here or `transfer_timeout` passed,
  // then stops the loop (finishing the round in progress, so no fsync is cut
  // short). Idempotent.
  void Shutdown(std::chrono::milliseconds transfer_timeout);
  // Stops the loop without handing leadership away (crash-like, for tests).
  void Stop();

  // ---- TransportSink (any thread) ----
  void Deliver(raft::NodeId from, std::vector<GroupMessage> messages) override;
  void PeerUnreachable(raft::NodeId peer) override;

  // ---- Group management (blocking, any thread but the loop) ----
  // Creates this node's replica of `group` with initial membership `voters`
  // if it does not exist. Returns true if created.
  absl::StatusOr<bool> EnsureGroup(GroupId group, std::vector<raft::NodeId> voters);
  // Stops the replica and deletes its directory.
  absl::Status RemoveGroup(GroupId group);
  absl::Status TransferLeader(GroupId group, raft::NodeId to);
  // Drops the log prefix up to `index` (0 = applied); returns the new first index.
  absl::StatusOr<raft::LogIndex> CompactLog(GroupId group, raft::LogIndex index);
  // Checksum of this replica's log over [from, to] (log_checksum.h); OutOfRange
  // unless first index <= from <= to <= commit index. Reads on the loop
  // thread (it pauses this node's groups while it reads): tests and debugging.
  absl::StatusOr<LogChecksum> LogChecksumOf(GroupId group, raft::LogIndex from, raft::LogIndex to);

  // Amnesia recovery (PITFALLS #14): this node restarted on an empty disk in
  // an existing cluster. While set, every group it opens or creates starts
  // with raft::Config::recovering (no votes, no campaigns until caught up).
  // BeginRecovery must be called before Start(); EndRecovery once every
  // hosted group has caught up (ReplicaManager decides). Thread-safe.
  void BeginRecovery() { recovering_.store(true); }
  void EndRecovery() { recovering_.store(false); }
  bool recovering() const { return recovering_.load(); }
  // Partition replicas found damaged at start are set aside and rebuilt in
  // amnesia recovery (QuarantineGroup in node.cc); this drops the recovery
  // marker of each such group that has caught up since. Returns how many.
  size_t FinishGroupRecoveries();
  // Every group's status (all if `groups` is empty). Unavailable until the
  // node has started (it may be recovering groups from disk) and once stopped.
  absl::StatusOr<std::vector<GroupStatusInfo>> Status(const std::vector<GroupId>& groups);
  NodeCounters Counters();
  // kJournal: rotates the journal now (if anything was journaled) and waits
  // until the checkpoint has made the logs durable and dropped the old file.
  absl::Status Checkpoint();

  // ---- Proposals (async, any thread) ----
  // `done` runs on the loop thread when committed or failed. FailedPrecondition
  // "not leader; leader is N" / "leader unknown" when this replica does not lead.
  // Fails with DEADLINE_EXCEEDED (outcome unknown) if not committed within
  // `timeout`.
  void Propose(GroupId group, std::vector<std::string> entries, ProposeCallback done,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // The same, and `appended` (acks=1) runs on the loop thread once the
  // entries are durable in this leader's own log, before commit (with the
  // result `done` would carry; not called if the proposal fails first).
  void Propose(GroupId group, std::vector<std::string> entries, ProposeCallback done,
               std::chrono::milliseconds timeout, ProposeCallback appended);
  // Linearizable read barrier [6.4] (async, any thread): `done` runs on the
  // loop thread with the confirmed read index once this replica has applied
  // it, so a local read of the group's state then sees every write
  // acknowledged before the call. Unavailable if no leader is known or the
  // node stops; DeadlineExceeded after `timeout` (safe to retry).
  void ReadIndex(GroupId group, ReadIndexCallback done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // A hosted group for readers on other threads (null if absent).
  std::shared_ptr<RaftGroup> FindGroup(GroupId group) const;
  // The ids of every hosted group (the metadata group's too), ascending.
  std::vector<GroupId> GroupIds() const;
  raft::NodeId id() const { return options_.id; }

 private:
  struct Inbox {
    std::vector<std::pair<raft::NodeId, std::vector<GroupMessage>>> messages;
    std::vector<std::function<void()>> tasks;
    std::vector<raft::NodeId> unreachable;
    // A task not confined to one group (it marks its own group a round
    // candidate) is queued: every group is a candidate after the tasks.
    bool unscoped_task = false;
  };
  struct Work {
    RaftGroup* group;
    raft::Ready ready;
    absl::Status persisted;
  };

  void Loop();
  // Queues `task` for the loop thread; false once the node is stopping.
  // `group_scoped`: the task touches one group and marks it a round
  // candidate itself (MarkCandidate); otherwise every group becomes one.
  bool EnqueueTask(std::function<void()> task, bool group_scoped = false);
  // ROUND CANDIDATES (loop thread).
  void MarkCandidate(RaftGroup& g);
  void MarkAllCandidates();
  // Runs `task` on the loop thread and waits for it.
  absl::Status RunOnLoop(std::function<void()> task);
  struct OpenedStorage {
    std::unique_ptr<GroupStorage> storage;
    PartitionRaftStorage* partition = nullptr;  // same object; null for metadata
    std::unique_ptr<GroupStateMachine> state_machine;
  };
  absl::StatusOr<OpenedStorage> OpenStorage(GroupId group, const raft::ConfState& conf);
  absl::StatusOr<std::shared_ptr<RaftGroup>> MakeGroup(GroupId group, OpenedStorage opened);
  absl::StatusOr<std::shared_ptr<RaftGroup>> OpenGroup(GroupId group, const raft::ConfState& conf);
  absl::Status OpenExistingGroups();
  // Replays the journal into the opened partition logs, syncs them, and
  // starts a fresh journal.
  absl::Status ReplayJournal(std::map<GroupId, OpenedStorage>& opened);
  // kJournal: persist a round with one journal fsync.
  void PersistWithJournal(std::vector<Work*>& todo);
  // kJournal: rotates the journal when due and hands the written logs to
  // the checkpoint thread (at once if `force`).
  void MaybeCheckpoint(bool force = false);
  void CheckpointLoop();
  void StepMessages(std::vector<std::pair<raft::NodeId, std::vector<GroupMessage>>>& batches);
  void TickAll();
  // One round; returns the number of Readys handled.
  size_t Round();
  // Step 4b of a round: makes every Ready in `work` that must sync durable.
  void Persist(std::vector<Work>& work);
  void SendGrouped(std::map<raft::NodeId, std::vector<GroupMessage>>& out);
  // COMMIT NOTICES. After a commit the leader's core sends every follower an
  // append without entries (its prev index is the leader's last index) that
  // only carries the new commit index, and the follower answers it: per
  // proposal that is as many messages, and thread wake-ups on three nodes,
  // as the replication itself, competing for the CPU with the answer to
  // the client. A partition group's notice is held instead (the newest per
  // follower) and dropped when a later append to that follower carries the
  // commit anyway (the next proposal), else sent at the next tick. Only a
  // follower's knowledge of the commit index waits (at most a tick; the
  // leader alone answers clients and serves reads), never a proposal: the
  // leader's commit needs the followers' answers to appends WITH entries.
  // (An empty probe of a follower whose log ends where the leader's does
  // has the same shape: it too waits at most a tick.) The metadata group
  // is not held (followers apply metadata promptly).
  // Returns true if `m` was held (moved from).
  bool HoldCommitNotice(RaftGroup& g, raft::Message& m);
  void FlushCommitNotices();
  std::map<std::pair<raft::NodeId, GroupId>, raft::Message> held_;
  void FailGroup(RaftGroup& g, absl::Status why);
  std::string GroupDir(GroupId group) const;
  raft::Config RaftConfig(raft::LogIndex applied) const;
  std::string RecoveryMarkerPath(GroupId group) const;
  absl::Status QuarantineGroup(GroupId group, const absl::Status& why);
  GroupStatusInfo StatusOf(RaftGroup& g);

  const NodeOptions options_;
  std::atomic<bool> recovering_{options_.recovering};
  // Groups set aside as damaged, rebuilt in amnesia recovery until caught
  // up (a marker file each). Start() and then the loop thread only.
  std::set<GroupId> recovering_groups_;
  // Its size, readable from any thread: FinishGroupRecoveries skips the
  // loop round trip when no group is recovering (the common case).
  std::atomic<size_t> recovering_group_count_{0};
  SyncPool sync_pool_;

  mutable std::mutex mu_;  // guards inbox_, stopping_, groups_ (the table, not the groups)
  std::condition_variable cv_;
  Inbox inbox_;
  bool stopping_ = false;
  // Hashed: the loop looks a group up for every message and round candidate
  // (an ordered map's walk was ~7% of an idle node with 1,000 groups).
  // Iteration order is unspecified; GroupIds() and Status() sort.
  absl::flat_hash_map<GroupId, std::shared_ptr<RaftGroup>> groups_;

  // Loop thread only.
  // Groups that may have a Ready (ROUND CANDIDATES), each at most once (its
  // RaftGroup::round_candidate flag); ids, so a removed group is skipped.
  std::vector<GroupId> candidates_;
  std::vector<GroupId> scanning_;  // the round's candidates (reused)
  std::vector<Work> work_;         // the round's Readys (reused)
  std::chrono::steady_clock::time_point next_tick_;
  NodeCounters counters_;
  uint64_t seed_ = 0;

  std::thread loop_;
  bool started_ = false;
  int data_dir_fd_ = -1;  // for syncfs

  // Journal (loop thread, except as noted).
  std::unique_ptr<NodeJournal> journal_;
  std::set<GroupId> dirty_;          // partition groups journaled since the last rotation
  std::set<GroupId> checkpointing_;  // journaled groups of the checkpoint in flight
  std::chrono::steady_clock::time_point last_rotation_;
  struct CheckpointJob {
    std::vector<std::shared_ptr<RaftGroup>> groups;
    uint64_t up_to_sequence = 0;
  };
  std::mutex checkpoint_mu_;  // guards the three below (shared with the checkpoint thread)
  std::condition_variable checkpoint_cv_;
  std::optional<CheckpointJob> checkpoint_job_;
  bool checkpoint_busy_ = false;
  bool checkpoint_stop_ = false;
  // A checkpoint failed: journal files may outlive their checkpoint, so
  // direct (unjournaled) writes are off for good; replay stays chronological.
  bool checkpoint_failed_ = false;
  uint64_t checkpoints_done_ = 0;
  std::thread checkpoint_thread_;
};

}  // namespace raftlog::broker
