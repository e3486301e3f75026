// Full validation and decoding of Kafka RecordBatch v2 bytes (layout in
// record_batch_header.h; per record: length varint, attributes int8,
// timestampDelta varlong, offsetDelta varint, keyLength varint (-1 = null),
// key, valueLength varint (-1 = null), value, headerCount varint, then per
// header keyLength varint, key, valueLength varint (-1 = null), value).
//
// ValidateBatch is what the broker runs on every produced batch. It accepts a
// span holding exactly one batch and rejects, with a message naming the field
// and byte position: a bad header (see ParseBatchHeader), a CRC mismatch, an
// empty batch, any record whose fields overrun its length or leave bytes
// unread, negative lengths other than -1 (header keys: not even -1),
// offsetDelta != the record's index, lastOffsetDelta != recordsCount - 1,
// recordsCount != records present, trailing bytes, overlong varints, timestamp
// overflow, and (CreateTime, by default) maxTimestamp != the largest record
// timestamp. ValidateOptions::allow_compacted relaxes the offset/count rules
// for batches as compaction leaves them. Compressed batches are decompressed
// (capped) and walked the same way; positions then count from the start of
// the decompressed records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/compression.h"
#include "storage/record.h"
#include "storage/record_batch_header.h"

namespace raftlog::storage {

struct ValidateOptions {
  // Decompressed records larger than this are rejected (kResourceExhausted).
  size_t max_decompressed_bytes = kDefaultMaxDecompressedBytes;
  // For CreateTime batches, require maxTimestamp == max(record timestamps).
  // (LogAppendTime batches carry the broker's time there; never checked.)
  bool check_max_timestamp = true;
  // Accept batches as log compaction leaves them: records dropped, so
  // offsetDeltas need only increase and stay <= lastOffsetDelta, the batch
  // may be empty, and maxTimestamp need only bound the records' timestamps.
  // Off for produced batches.
  bool allow_compacted = false;
};

// Validates the batch occupying all of `batch`; returns its header.
absl::StatusOr<BatchHeader> ValidateBatch(std::span<const uint8_t> batch,
                                          const ValidateOptions& options = {});

// ValidateBatch without the header.
absl::Status VerifyBatch(std::span<const uint8_t> batch, const ValidateOptions& options = {});

// Validates as ValidateBatch does, then returns every record with absolute
// offsets and timestamps.
absl::StatusOr<std::vector<Record>> DecodeBatch(std::span<const uint8_t> batch,
                                                const ValidateOptions& options = {});

// A record whose key and value point into the batch (or into
// DecodedBatchViews::decompressed): no copy, no allocation per record.
// Valid only while those bytes live. Headers (rare) are owned.
struct RecordView {
  int64_t offset = 0;
  int64_t timestamp = 0;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<RecordHeader> headers;
};

struct DecodedBatchViews {
  BatchHeader header;
  std::vector<RecordView> records;
  // The records section decompressed, when the batch is compressed (the
  // views point here then; moving this struct keeps them valid). Empty for
  // an uncompressed batch, whose views point into the batch itself.
  std::vector<uint8_t> decompressed;
};

// DecodeBatch with views: validates exactly as DecodeBatch does (CRC
// included). `out` is reused (its records vector keeps its capacity).
absl::Status DecodeBatchViews(std::span<const uint8_t> batch, const ValidateOptions& options,
                              DecodedBatchViews& out);

}  // namespace raftlog::storage
