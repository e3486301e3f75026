// ProducerStateTable: the idempotent-producer state of one partition, as
// Kafka keeps it: per producer id, its epoch and its last 5 batches
// (sequence range and offsets). It classifies an incoming batch as new,
// a duplicate of a batch already in the log (answer with that batch's
// offsets, store nothing), out of order (a gap or a reordering in the
// sequence), or from a fenced (older) epoch.
//
// RULES (Kafka's, for batches carrying a producer id >= 0):
//   - epoch below the producer's current epoch: fenced;
//   - epoch above it: a new epoch starts; its first batch must have
//     sequence 0 (else out of order);
//   - same epoch: a batch whose (first, last) sequence equals one of the
//     last 5 kept is a duplicate; otherwise its first sequence must follow
//     the last kept batch's last sequence (wrapping after INT32_MAX to 0);
//   - a producer the table does not know may start at any sequence (its
//     state may have been trimmed; Kafka would answer UNKNOWN_PRODUCER_ID).
// Batches without a producer id (-1) are never checked.
//
// Pure data structure, deterministic, no I/O, not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

namespace raftlog::broker {

struct ProducerBatch {
  int64_t producer_id = -1;
  int16_t epoch = 0;
  int32_t first_sequence = 0;
  int32_t last_sequence = 0;
  int64_t base_offset = -1;  // -1 while only proposed (not yet in the log)
  int64_t last_offset = -1;
  uint64_t proposal = 0;  // the owning pending proposal's key, 0 when known in the log
};

enum class ProducerVerdict { kNew, kDuplicate, kOutOfOrder, kFencedEpoch };

struct ProducerCheck {
  ProducerVerdict verdict = ProducerVerdict::kNew;
  ProducerBatch duplicate_of;  // kDuplicate: the batch already recorded
  std::string message;         // kOutOfOrder / kFencedEpoch: why
};

class ProducerStateTable {
 public:
  static constexpr int kBatchesKept = 5;

  ProducerCheck Check(int64_t producer_id, int16_t epoch, int32_t first_sequence,
                      int32_t last_sequence) const;
  // Records a batch in log order (after Check said kNew, or when replaying
  // the log, where it is recorded whatever Check would say).
  void Record(const ProducerBatch& batch);
  size_t producers() const { return producers_.size(); }
  void Clear() { producers_.clear(); }

 private:
  struct Producer {
    int16_t epoch = 0;
    std::array<ProducerBatch, kBatchesKept> batches;  // ring, newest at (next - 1)
    int count = 0;
    int next = 0;
    const ProducerBatch& newest() const {
      return batches[(next + kBatchesKept - 1) % kBatchesKept];
    }
  };
  std::map<int64_t, Producer> producers_;
};

// The sequence that follows `sequence` (Kafka wraps after INT32_MAX to 0).
int32_t NextSequence(int32_t sequence);

}  // namespace raftlog::broker
