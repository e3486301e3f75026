// Producer: sends records to topics with Kafka's producer model.
//   - Partitioning: an explicit partition, else murmur2 of the key (Kafka's
//     default partitioner, same partition as Kafka's Java client), else a
//     sticky partition kept until its batch is sent.
//   - Batching per partition by size (batch_size) and time (linger), records
//     encoded as RecordBatch v2 with optional compression (lz4, zstd).
//   - One request in flight per partition (several batches per request), so
//     records of one producer keep their order within a partition even
//     across retries; partitions are sent to their leaders concurrently.
//   - Retries with leader discovery: NOT_LEADER, no leader, unreachable
//     broker, unknown topic (metadata may lag a creation) and timeouts are
//     retried with a metadata refresh until delivery_timeout; a too-large or
//     corrupt batch fails its records at once. A request unanswered for
//     leader_check_after is checked against fresh metadata: if the
//     partition has another leader by then (the old one paused or cut off),
//     it is cancelled and resent there (same sequence numbers) instead of
//     waiting for its deadline. A request's deadline never passes its first
//     batch's delivery timeout.
//   - Send blocks at most max_block in all (metadata of an unknown topic,
//     then buffer space), like Kafka's max.block.ms; a topic already in the
//     cached metadata needs no round trip, however old the cache.
//   - acks: kAll (committed on a majority), kLeader (durable on the leader),
//     kNone (fire and forget: completed when sent, offset -1).
//   - Idempotence (default on): the producer takes a producer id from the
//     cluster (AllocateProducerIds) and numbers each partition's batches
//     with Kafka's base sequence, so a retried batch carries the same
//     (producer id, epoch, sequence); the partition's leader recognises a
//     retry of a batch it already stored (broker/idempotence.h) and answers
//     with the original offset instead of storing it twice.
//
// Every Send completes exactly once (callback or future): with the record's
// offset, or with the error that ended its delivery. Callbacks run on the
// producer's sender or gRPC threads, or on the caller's thread inside Send
// (an immediate failure; with linger 0 a record for an idle partition is
// sent from Send itself, without a hand-off to the sender), and must not
// block. Thread-safe.
//
// SHUTDOWN: Close (and the destructor) returns only once every Produce call
// has fully ended: its completion callback returned and its gRPC context
// destroyed (on the sender thread, never by a gRPC thread), so destroying
// the Cluster (channels) and leaving the process afterwards races with no
// gRPC work of ours.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cluster.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "storage/compression.h"
#include "storage/record.h"
#include "storage/record_batch_builder.h"

namespace raftlog::client {

enum class Acks { kAll, kLeader, kNone };

struct ProducerOptions {
  ClientOptions client;
  Acks acks = Acks::kAll;
  size_t batch_size = 16384;  // bytes of records per batch (Kafka's batch.size)
  std::chrono::milliseconds linger{5};
  storage::Compression compression = storage::Compression::kNone;
  // A record not acknowledged this long after Send fails.
  std::chrono::milliseconds delivery_timeout{120000};
  // Records buffered but not yet acknowledged; Send blocks (up to
  // max_block) while it is exceeded.
  size_t buffer_memory = 32 << 20;
  std::chrono::milliseconds max_block{60000};
  // A Produce call unanswered this long is checked against fresh metadata
  // (see above).
  std::chrono::milliseconds leader_check_after{1000};
  size_t max_request_size = 1 << 20;  // batches of one partition per request
  // Producer id + sequence numbers (broker-side deduplication of retries).
  // As in Kafka, only with acks=all: acks=0 never learns whether a batch was
  // stored, so one lost batch would leave a sequence gap that makes the
  // partition refuse every later one; with acks=1 or 0 it is off.
  bool idempotence = true;
};

struct ProducerRecord {
  std::string topic;
  std::optional<int32_t> partition;  // unset: by key, else sticky
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<storage::RecordHeader> headers;
  std::optional<int64_t> timestamp_ms;  // unset: now
};

struct RecordMetadata {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;  // -1 for acks=kNone
  int64_t timestamp_ms = 0;
};

using SendCallback = std::function<void(absl::StatusOr<RecordMetadata>)>;

class Producer {
 public:
  static absl::StatusOr<std::unique_ptr<Producer>> Create(ProducerOptions options);
  // As Create, on an existing connection.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(std::shared_ptr<Cluster> cluster,
                                                          ProducerOptions options);
  ~Producer();  // Close(delivery_timeout)
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues `record`; `done` runs once it is acknowledged or has failed.
  // An immediate failure (unknown topic after a metadata refresh, bad
  // partition, buffer full past max_block, closed) also goes to `done`.
  void Send(ProducerRecord record, SendCallback done);
  std::future<absl::StatusOr<RecordMetadata>> Send(ProducerRecord record);

  // Sends everything buffered now (ignoring linger) and waits until every
  // record sent before the call has completed and its callback returned.
  // DeadlineExceeded if not within `timeout`.
  absl::Status Flush(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // Flush, then stop; records still pending after `timeout` fail.
  void Close(std::chrono::milliseconds timeout = std::chrono::seconds(120));

  int64_t producer_id() const { return producer_id_; }

 private:
  struct Pending {
    SendCallback done;
    int64_t timestamp_ms;
  };
  struct Batch {
    TopicPartition tp;
    std::unique_ptr<storage::BatchBuilder> builder;
    std::vector<Pending> records;
    size_t bytes = 0;
    std::chrono::steady_clock::time_point created;
    // Set when first sent (size 0 before); retries resend the same bytes.
    // Requests share it (producer_request_encoder.h): no copy per send.
    grpc::Slice encoded;
    bool is_encoded() const { return encoded.size() > 0; }
  };
  // One Produce call in flight: owned by its queue (never by gRPC), ended
  // (context destroyed) by the sender thread once `finished`.
  struct ProduceCall {
    grpc::ClientContext ctx;
    apipb::ProduceRequest req;  // every field but `batches`
    std::vector<grpc::Slice> batches;
    grpc::ByteBuffer req_bytes;  // req + batches, encoded
    apipb::ProduceResponse resp;
    uint64_t leader = 0;  // node id it was sent to
    std::chrono::steady_clock::time_point sent_at;
  };
  struct PartitionQueue {
    std::deque<std::unique_ptr<Batch>> batches;
    bool in_flight = false;
    std::shared_ptr<ProduceCall> call;  // while in flight
    std::chrono::steady_clock::time_point retry_after{};
    int32_t next_sequence = 0;
    // Idempotence: bumped (and next_sequence reset to 0) when a sent batch
    // expires, since its sequence numbers may or may not have been stored.
    int16_t epoch = 0;
    int sticky_uses = 0;
  };

  Producer(std::shared_ptr<Cluster> cluster, ProducerOptions options, int64_t producer_id);
  // Picks the partition for `record` (metadata refreshed once if the topic
  // is unknown).
  absl::StatusOr<int32_t> ChoosePartition(const ProducerRecord& record,
                                          std::chrono::steady_clock::time_point give_up);
  // Cancels calls unanswered for leader_check_after whose partition has
  // another leader in fresh metadata (at most one refresh a second).
  void CheckStalledCalls();
  void SenderLoop();
  // Partitions whose front batch may go now; fills `next_wake`.
  std::vector<TopicPartition> ReadyPartitions(std::chrono::steady_clock::time_point now,
                                              std::chrono::steady_clock::time_point& next_wake);
  void SendPartition(const TopicPartition& tp);
  // Handles a Produce answer for `count` front batches of `tp`.
  void OnProduced(const TopicPartition& tp, size_t count, const grpc::Status& status,
                  const apipb::ProduceResponse& resp, const std::string& error_code);
  // Fails (or, when `retry`, requeues) the `count` front batches of `tp`.
  void FailOrRetryLocked(const TopicPartition& tp, size_t count, const absl::Status& error,
                         bool retry, std::vector<std::function<void()>>& callbacks);
  absl::Status EncodeLocked(Batch& batch, PartitionQueue& queue);
  // Queues a record callback to run once mu_ is released (RunCallbacks);
  // Flush waits for it.
  void DeferLocked(std::vector<std::function<void()>>& callbacks, std::function<void()> callback);
  void RunCallbacks(std::vector<std::function<void()>>& callbacks);

  const std::shared_ptr<Cluster> cluster_;
  const ProducerOptions options_;
  const int64_t producer_id_;  // -1 without idempotence

  std::mutex mu_;
  std::condition_variable cv_;       // wakes the sender
  std::condition_variable done_cv_;  // wakes Flush and blocked Sends
  std::map<TopicPartition, PartitionQueue> queues_;
  std::map<std::string, int32_t> sticky_;  // topic -> sticky partition for keyless records
  size_t buffered_bytes_ = 0;
  size_t pending_records_ = 0;
  size_t callbacks_running_ = 0;  // deferred callbacks not yet returned
  int calls_in_flight_ = 0;       // Close waits for these (their callbacks use `this`)
  // Calls whose callback returned, for the sender to destroy (see SHUTDOWN).
  std::vector<std::shared_ptr<ProduceCall>> finished_calls_;
  std::chrono::steady_clock::time_point last_leader_check_{};
  int flushing_ = 0;
  bool closing_ = false;
  bool stopped_ = false;
  uint64_t rng_state_;
  std::thread sender_;
};

}  // namespace raftlog::client
