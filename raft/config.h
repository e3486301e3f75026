// Config: the static parameters of one Raft node. Everything the core needs
// from its environment that is not a message or a tick: its id, timeouts in
// ticks, flow-control limits, feature switches and the seed of its only
// source of randomness (the election timeout), so runs are reproducible.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "raft/types.h"

namespace raftlog::raft {

enum class ReadOnlyOption : uint8_t {
  // ReadIndex [6.4]: the leader confirms it is still leader with a heartbeat
  // round before answering. Safe under any clock behaviour.
  kSafe,
  // Lease reads [6.4.1]: the leader answers from its commit index without a
  // round trip, relying on CheckQuorum having deposed it within an election
  // timeout. Correct only if clock drift between nodes is bounded (a tick on
  // one node lasts about as long as on another, so that a follower cannot
  // time out and elect a new leader before the old one's check fires).
  // Requires check_quorum. A leader that sent TimeoutNow (leadership
  // transfer overrides vote leases) falls back to kSafe for the term.
  kLeaseBased,
};

struct Config {
  NodeId id;  // Must be non-zero.

  // A follower that hears nothing from a leader for a randomized timeout in
  // [election_tick, 2*election_tick) ticks starts an election [3.4].
  // Invariant: election_tick > heartbeat_tick >= 1.
  int election_tick = 10;
  int heartbeat_tick = 1;

  // Index of the last entry the host applied before a restart (0 if none);
  // committed entries after it are handed out again.
  LogIndex applied;

  // Upper bound of entry bytes (EntrySize) per kApp message; at least one
  // entry is always sent.
  uint64_t max_size_per_msg = 1 << 20;
  // Upper bound of entry bytes in one Ready's committed_entries (at least one).
  uint64_t max_committed_size_per_ready = 64 << 20;
  // Replication window: kApp messages in flight per follower (>= 1).
  int max_inflight_msgs = 256;
  // Snapshot chunk size in bytes for InstallSnapshot (>= 1).
  uint64_t snapshot_chunk_size = 1 << 20;

  // Amnesia recovery (PITFALLS #14): this replica lost its durable state (a
  // node restarted on an empty disk under its old identity) and may have
  // voted, or acknowledged entries, that it no longer remembers. Until it has
  // caught up it neither campaigns, nor grants (pre-)votes, nor obeys
  // TimeoutNow. It has caught up once it follows a leader of its current
  // term and its commit index covers an entry of that term: then everything
  // committed before its disk was lost is in its log. At that moment it
  // records a vote for that leader (if none), so that it can never vote for
  // a second candidate in a term in which it may have voted before.
  bool recovering = false;

  bool pre_vote = true;      // Pre-Vote phase before real elections [9.6].
  bool check_quorum = true;  // Leader steps down without a live quorum [6.2].
  ReadOnlyOption read_only_option = ReadOnlyOption::kSafe;

  // Seed of the election-timeout RNG (mixed with id, so equal seeds on
  // different nodes still give different timeouts).
  uint64_t seed = 0;

  absl::Status Validate() const;
};

}  // namespace raftlog::raft
