// The fixed 61-byte header of a Kafka RecordBatch v2 (magic 2), the unit of
// our wire protocol, on-disk log and fetch responses. Fixed ints are
// big-endian; byte positions:
//
//   0 baseOffset int64          | 27 baseTimestamp int64
//   8 batchLength int32         | 35 maxTimestamp int64
//  12 partitionLeaderEpoch int32| 43 producerId int64
//  16 magic int8 (= 2)          | 51 producerEpoch int16
//  17 crc uint32                | 53 baseSequence int32
//  21 attributes int16          | 57 recordsCount int32
//  23 lastOffsetDelta int32     | 61 records...
//
// batchLength counts the bytes after itself, so a batch is 12 + batchLength
// bytes. crc is CRC-32C over bytes [21, end): baseOffset, batchLength and
// partitionLeaderEpoch lie outside it and may be patched in place
// (SetBaseOffset, SetPartitionLeaderEpoch) without touching the CRC.
// attributes: bits 0-2 compression, bit 3 timestamp type (1 = LogAppendTime),
// bit 4 transactional, bit 5 control batch, bit 6 delete horizon (set by
// compaction: baseTimestamp then holds the horizon).
//
// Status codes used throughout the codec: kOutOfRange when the buffer ends
// before the batch it declares (a torn tail when scanning a log, a truncated
// request from a client), kInvalidArgument for malformed bytes,
// kUnimplemented for gzip/snappy, kResourceExhausted for a payload over the
// decompression limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "storage/compression.h"

namespace raftlog::storage {

namespace batch_layout {
inline constexpr size_t kBaseOffset = 0;
inline constexpr size_t kBatchLength = 8;
inline constexpr size_t kPartitionLeaderEpoch = 12;
inline constexpr size_t kMagic = 16;
inline constexpr size_t kCrc = 17;
inline constexpr size_t kAttributes = 21;
inline constexpr size_t kLastOffsetDelta = 23;
inline constexpr size_t kBaseTimestamp = 27;
inline constexpr size_t kMaxTimestamp = 35;
inline constexpr size_t kProducerId = 43;
inline constexpr size_t kProducerEpoch = 51;
inline constexpr size_t kBaseSequence = 53;
inline constexpr size_t kRecordsCount = 57;
inline constexpr size_t kRecords = 61;

// Bytes before batchLength's coverage starts (baseOffset + batchLength).
inline constexpr size_t kLogOverhead = 12;
// Size of the header; also the smallest possible batch (no records).
inline constexpr size_t kHeaderSize = kRecords;
inline constexpr int32_t kMinBatchLength = static_cast<int32_t>(kHeaderSize - kLogOverhead);
inline constexpr int8_t kMagicV2 = 2;

inline constexpr int16_t kCompressionMask = 0x07;
inline constexpr int16_t kTimestampTypeBit = 0x08;
inline constexpr int16_t kTransactionalBit = 0x10;
inline constexpr int16_t kControlBit = 0x20;
inline constexpr int16_t kDeleteHorizonBit = 0x40;
}  // namespace batch_layout

enum class TimestampType : uint8_t {
  kCreateTime = 0,
  kLogAppendTime = 1,
};

// Kafka's sentinel for "no producer id / epoch / sequence".
inline constexpr int64_t kNoProducerId = -1;
inline constexpr int16_t kNoProducerEpoch = -1;
inline constexpr int32_t kNoSequence = -1;

struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t partition_leader_epoch = 0;
  int8_t magic = batch_layout::kMagicV2;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;
  int32_t records_count = 0;

  // The raw codec number (0..7); values above 4 are rejected by parsing.
  Compression compression() const {
    return static_cast<Compression>(attributes & batch_layout::kCompressionMask);
  }
  TimestampType timestamp_type() const {
    return (attributes & batch_layout::kTimestampTypeBit) != 0 ? TimestampType::kLogAppendTime
                                                               : TimestampType::kCreateTime;
  }
  bool is_transactional() const { return (attributes & batch_layout::kTransactionalBit) != 0; }
  bool is_control() const { return (attributes & batch_layout::kControlBit) != 0; }
  bool has_delete_horizon() const { return (attributes & batch_layout::kDeleteHorizonBit) != 0; }

  // Offset of the last record; parsing guarantees this does not overflow.
  int64_t last_offset() const { return base_offset + last_offset_delta; }
  // The offset the next batch in the log starts at.
  int64_t next_offset() const { return last_offset() + 1; }
  // Total bytes of the batch, header included.
  size_t size_bytes() const {
    return batch_layout::kLogOverhead + static_cast<size_t>(batch_length);
  }
};

// Reads only the first 17 bytes (through magic) and returns the whole batch's
// size, 12 + batchLength, so a reader can frame batches in a stream. The span
// may hold less than that size (the caller then knows it must read more).
// Errors: kOutOfRange if fewer than 17 bytes; kInvalidArgument if batchLength
// is below 49 or magic is not 2.
absl::StatusOr<size_t> BatchSize(std::span<const uint8_t> bytes);

// Parses and sanity-checks the header of the batch at the front of `bytes`.
// Cheap: no CRC check, records not read. `bytes` must hold the whole batch
// (12 + batchLength bytes); anything after it is ignored, so a log can parse
// batch after batch in one buffer. Checks: magic == 2, batchLength >= 49,
// compression codec <= 4, recordsCount >= 0, lastOffsetDelta >= recordsCount - 1
// and >= -1 (compaction may leave gaps, never overlaps), baseOffset +
// lastOffsetDelta does not overflow, and an uncompressed batch has room for
// recordsCount records (7 bytes each at least).
absl::StatusOr<BatchHeader> ParseBatchHeader(std::span<const uint8_t> bytes);

// Overwrites baseOffset / partitionLeaderEpoch in place. Both lie outside the
// CRC, so a valid batch stays valid. Requires batch.size() >= 61.
void SetBaseOffset(std::span<uint8_t> batch, int64_t base_offset);
void SetPartitionLeaderEpoch(std::span<uint8_t> batch, int32_t epoch);

// Sets the timestamp type bit and maxTimestamp, then recomputes the CRC over
// the whole span, which must be exactly one batch (Kafka's setMaxTimestamp:
// how a broker stamps LogAppendTime). Costs one CRC pass; records untouched.
// Requires batch.size() >= 61.
void SetMaxTimestamp(std::span<uint8_t> batch, TimestampType type, int64_t max_timestamp);

// CRC-32C of bytes [21, end) of `batch` (the value the crc field must hold).
// Requires batch.size() >= 21.
uint32_t ComputeBatchCrc(std::span<const uint8_t> batch);

}  // namespace raftlog::storage
