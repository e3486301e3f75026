// ProducerStateTable: Kafka's idempotent-producer checks for one partition.
#include "broker/producer_state.h"

#include <limits>

#include "absl/strings/str_format.h"

namespace raftlog::broker {

int32_t NextSequence(int32_t sequence) {
  return sequence == std::numeric_limits<int32_t>::max() ? 0 : sequence + 1;
}

ProducerCheck ProducerStateTable::Check(int64_t producer_id, int16_t epoch, int32_t first_sequence,
                                        int32_t last_sequence) const {
  ProducerCheck out;
  if (producer_id < 0) return out;
  auto it = producers_.find(producer_id);
  if (it == producers_.end() || it->second.count == 0) return out;
  const Producer& p = it->second;
  if (epoch < p.epoch) {
    out.verdict = ProducerVerdict::kFencedEpoch;
    out.message =
        absl::StrFormat("producer %d: epoch %d is fenced; the partition has seen epoch %d",
                        producer_id, epoch, p.epoch);
    return out;
  }
  if (epoch > p.epoch) {
    if (first_sequence != 0) {
      out.verdict = ProducerVerdict::kOutOfOrder;
      out.message = absl::StrFormat(
          "producer %d: the first batch of epoch %d must start at sequence 0, not %d", producer_id,
          epoch, first_sequence);
    }
    return out;
  }
  for (int i = 0; i < p.count; ++i) {
    const ProducerBatch& b = p.batches[i];
    if (b.first_sequence == first_sequence && b.last_sequence == last_sequence) {
      out.verdict = ProducerVerdict::kDuplicate;
      out.duplicate_of = b;
      return out;
    }
  }
  const int32_t expected = NextSequence(p.newest().last_sequence);
  if (first_sequence != expected) {
    out.verdict = ProducerVerdict::kOutOfOrder;
    out.message =
        absl::StrFormat("producer %d epoch %d: batch with sequence %d..%d, expected %d next",
                        producer_id, epoch, first_sequence, last_sequence, expected);
  }
  return out;
}

void ProducerStateTable::Record(const ProducerBatch& batch) {
  if (batch.producer_id < 0) return;
  Producer& p = producers_[batch.producer_id];
  if (p.count > 0 && batch.epoch != p.epoch) {
    p.count = 0;
    p.next = 0;
  }
  p.epoch = batch.epoch;
  p.batches[p.next] = batch;
  p.next = (p.next + 1) % kBatchesKept;
  if (p.count < kBatchesKept) ++p.count;
}

}  // namespace raftlog::broker
