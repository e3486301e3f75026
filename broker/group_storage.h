// GroupStorage: what the node (broker/node.h) needs from a Raft group's
// storage, whichever engine keeps it: the partition log
// (PartitionRaftStorage) or RocksDB for the metadata group
// (RocksDbRaftStorage).
//
// Step 2 of raw_node.h's Ready contract is split in three so that one node
// can make the Readys of many groups durable together (group commit across
// groups): WriteReady for every group of a round, then SyncReady for every
// group (in parallel, on sync threads), then FinishReady. Each call is made
// for one group by one thread at a time, in this order, once per Ready with
// MustSync(); nothing else writes to the storage meanwhile (readers may run).
// Any error is fatal to this replica: the node stops the group.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/raw_node.h"
#include "raft/types.h"

namespace raftlog::broker {

class GroupStorage : public raft::LogStorage {
 public:
  // Writes rd.snapshot (if set) and rd.entries (an entry at an existing index
  // replaces it and every later one); they need not be durable yet.
  virtual absl::Status WriteReady(const raft::Ready& rd) = 0;
  // Makes everything WriteReady wrote durable (fsync). May run on another
  // thread than WriteReady/FinishReady, never concurrently with them.
  virtual absl::Status SyncReady() = 0;
  // Makes rd.hard_state durable where needed. Term and vote must be durable
  // on return; a change of commit alone may be kept lazily (raw_node.h: the
  // core recovers a safe commit floor after a restart).
  virtual absl::Status FinishReady(const raft::Ready& rd) = 0;

  // Drops the log prefix up to `index` (applied by the host, within
  // [FirstIndex(), LastIndex()]); `conf_state` is the membership as of it.
  virtual absl::Status Compact(raft::LogIndex index, const raft::ConfState& conf_state) = 0;
};

}  // namespace raftlog::broker
