// BatchBuilder assembles a Kafka RecordBatch v2 (layout in
// record_batch_header.h) from records, compresses the records section if
// asked, and fills in batchLength, lastOffsetDelta, base/max timestamps and
// the CRC. Output is a std::vector<uint8_t>, the byte container used across
// the codec. Record i gets offsetDelta i; baseTimestamp is the first
// record's timestamp and maxTimestamp the largest (Kafka's producer rules).
// A built batch always passes ValidateBatch.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/compression.h"
#include "storage/record.h"
#include "storage/record_batch_header.h"

namespace raftlog::storage {

class BatchBuilder {
 public:
  BatchBuilder() = default;

  BatchBuilder& set_base_offset(int64_t v) {
    base_offset_ = v;
    return *this;
  }
  BatchBuilder& set_partition_leader_epoch(int32_t v) {
    partition_leader_epoch_ = v;
    return *this;
  }
  // Idempotent-producer identity; defaults are Kafka's "none" (-1).
  BatchBuilder& set_producer(int64_t id, int16_t epoch, int32_t base_sequence) {
    producer_id_ = id;
    producer_epoch_ = epoch;
    base_sequence_ = base_sequence;
    return *this;
  }
  BatchBuilder& set_timestamp_type(TimestampType t) {
    timestamp_type_ = t;
    return *this;
  }
  BatchBuilder& set_compression(Compression c) {
    compression_ = c;
    return *this;
  }
  BatchBuilder& set_transactional(bool v) {
    transactional_ = v;
    return *this;
  }
  BatchBuilder& set_control(bool v) {
    control_ = v;
    return *this;
  }

  // Appends one record. Its offset is ignored (position decides it).
  void Add(const Record& record);
  void Add(std::optional<std::string_view> key, std::optional<std::string_view> value,
           int64_t timestamp, std::span<const RecordHeader> headers = {});

  int record_count() const { return count_; }
  // Bytes of the encoded, uncompressed records so far.
  size_t records_bytes() const { return records_.size(); }

  // Encodes the batch. Errors: kFailedPrecondition with no records,
  // kInvalidArgument if a field or the batch exceeds Kafka's int32 lengths
  // or timestamps overflow, kUnimplemented for gzip/snappy.
  absl::StatusOr<std::vector<uint8_t>> Build() const;

  // Drops all records (settings are kept) so the builder can be reused.
  void Clear();

 private:
  int64_t base_offset_ = 0;
  int32_t partition_leader_epoch_ = 0;
  int64_t producer_id_ = kNoProducerId;
  int16_t producer_epoch_ = kNoProducerEpoch;
  int32_t base_sequence_ = kNoSequence;
  TimestampType timestamp_type_ = TimestampType::kCreateTime;
  Compression compression_ = Compression::kNone;
  bool transactional_ = false;
  bool control_ = false;

  // Encoded records (uncompressed), appended by Add.
  std::vector<uint8_t> records_;
  int count_ = 0;
  int64_t base_timestamp_ = 0;
  int64_t max_timestamp_ = 0;
  // First problem met by Add (a length over int32, a timestamp overflow);
  // reported by Build.
  std::optional<std::string> error_;
};

}  // namespace raftlog::storage
