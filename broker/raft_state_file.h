// RaftStateFile: the small durable file beside a partition's log that holds
// what the partition log itself cannot: the Raft hard state (term, vote,
// commit) and the metadata of the group's snapshot (last index and term it
// covers, the offset that follows it, and the membership as of that index).
//
// Format of "raft-state" (big-endian, all integers unsigned unless noted):
//    0 u32 magic 0x524C5253 ("RLRS")
//    4 u32 version 1
//    8 u64 term
//   16 u64 vote                 0 = none
//   24 u64 commit
//   32 u64 snapshot_index       0 = no snapshot (empty log start)
//   40 u64 snapshot_term
//   48 i64 snapshot_next_offset first record offset after snapshot_index
//   56 u32 voter_count (V)
//   60 u32 learner_count (L)
//   64 u64 ids[V + L]           voters then learners, each sorted
//   64 + 8(V+L) u32 crc         CRC-32C of every byte before it
// Written atomically: write "raft-state.tmp", fsync, rename over
// "raft-state", fsync the directory; after a crash the file holds either the
// old or the new state, never a mix. Invariant: a file that exists but fails
// any check (size, magic, version, counts, CRC) is DataLoss; it is never
// treated as absent (PITFALLS #15). Only a brand-new group has no file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "storage/env.h"
#include "storage/log_types.h"

namespace raftlog::broker {

inline constexpr char kRaftStateFileName[] = "raft-state";

struct RaftState {
  raft::HardState hard_state;
  raft::LogIndex snapshot_index;  // 0 = the log has never been compacted.
  raft::Term snapshot_term;
  storage::Offset snapshot_next_offset;  // Offset of the first record after it.
  raft::ConfState conf_state;            // Membership as of snapshot_index.

  friend bool operator==(const RaftState&, const RaftState&) = default;
};

std::string EncodeRaftState(const RaftState& s);
// DataLoss on any malformation.
absl::StatusOr<RaftState> DecodeRaftState(const std::string& bytes);

// nullopt if the file does not exist; DataLoss if it exists and is bad.
absl::StatusOr<std::optional<RaftState>> ReadRaftState(storage::Env* env, const std::string& dir);
// Durable when it returns OK (see the header comment for the protocol).
absl::Status WriteRaftState(storage::Env* env, const std::string& dir, const RaftState& s);

}  // namespace raftlog::broker
