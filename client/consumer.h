// Consumer: reads records from partitions, in a consumer group or by hand,
// with Kafka's consumer model.
//   - Subscribe(topics): joins the group (GroupCoordinator: JoinGroup, then
//     SyncGroup for this member's partitions, assigned server-side by the
//     first assignor every member supports); a background thread heartbeats
//     every heartbeat_interval and flags a rebalance, which the next Poll
//     carries out: commit (auto-commit), OnRevoked, join, sync, OnAssigned.
//   - Assign(partitions): no group membership; offsets still committable
//     when group_id is set (as a "simple consumer").
//   - Positions start at the committed offset, else auto_offset_reset
//     (earliest / latest / none = error); Seek, SeekToBeginning/End move them.
//   - Poll fetches from every assigned partition's leader at once (one
//     long-poll Fetch per leader, committed records only), follows leader
//     changes (metadata refresh on NOT_LEADER), resets out-of-range offsets
//     by policy, and returns at most max_poll_records, in offset order per
//     partition.
//   - Prefetch (as Kafka's consumer): before Poll returns, it sends the next
//     Fetch for the partitions with nothing buffered and no Fetch in flight
//     (one Fetch per leader at a time), so the next batches travel while
//     the application handles these. It long-polls only when nothing is
//     left to hand out (else the broker answers at once, so that a
//     caught-up partition cannot hold its leader's Fetch while the others
//     run dry). Fetched bytes are kept as returned (whole batches) and
//     decoded in Poll, one batch at a time, as records are handed out
//     (CRC checked, as Kafka's clients do); a record's key and value are
//     Bytes viewing the fetched buffer (or a compressed batch's
//     decompressed records), which each keeps alive: no copy or allocation
//     per record. Partitions are served in the order their data arrived. Seek,
//     SeekToBeginning/End, an out-of-range reset, Assign and a rebalance
//     drop what was fetched for the partitions they touch: every
//     partition's position carries an epoch, bumped by each of those, and
//     a Fetch answered for an older epoch is discarded (and cancelled when
//     still in flight), so Poll never returns a record from before the
//     move.
//   - Commits: automatic every auto_commit_interval (in Poll, and before a
//     rebalance and on Close), or CommitSync / CommitAsync of the positions
//     or of given offsets; fenced by the group generation.
//
//   - Membership: the consumer holds a generation only together with its
//     assignment; a rebalance that fails after JoinGroup (SyncGroup or the
//     offset lookup) leaves none (generation() == -1), and the next Poll
//     joins again with the same member id.
//   - Silent leaders: a Fetch may run attempt_timeout past its long-poll
//     wait; one unanswered by then refreshes the metadata, so the next
//     round asks the partition's new leader.
//
// THREADS: like Kafka's, a Consumer is used from one thread (Poll, Seek,
// Commit...); only the heartbeat runs on its own thread. Rebalance
// callbacks run inside Poll.
//
// SHUTDOWN: no RPC of a Consumer outlives the Consumer: a prefetch may
// outlive the Poll that sent it, but Close (and so the destructor) cancels
// every Fetch in flight and waits until each has fully ended (the
// completion callback and gRPC's last use of the call on its thread), then
// destroys their contexts itself; every other RPC ends within the call that
// started it. So destroying the Consumer, then its Cluster (the channels),
// then leaving the process races with no gRPC work of ours.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "client/bytes.h"
#include "client/cluster.h"
#include "storage/record.h"
#include "storage/record_batch_reader.h"

namespace raftlog::client {

enum class OffsetReset { kEarliest, kLatest, kNone };

struct ConsumerOptions {
  ClientOptions client;
  std::string group_id;  // empty: Assign only, no commits
  bool enable_auto_commit = true;
  std::chrono::milliseconds auto_commit_interval{5000};
  OffsetReset auto_offset_reset = OffsetReset::kLatest;
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds heartbeat_interval{3000};
  std::chrono::milliseconds rebalance_timeout{60000};
  std::vector<std::string> assignors{"range", "roundrobin"};
  int max_poll_records = 500;
  int fetch_min_bytes = 1;
  std::chrono::milliseconds fetch_max_wait{500};
  int fetch_max_bytes = 50 << 20;
  int partition_max_bytes = 1 << 20;
};

// Key and value share the fetched buffer they were read from (client/bytes.h:
// no copy per record; each stays valid while it lives).
struct ConsumerRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::optional<Bytes> key;
  std::optional<Bytes> value;
  std::vector<storage::RecordHeader> headers;
};

struct RebalanceListener {
  std::function<void(const std::vector<TopicPartition>&)> on_revoked;
  std::function<void(const std::vector<TopicPartition>&)> on_assigned;
};

class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(ConsumerOptions options);
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(std::shared_ptr<Cluster> cluster,
                                                          ConsumerOptions options);
  ~Consumer();  // Close()
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Group mode (needs group_id); the join happens in the next Poll.
  absl::Status Subscribe(const std::vector<std::string>& topics, RebalanceListener listener = {});
  // Manual mode: exactly these partitions (replaces any subscription).
  absl::Status Assign(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Assignment() const;

  // Records available within `timeout` (possibly none).
  absl::StatusOr<std::vector<ConsumerRecord>> Poll(std::chrono::milliseconds timeout);

  absl::Status Seek(const TopicPartition& tp, int64_t offset);
  absl::Status SeekToBeginning(const std::vector<TopicPartition>& partitions);
  absl::Status SeekToEnd(const std::vector<TopicPartition>& partitions);
  // The offset of the next record Poll returns for `tp`.
  absl::StatusOr<int64_t> Position(const TopicPartition& tp);

  // Commits the current positions (or `offsets`) for the group.
  absl::Status CommitSync();
  absl::Status CommitSync(const std::map<TopicPartition, int64_t>& offsets);
  // Commits now and reports to `done` (runs on this thread, inside the call:
  // the commit is a single quick request).
  void CommitAsync(std::function<void(absl::Status)> done = nullptr);
  absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions);

  // Commits (auto-commit), leaves the group, stops the heartbeat thread.
  void Close();

  const std::string& member_id() const { return member_id_; }
  int32_t generation() const { return generation_; }

 private:
  Consumer(std::shared_ptr<Cluster> cluster, ConsumerOptions options);
  absl::Status JoinAndSync();
  absl::Status InitPositions(const std::vector<TopicPartition>& partitions);
  absl::Status ResetPosition(const TopicPartition& tp);
  absl::StatusOr<int64_t> ListOffset(const TopicPartition& tp, bool earliest);
  // Fetched bytes of one partition, decoded lazily by Drain.
  struct Buffer {
    // Whole batches as the broker returned them; shared with the records
    // handed out (their keys and values view it).
    std::shared_ptr<std::string> bytes;
    size_t pos = 0;                             // start of the next undecoded batch in `bytes`
    storage::DecodedBatchViews pending;         // decoded, not yet returned
    std::shared_ptr<const void> pending_owner;  // what pending's views point into
    size_t pending_next = 0;
    int64_t batch_next_offset = 0;  // next_offset() of the batch in `pending`
  };
  struct FetchCall;
  struct FetchDone;
  // Drops what was fetched or is being fetched for `tp` (a new epoch).
  void Invalidate(const TopicPartition& tp);
  // Invalidate for every partition, and forgets them.
  void DropAllPartitions();
  // Sends a Fetch to each leader with none in flight, for its partitions
  // with nothing buffered and none in flight.
  absl::Status SendFetches(std::chrono::milliseconds max_wait);
  // Takes in the Fetches that have ended; waits until `until` for one when
  // none has and `until` is set.
  absl::Status CollectFetches(std::optional<std::chrono::steady_clock::time_point> until);
  absl::Status HandleFetched(FetchCall& call);
  // Moves records of `tp`'s buffer to `out` (up to max_poll_records);
  // true when the buffer is used up.
  absl::StatusOr<bool> Drain(const TopicPartition& tp, Buffer& buf,
                             std::vector<ConsumerRecord>& out);
  // Cancels every Fetch in flight and waits until each has ended.
  void CancelAllFetches();
  void HeartbeatLoop();
  void StopHeartbeat();
  void MaybeAutoCommit(bool force);
  std::map<TopicPartition, int64_t> PositionsToCommit() const;

  const std::shared_ptr<Cluster> cluster_;
  const ConsumerOptions options_;

  mutable std::mutex mu_;  // guards the group state shared with the heartbeat thread
  std::vector<std::string> subscription_;
  RebalanceListener listener_;
  bool group_mode_ = false;
  std::string member_id_;
  int32_t generation_ = -1;  // >= 0 only while the generation's assignment is held
  std::atomic<bool> rejoin_needed_{false};

  std::map<TopicPartition, int64_t> positions_;  // assigned partitions -> next offset
  // Epoch of each assigned partition's position (see the header comment).
  std::map<TopicPartition, uint64_t> epochs_;
  uint64_t last_epoch_ = 0;
  std::map<TopicPartition, Buffer> buffered_;  // non-empty buffers only
  std::deque<TopicPartition> ready_;           // buffered_'s keys, by arrival
  // Used-up Buffer::bytes, for the next Fetches once no record holds them.
  std::vector<std::shared_ptr<std::string>> spare_bytes_;
  // Fetches in flight (or ended, not yet taken in), by leader address.
  std::map<std::string, std::unique_ptr<FetchCall>> in_flight_;
  std::map<TopicPartition, FetchCall*> fetching_;  // partitions in those
  std::shared_ptr<FetchDone> fetch_done_;
  size_t rotate_ = 0;  // fetch order rotation, so no partition starves
  std::chrono::steady_clock::time_point last_commit_;
  std::map<TopicPartition, int64_t> last_committed_;
  bool closed_ = false;

  std::thread heartbeat_;
  std::condition_variable heartbeat_cv_;
  bool heartbeat_stop_ = true;
};

}  // namespace raftlog::client
