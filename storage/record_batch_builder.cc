// BatchBuilder: encodes records as Add is called, then Build frames them
// (compressing if asked) behind the 61-byte header and computes the CRC.
// Invariant: records_ holds exactly count_ well-formed records with
// offsetDelta 0..count_-1 and timestampDelta relative to base_timestamp_.
#include "storage/record_batch_builder.h"

#include <algorithm>
#include <limits>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/varint.h"

namespace raftlog::storage {
namespace {

using namespace batch_layout;  // NOLINT(build/namespaces): layout constants only

constexpr size_t kMaxLength = static_cast<size_t>(std::numeric_limits<int32_t>::max());

// Encoded size of a nullable length-prefixed byte string.
size_t FieldSize(const std::optional<std::string_view>& v) {
  if (!v) return VarintSize(-1);
  return VarintSize(static_cast<int32_t>(v->size())) + v->size();
}

void AppendField(std::vector<uint8_t>* out, const std::optional<std::string_view>& v) {
  if (!v) {
    AppendVarint(out, -1);
    return;
  }
  AppendVarint(out, static_cast<int32_t>(v->size()));
  // As bytes: inserting chars into a vector of uint8_t copies element by
  // element (~5 instructions a byte), not with memcpy.
  const auto* bytes = reinterpret_cast<const uint8_t*>(v->data());
  out->insert(out->end(), bytes, bytes + v->size());
}

std::optional<std::string_view> View(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return std::string_view(*s);
}

}  // namespace

void BatchBuilder::Add(const Record& record) {
  Add(View(record.key), View(record.value), record.timestamp, record.headers);
}

void BatchBuilder::Add(std::optional<std::string_view> key, std::optional<std::string_view> value,
                       int64_t timestamp, std::span<const RecordHeader> headers) {
  if (error_) return;
  const int32_t index = count_;
  if (count_ == std::numeric_limits<int32_t>::max()) {
    error_ = "too many records for one batch";
    return;
  }
  if (count_ == 0) {
    base_timestamp_ = timestamp;
    max_timestamp_ = timestamp;
  }
  int64_t timestamp_delta = 0;
  if (__builtin_sub_overflow(timestamp, base_timestamp_, &timestamp_delta)) {
    error_ = absl::StrFormat("record %d: timestamp %d - baseTimestamp %d overflows int64", index,
                             timestamp, base_timestamp_);
    return;
  }
  if ((key && key->size() > kMaxLength) || (value && value->size() > kMaxLength) ||
      headers.size() > kMaxLength) {
    error_ = absl::StrFormat("record %d: key, value or header count exceeds int32", index);
    return;
  }
  size_t body = 1 + VarlongSize(timestamp_delta) + VarintSize(index) + FieldSize(key) +
                FieldSize(value) + VarintSize(static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    if (h.key.size() > kMaxLength || (h.value && h.value->size() > kMaxLength)) {
      error_ = absl::StrFormat("record %d: a header key or value exceeds int32", index);
      return;
    }
    body += FieldSize(std::string_view(h.key)) + FieldSize(View(h.value));
  }
  if (body > kMaxLength) {
    error_ = absl::StrFormat("record %d: %d bytes exceeds int32", index, body);
    return;
  }
  // Grows geometrically: reserving the exact size on every Add moved the
  // whole buffer once per record (quadratic in the records of a batch).
  const size_t need = records_.size() + VarintSize(static_cast<int32_t>(body)) + body;
  if (need > records_.capacity()) records_.reserve(std::max(need, 2 * records_.capacity()));
  AppendVarint(&records_, static_cast<int32_t>(body));
  records_.push_back(0);  // record attributes: unused by Kafka, always 0
  AppendVarlong(&records_, timestamp_delta);
  AppendVarint(&records_, index);
  AppendField(&records_, key);
  AppendField(&records_, value);
  AppendVarint(&records_, static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    AppendField(&records_, std::string_view(h.key));
    AppendField(&records_, View(h.value));
  }
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  ++count_;
}

absl::StatusOr<std::vector<uint8_t>> BatchBuilder::Build() const {
  if (error_) return absl::InvalidArgumentError(*error_);
  if (count_ == 0) return absl::FailedPreconditionError("cannot build a batch with no records");
  // Uncompressed records are copied once, straight into the batch.
  std::span<const uint8_t> payload = records_;
  std::vector<uint8_t> compressed;
  if (compression_ != Compression::kNone) {
    absl::StatusOr<std::vector<uint8_t>> c = Compress(compression_, records_);
    if (!c.ok()) return c.status();
    compressed = *std::move(c);
    payload = compressed;
  }
  const size_t total = kHeaderSize + payload.size();
  if (total - kLogOverhead > kMaxLength) {
    return absl::InvalidArgumentError(
        absl::StrFormat("batch of %d bytes exceeds the int32 batchLength", total));
  }
  int16_t attributes = static_cast<int16_t>(compression_);
  if (timestamp_type_ == TimestampType::kLogAppendTime) attributes |= kTimestampTypeBit;
  if (transactional_) attributes |= kTransactionalBit;
  if (control_) attributes |= kControlBit;

  // Only the header is zero-filled; the records are copied in once.
  std::vector<uint8_t> out;
  out.reserve(total);
  out.resize(kRecords);
  out.insert(out.end(), payload.begin(), payload.end());
  uint8_t* p = out.data();
  StoreBigEndian<int64_t>(p + kBaseOffset, base_offset_);
  StoreBigEndian<int32_t>(p + kBatchLength, static_cast<int32_t>(total - kLogOverhead));
  StoreBigEndian<int32_t>(p + kPartitionLeaderEpoch, partition_leader_epoch_);
  p[kMagic] = static_cast<uint8_t>(kMagicV2);
  StoreBigEndian<int16_t>(p + kAttributes, attributes);
  StoreBigEndian<int32_t>(p + kLastOffsetDelta, count_ - 1);
  StoreBigEndian<int64_t>(p + kBaseTimestamp, base_timestamp_);
  StoreBigEndian<int64_t>(p + kMaxTimestamp, max_timestamp_);
  StoreBigEndian<int64_t>(p + kProducerId, producer_id_);
  StoreBigEndian<int16_t>(p + kProducerEpoch, producer_epoch_);
  StoreBigEndian<int32_t>(p + kBaseSequence, base_sequence_);
  StoreBigEndian<int32_t>(p + kRecordsCount, count_);
  StoreBigEndian<uint32_t>(p + kCrc, ComputeBatchCrc(out));
  return out;
}

void BatchBuilder::Clear() {
  records_.clear();
  count_ = 0;
  base_timestamp_ = 0;
  max_timestamp_ = 0;
  error_.reset();
}

}  // namespace raftlog::storage
