// Test helpers for the record-batch codec: assemble a batch from raw record
// bytes with a correct batchLength and CRC (so tests reach the record-level
// checks), re-fix the CRC after patching, and match status messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/big_endian.h"
#include "storage/record_batch_header.h"
#include "storage/varint.h"

namespace raftlog::storage::testing {

struct RawBatch {
  int64_t base_offset = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 1000;
  int64_t max_timestamp = 1000;
  int32_t records_count = 1;
  std::vector<uint8_t> records;  // the bytes after recordsCount, as stored
};

inline void FixCrc(std::vector<uint8_t>* batch) {
  StoreBigEndian<uint32_t>(batch->data() + batch_layout::kCrc, ComputeBatchCrc(*batch));
}

inline std::vector<uint8_t> Assemble(const RawBatch& raw) {
  using namespace batch_layout;  // NOLINT(build/namespaces)
  std::vector<uint8_t> b(kHeaderSize + raw.records.size());
  uint8_t* p = b.data();
  StoreBigEndian<int64_t>(p + kBaseOffset, raw.base_offset);
  StoreBigEndian<int32_t>(p + kBatchLength, static_cast<int32_t>(b.size() - kLogOverhead));
  p[kMagic] = 2;
  StoreBigEndian<int16_t>(p + kAttributes, raw.attributes);
  StoreBigEndian<int32_t>(p + kLastOffsetDelta, raw.last_offset_delta);
  StoreBigEndian<int64_t>(p + kBaseTimestamp, raw.base_timestamp);
  StoreBigEndian<int64_t>(p + kMaxTimestamp, raw.max_timestamp);
  StoreBigEndian<int64_t>(p + kProducerId, -1);
  StoreBigEndian<int16_t>(p + kProducerEpoch, -1);
  StoreBigEndian<int32_t>(p + kBaseSequence, -1);
  StoreBigEndian<int32_t>(p + kRecordsCount, raw.records_count);
  std::copy(raw.records.begin(), raw.records.end(), p + kRecords);
  FixCrc(&b);
  return b;
}

// Appends one record whose body is `body` (everything after the length).
inline void AppendRecord(std::vector<uint8_t>* out, const std::vector<uint8_t>& body) {
  AppendVarint(out, static_cast<int32_t>(body.size()));
  out->insert(out->end(), body.begin(), body.end());
}

// A well-formed record body: attributes 0, the given deltas, key/value as
// raw bytes with explicit lengths (so tests can write illegal ones).
inline std::vector<uint8_t> RecordBody(int64_t timestamp_delta, int32_t offset_delta,
                                       int32_t key_length, const std::string& key,
                                       int32_t value_length, const std::string& value,
                                       int32_t header_count = 0) {
  std::vector<uint8_t> body = {0};
  AppendVarlong(&body, timestamp_delta);
  AppendVarint(&body, offset_delta);
  AppendVarint(&body, key_length);
  body.insert(body.end(), key.begin(), key.end());
  AppendVarint(&body, value_length);
  body.insert(body.end(), value.begin(), value.end());
  AppendVarint(&body, header_count);
  return body;
}

inline bool MessageHas(const absl::Status& s, const std::string& needle) {
  return std::string(s.message()).find(needle) != std::string::npos;
}

}  // namespace raftlog::storage::testing
