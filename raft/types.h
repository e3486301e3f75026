// Value types of the Raft core: strong ids (Term, LogIndex, NodeId), log
// entries, persistent state (HardState), membership (ConfState, ConfChange),
// snapshots and the one wire Message struct (the shape of etcd's raftpb).
//
// Invariants worth knowing everywhere:
//  - NodeId 0 (kNoNode) means "nobody"; real nodes have ids >= 1.
//  - LogIndex 0 / Term 0 is the empty log's sentinel; the first entry is 1.
//  - A Term cannot be passed where a LogIndex is expected (distinct types).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/payload.h"

namespace raftlog::raft {

// A uint64 wrapped so that values of different meanings do not mix. Term and
// LogIndex get +/- with plain integers (index + 1); NodeId gets only
// comparisons.
template <typename Tag, bool kArithmetic>
class StrongU64 {
 public:
  constexpr StrongU64() = default;
  constexpr explicit StrongU64(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }

  friend constexpr auto operator<=>(StrongU64, StrongU64) = default;
  friend constexpr bool operator==(StrongU64, StrongU64) = default;

  constexpr StrongU64 operator+(uint64_t d) const requires kArithmetic { return StrongU64(v_ + d); }
  // Precondition: d <= value() (checked by callers; wraps otherwise).
  constexpr StrongU64 operator-(uint64_t d) const requires kArithmetic { return StrongU64(v_ - d); }
  constexpr StrongU64& operator++() requires kArithmetic {
    ++v_;
    return *this;
  }

  friend std::ostream& operator<<(std::ostream& os, StrongU64 v) { return os << v.v_; }

 private:
  uint64_t v_ = 0;
};

struct TermTag {};
struct LogIndexTag {};
struct NodeIdTag {};
using Term = StrongU64<TermTag, true>;
using LogIndex = StrongU64<LogIndexTag, true>;
using NodeId = StrongU64<NodeIdTag, false>;

inline constexpr NodeId kNoNode{0};

enum class EntryType : uint8_t {
  kNormal = 0,      // application data; the host applies it.
  kNoop = 1,        // appended by a new leader [3.6.2, 6.4]; data empty; host skips.
  kConfChange = 2,  // data = EncodeConfChange(...); applied by the core on Advance.
};

struct Entry {
  Term term;
  LogIndex index;
  EntryType type = EntryType::kNormal;
  Payload data;  // Immutable and shared: copying an Entry copies no bytes.

  friend bool operator==(const Entry&, const Entry&) = default;
};

// Bytes an entry counts for in size limits (max_size_per_msg).
inline uint64_t EntrySize(const Entry& e) { return e.data.size() + 24; }

// What must be durable before messages that depend on it leave [3.8, 10.2.1].
struct HardState {
  Term term;
  NodeId vote = kNoNode;  // Candidate voted for in `term`; kNoNode if none.
  LogIndex commit;        // Invariant: commit <= last durable log index.

  friend bool operator==(const HardState&, const HardState&) = default;
  bool IsEmpty() const { return *this == HardState{}; }
};

// Cluster membership. Single-server changes only (no joint consensus), so
// there is no outgoing voter set. Invariant: voters and learners are sorted,
// disjoint and free of duplicates.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  friend bool operator==(const ConfState&, const ConfState&) = default;
};

enum class ConfChangeType : uint8_t {
  kAddVoter = 0,    // new voter, or promote an existing learner.
  kRemoveNode = 1,  // remove a voter or a learner.
  kAddLearner = 2,  // new learner, or demote a voter to learner.
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId node;
  std::string context;  // Opaque to the core (e.g. the node's address).

  friend bool operator==(const ConfChange&, const ConfChange&) = default;
};

std::string EncodeConfChange(const ConfChange& cc);
absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data);

struct SnapshotMetadata {
  LogIndex index;        // Last log index the snapshot covers.
  Term term;             // Term of the entry at `index`.
  ConfState conf_state;  // Membership as of `index`.

  friend bool operator==(const SnapshotMetadata&, const SnapshotMetadata&) = default;
};

struct Snapshot {
  SnapshotMetadata metadata;
  std::string data;  // Opaque application state.

  bool IsEmpty() const { return metadata.index == LogIndex(0); }
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

enum class MessageType : uint8_t {
  kVote,  // RequestVote [3.4].
  kVoteResp,
  kPreVote,  // Pre-Vote [9.6]; term = sender's term + 1; changes no state.
  kPreVoteResp,
  kApp,  // AppendEntries with entries [3.5].
  kAppResp,
  kHeartbeat,  // AppendEntries without entries; carries read_seq [6.4].
  kHeartbeatResp,
  kSnapshot,      // One InstallSnapshot chunk [5.3].
  kSnapshotResp,  // Per-chunk acknowledgement.
  kTimeoutNow,    // Leadership transfer: campaign now [3.10].
  kReadIndex,     // Follower forwards a read request to the leader [6.4].
  kReadIndexResp,
};

std::string_view MessageTypeName(MessageType t);

// One struct for every message; fields unused by a type stay default.
struct Message {
  MessageType type = MessageType::kApp;
  NodeId from;
  NodeId to;
  // Sender's term. For kPreVote: the term the sender would campaign in; for a
  // granted kPreVoteResp: the term of the request.
  Term term;
  // kApp: term of the entry at `index` (prev_log_term). kVote/kPreVote: term of
  // the candidate's last entry.
  Term log_term;
  // kApp: index preceding `entries` (prev_log_index). kAppResp: on success the
  // last index known to match the leader; on reject the rejected prev index.
  // kVote/kPreVote: candidate's last index. kReadIndexResp: the read index.
  // kSnapshotResp: the snapshot's index.
  LogIndex index;
  std::vector<Entry> entries;  // kApp only.
  LogIndex commit;             // kApp/kHeartbeat: leader commit (already bounded).
  bool reject = false;
  // kAppResp reject: fast back-off hint [3.5]: reject_hint_term is the term
  // of the follower's entry at the rejected index and reject_hint the first
  // index the follower has with that term; reject_hint_term 0 means the
  // follower's log is too short and reject_hint is its last index + 1.
  LogIndex reject_hint;
  Term reject_hint_term;

  // kSnapshot: chunk `snapshot_data` sits at byte `snapshot_offset` of the
  // snapshot described by `snapshot`, whose data is `snapshot_total_size`
  // bytes; `snapshot_done` marks the last chunk. kSnapshotResp: reject=false
  // acknowledges bytes up to `snapshot_offset`; reject=true asks to restart
  // from offset 0.
  SnapshotMetadata snapshot;
  uint64_t snapshot_offset = 0;
  uint64_t snapshot_total_size = 0;
  std::string snapshot_data;
  bool snapshot_done = false;

  std::string context;           // kReadIndex/kReadIndexResp: the host's request ctx.
  uint64_t read_seq = 0;         // kHeartbeat/kHeartbeatResp: ReadIndex round id.
  bool leader_transfer = false;  // kVote/kPreVote: sent because of TimeoutNow.

  friend bool operator==(const Message&, const Message&) = default;
};

std::string DebugString(const Message& m);
std::string DebugString(const Entry& e);

}  // namespace raftlog::raft

template <typename Tag, bool kA>
struct std::hash<raftlog::raft::StrongU64<Tag, kA>> {
  size_t operator()(raftlog::raft::StrongU64<Tag, kA> v) const noexcept {
    return std::hash<uint64_t>()(v.value());
  }
};
