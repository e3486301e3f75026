// Parsing, framing and in-place patching of the RecordBatch v2 header.
// Invariant: every read is preceded by a size check against the span.
#include "storage/record_batch_header.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::storage {
namespace {

using namespace batch_layout;  // NOLINT(build/namespaces): layout constants only

// Smallest encoding of one record: length, attributes, timestampDelta,
// offsetDelta, keyLength, valueLength, headerCount, one byte each.
constexpr int64_t kMinRecordBytes = 7;

void CheckHeaderRoom(size_t size, const char* what) {
  if (size < kHeaderSize) {
    std::fprintf(stderr, "%s: batch span of %zu bytes is shorter than the 61-byte header\n", what,
                 size);
    std::abort();
  }
}

}  // namespace

absl::StatusOr<size_t> BatchSize(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMagic + 1) {
    return absl::OutOfRangeError(absl::StrFormat(
        "batch truncated: %d bytes, need 17 to read batchLength (byte 8) and magic (byte 16)",
        bytes.size()));
  }
  const int32_t batch_length = LoadBigEndian<int32_t>(bytes.data() + kBatchLength);
  if (batch_length < kMinBatchLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batchLength %d at byte 8 is below the minimum %d", batch_length, kMinBatchLength));
  }
  const int8_t magic = static_cast<int8_t>(bytes[kMagic]);
  if (magic != kMagicV2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("magic %d at byte 16 is not 2 (only RecordBatch v2 is supported)", magic));
  }
  return kLogOverhead + static_cast<size_t>(batch_length);
}

absl::StatusOr<BatchHeader> ParseBatchHeader(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return absl::OutOfRangeError(absl::StrFormat(
        "batch truncated: %d bytes, shorter than the 61-byte header", bytes.size()));
  }
  absl::StatusOr<size_t> size = BatchSize(bytes);
  if (!size.ok()) return size.status();
  if (*size > bytes.size()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "batch truncated: batchLength %d at byte 8 declares %d bytes, only %d present",
        *size - kLogOverhead, *size, bytes.size()));
  }
  const uint8_t* p = bytes.data();
  BatchHeader h;
  h.base_offset = LoadBigEndian<int64_t>(p + kBaseOffset);
  h.batch_length = LoadBigEndian<int32_t>(p + kBatchLength);
  h.partition_leader_epoch = LoadBigEndian<int32_t>(p + kPartitionLeaderEpoch);
  h.magic = static_cast<int8_t>(p[kMagic]);
  h.crc = LoadBigEndian<uint32_t>(p + kCrc);
  h.attributes = LoadBigEndian<int16_t>(p + kAttributes);
  h.last_offset_delta = LoadBigEndian<int32_t>(p + kLastOffsetDelta);
  h.base_timestamp = LoadBigEndian<int64_t>(p + kBaseTimestamp);
  h.max_timestamp = LoadBigEndian<int64_t>(p + kMaxTimestamp);
  h.producer_id = LoadBigEndian<int64_t>(p + kProducerId);
  h.producer_epoch = LoadBigEndian<int16_t>(p + kProducerEpoch);
  h.base_sequence = LoadBigEndian<int32_t>(p + kBaseSequence);
  h.records_count = LoadBigEndian<int32_t>(p + kRecordsCount);

  const int codec = h.attributes & kCompressionMask;
  if (codec > static_cast<int>(Compression::kZstd)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("attributes 0x%04x at byte 21 name compression codec %d (known: 0-4)",
                        static_cast<uint16_t>(h.attributes), codec));
  }
  if (h.records_count < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("recordsCount %d at byte 57 is negative", h.records_count));
  }
  if (h.last_offset_delta < -1 ||
      static_cast<int64_t>(h.last_offset_delta) < static_cast<int64_t>(h.records_count) - 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "lastOffsetDelta %d at byte 23 is too small for recordsCount %d (needs >= %d)",
        h.last_offset_delta, h.records_count, static_cast<int64_t>(h.records_count) - 1));
  }
  if (h.last_offset_delta > 0 &&
      h.base_offset > std::numeric_limits<int64_t>::max() - h.last_offset_delta) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "baseOffset %d + lastOffsetDelta %d overflows int64", h.base_offset, h.last_offset_delta));
  }
  if (h.compression() == Compression::kNone) {
    const int64_t room = static_cast<int64_t>(*size - kHeaderSize);
    if (static_cast<int64_t>(h.records_count) * kMinRecordBytes > room) {
      return absl::InvalidArgumentError(
          absl::StrFormat("recordsCount %d at byte 57 cannot fit in the %d bytes of records",
                          h.records_count, room));
    }
  }
  return h;
}

void SetBaseOffset(std::span<uint8_t> batch, int64_t base_offset) {
  CheckHeaderRoom(batch.size(), "SetBaseOffset");
  StoreBigEndian<int64_t>(batch.data() + kBaseOffset, base_offset);
}

void SetPartitionLeaderEpoch(std::span<uint8_t> batch, int32_t epoch) {
  CheckHeaderRoom(batch.size(), "SetPartitionLeaderEpoch");
  StoreBigEndian<int32_t>(batch.data() + kPartitionLeaderEpoch, epoch);
}

void SetMaxTimestamp(std::span<uint8_t> batch, TimestampType type, int64_t max_timestamp) {
  CheckHeaderRoom(batch.size(), "SetMaxTimestamp");
  int16_t attributes = LoadBigEndian<int16_t>(batch.data() + kAttributes);
  if (type == TimestampType::kLogAppendTime) {
    attributes = static_cast<int16_t>(attributes | kTimestampTypeBit);
  } else {
    attributes = static_cast<int16_t>(attributes & ~kTimestampTypeBit);
  }
  StoreBigEndian<int16_t>(batch.data() + kAttributes, attributes);
  StoreBigEndian<int64_t>(batch.data() + kMaxTimestamp, max_timestamp);
  StoreBigEndian<uint32_t>(batch.data() + kCrc, ComputeBatchCrc(batch));
}

uint32_t ComputeBatchCrc(std::span<const uint8_t> batch) {
  if (batch.size() < kAttributes) {
    std::fprintf(stderr, "ComputeBatchCrc: span of %zu bytes is shorter than 21\n", batch.size());
    std::abort();
  }
  return Crc32c(batch.data() + kAttributes, batch.size() - kAttributes);
}

}  // namespace raftlog::storage
