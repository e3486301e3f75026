// ValidateBatch / DecodeBatch: header checks, CRC, then one bounds-checked
// walk over the records shared by validation (no-op sink) and decoding
// (collecting sink). Invariant: every byte read goes through Cursor, which
// checks the remaining length first; errors carry the record index, field
// name and absolute byte position.
#include "storage/record_batch_reader.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "storage/varint.h"

namespace raftlog::storage {
namespace {

using namespace batch_layout;  // NOLINT(build/namespaces): layout constants only

// Reads fields from `data`, whose first byte is at position `base` of the
// thing named by `where` ("the batch" or "the decompressed records").
class Cursor {
 public:
  Cursor(std::span<const uint8_t> data, size_t base, const char* where)
      : data_(data), base_(base), where_(where) {}

  size_t pos() const { return base_ + off_; }
  size_t remaining() const { return data_.size() - off_; }
  const char* where() const { return where_; }

  // A cursor over the next n bytes (n <= remaining()); advances this one.
  Cursor Sub(size_t n) {
    Cursor sub(data_.subspan(off_, n), pos(), where_);
    off_ += n;
    return sub;
  }

  absl::Status Byte(int record, const char* field, uint8_t* out) {
    if (remaining() < 1) return Truncated(record, field);
    *out = data_[off_++];
    return absl::OkStatus();
  }

  absl::Status Varint(int record, const char* field, int32_t* out) {
    size_t n = 0;
    const VarintStatus s = DecodeVarint(data_.subspan(off_), out, &n);
    return Check(s, record, field, n, 5);
  }

  absl::Status Varlong(int record, const char* field, int64_t* out) {
    size_t n = 0;
    const VarintStatus s = DecodeVarlong(data_.subspan(off_), out, &n);
    return Check(s, record, field, n, 10);
  }

  // Reads a length-prefixed byte string; -1 means null when `nullable`.
  absl::Status Bytes(int record, const char* field, bool nullable,
                     std::optional<std::string_view>* out) {
    const size_t at = pos();
    int32_t len = 0;
    if (absl::Status s = Varint(record, field, &len); !s.ok()) return s;
    if (len == -1 && nullable) {
      *out = std::nullopt;
      return absl::OkStatus();
    }
    if (len < 0) {
      return Invalid(record, "%s %d at byte %d of %s is negative%s", field, len, at, where_,
                     nullable ? " (only -1, null, is allowed)" : " (it may not be null)");
    }
    if (static_cast<size_t>(len) > remaining()) {
      return Invalid(record, "%s %d at byte %d of %s runs past the record end (%d bytes left)",
                     field, len, at, where_, remaining());
    }
    *out = std::string_view(reinterpret_cast<const char*>(data_.data() + off_),
                            static_cast<size_t>(len));
    off_ += static_cast<size_t>(len);
    return absl::OkStatus();
  }

  template <typename... Args>
  absl::Status Invalid(int record, const absl::FormatSpec<Args...>& format,
                       const Args&... args) const {
    std::string msg = absl::StrFormat(format, args...);
    if (record >= 0) msg = absl::StrFormat("record %d: %s", record, msg);
    return absl::InvalidArgumentError(msg);
  }

 private:
  absl::Status Truncated(int record, const char* field) const {
    return Invalid(record, "%s at byte %d of %s runs past the record end", field, pos(), where_);
  }

  absl::Status Check(VarintStatus s, int record, const char* field, size_t n, int max_bytes) {
    switch (s) {
      case VarintStatus::kOk:
        off_ += n;
        return absl::OkStatus();
      case VarintStatus::kTruncated:
        return Truncated(record, field);
      case VarintStatus::kOverlong:
        break;
    }
    return Invalid(record,
                   "%s at byte %d of %s is an overlong varint (more than %d bytes or out "
                   "of range)",
                   field, pos(), where_, max_bytes);
  }

  std::span<const uint8_t> data_;
  size_t off_ = 0;
  size_t base_;
  const char* where_;
};

// Receives records during the walk. Views point into the batch (or the
// decompressed buffer) and are valid only during the call.
struct NullSink {
  void OnRecord(int64_t, int64_t, const std::optional<std::string_view>&,
                const std::optional<std::string_view>&, int32_t) {}
  void OnHeader(std::string_view, const std::optional<std::string_view>&) {}
};

std::optional<std::string> ToOwned(const std::optional<std::string_view>& v) {
  if (!v) return std::nullopt;
  return std::string(*v);
}

struct CollectSink {
  std::vector<Record>* out;
  void OnRecord(int64_t offset, int64_t timestamp, const std::optional<std::string_view>& key,
                const std::optional<std::string_view>& value, int32_t header_count) {
    Record& r = out->emplace_back();
    r.offset = offset;
    r.timestamp = timestamp;
    r.key = ToOwned(key);
    r.value = ToOwned(value);
    // Bounded: header_count comes from the input (a hostile count must not
    // reserve gigabytes before the headers are found missing).
    r.headers.reserve(std::min<size_t>(static_cast<size_t>(header_count), 16));
  }
  void OnHeader(std::string_view key, const std::optional<std::string_view>& value) {
    out->back().headers.push_back(RecordHeader{std::string(key), ToOwned(value)});
  }
};

struct ViewSink {
  std::vector<RecordView>* out;
  void OnRecord(int64_t offset, int64_t timestamp, const std::optional<std::string_view>& key,
                const std::optional<std::string_view>& value, int32_t) {
    RecordView& r = out->emplace_back();
    r.offset = offset;
    r.timestamp = timestamp;
    r.key = key;
    r.value = value;
  }
  void OnHeader(std::string_view key, const std::optional<std::string_view>& value) {
    out->back().headers.push_back(RecordHeader{std::string(key), ToOwned(value)});
  }
};

// Each header needs at least its two length varints.
constexpr size_t kMinHeaderBytes = 2;

// Walks the records section; `records` holds exactly recordsCount records.
template <typename Sink>
absl::Status WalkRecords(Cursor records, const BatchHeader& h, const ValidateOptions& options,
                         Sink& sink) {
  const bool create_time = h.timestamp_type() == TimestampType::kCreateTime;
  int64_t max_seen = std::numeric_limits<int64_t>::min();
  int32_t prev_offset_delta = -1;
  for (int32_t i = 0; i < h.records_count; ++i) {
    if (records.remaining() == 0) {
      return records.Invalid(-1,
                             "recordsCount %d at byte 57 but only %d records found in %s "
                             "(ending at byte %d)",
                             h.records_count, i, records.where(), records.pos());
    }
    const size_t start = records.pos();
    int32_t length = 0;
    if (absl::Status s = records.Varint(i, "length", &length); !s.ok()) return s;
    if (length < 0) {
      return records.Invalid(i, "length %d at byte %d of %s is negative", length, start,
                             records.where());
    }
    if (static_cast<size_t>(length) > records.remaining()) {
      return records.Invalid(i, "length %d at byte %d of %s runs past the end (%d bytes left)",
                             length, start, records.where(), records.remaining());
    }
    Cursor rec = records.Sub(static_cast<size_t>(length));
    uint8_t attributes = 0;
    int64_t timestamp_delta = 0;
    int32_t offset_delta = 0;
    if (absl::Status s = rec.Byte(i, "attributes", &attributes); !s.ok()) return s;
    if (absl::Status s = rec.Varlong(i, "timestampDelta", &timestamp_delta); !s.ok()) return s;
    const size_t offset_delta_pos = rec.pos();
    if (absl::Status s = rec.Varint(i, "offsetDelta", &offset_delta); !s.ok()) return s;
    if (options.allow_compacted) {
      if (offset_delta <= prev_offset_delta || offset_delta > h.last_offset_delta) {
        return rec.Invalid(i,
                           "offsetDelta %d at byte %d of %s should be above the previous (%d) "
                           "and at most lastOffsetDelta %d",
                           offset_delta, offset_delta_pos, rec.where(), prev_offset_delta,
                           h.last_offset_delta);
      }
      prev_offset_delta = offset_delta;
    } else if (offset_delta != i) {
      return rec.Invalid(i, "offsetDelta %d at byte %d of %s should be %d (its position)",
                         offset_delta, offset_delta_pos, rec.where(), i);
    }
    std::optional<std::string_view> key, value;
    if (absl::Status s = rec.Bytes(i, "keyLength", /*nullable=*/true, &key); !s.ok()) return s;
    if (absl::Status s = rec.Bytes(i, "valueLength", true, &value); !s.ok()) return s;
    const size_t header_count_pos = rec.pos();
    int32_t header_count = 0;
    if (absl::Status s = rec.Varint(i, "headerCount", &header_count); !s.ok()) return s;
    if (header_count < 0 || static_cast<size_t>(header_count) > rec.remaining() / kMinHeaderBytes) {
      return rec.Invalid(i, "headerCount %d at byte %d of %s is %s", header_count, header_count_pos,
                         rec.where(),
                         header_count < 0 ? "negative" : "more than the record can hold");
    }
    int64_t timestamp = 0;
    if (__builtin_add_overflow(h.base_timestamp, timestamp_delta, &timestamp)) {
      return rec.Invalid(i, "baseTimestamp %d + timestampDelta %d overflows int64",
                         h.base_timestamp, timestamp_delta);
    }
    max_seen = std::max(max_seen, timestamp);
    if (!create_time) timestamp = h.max_timestamp;  // LogAppendTime: the batch's time
    sink.OnRecord(h.base_offset + offset_delta, timestamp, key, value, header_count);
    for (int32_t j = 0; j < header_count; ++j) {
      std::optional<std::string_view> hkey, hvalue;
      if (absl::Status s = rec.Bytes(i, "header keyLength", /*nullable=*/false, &hkey); !s.ok()) {
        return s;
      }
      if (absl::Status s = rec.Bytes(i, "header valueLength", true, &hvalue); !s.ok()) return s;
      sink.OnHeader(*hkey, hvalue);
    }
    if (rec.remaining() != 0) {
      return rec.Invalid(i,
                         "length %d at byte %d of %s leaves %d bytes unread after the last "
                         "field (byte %d)",
                         length, start, rec.where(), rec.remaining(), rec.pos());
    }
  }
  if (records.remaining() != 0) {
    return records.Invalid(-1, "%d trailing bytes at byte %d of %s after all %d records",
                           records.remaining(), records.pos(), records.where(), h.records_count);
  }
  // Compaction keeps the batch's original maxTimestamp while dropping
  // records, so a compacted batch only bounds its records' timestamps.
  const bool max_ok = options.allow_compacted
                          ? (h.records_count == 0 || max_seen <= h.max_timestamp)
                          : max_seen == h.max_timestamp;
  if (create_time && options.check_max_timestamp && !max_ok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "maxTimestamp %d at byte 35 %s the largest record timestamp %d", h.max_timestamp,
        options.allow_compacted ? "is below" : "differs from", max_seen));
  }
  return absl::OkStatus();
}

// `keep_plain`, when set, receives the decompressed records (which the
// sink's views point into) instead of dropping them on return.
template <typename Sink>
absl::StatusOr<BatchHeader> Validate(std::span<const uint8_t> batch, const ValidateOptions& options,
                                     Sink& sink, std::vector<uint8_t>* keep_plain = nullptr) {
  absl::StatusOr<BatchHeader> header = ParseBatchHeader(batch);
  if (!header.ok()) return header.status();
  const BatchHeader& h = *header;
  if (h.size_bytes() != batch.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batchLength %d at byte 8 declares a %d-byte batch but the buffer holds %d bytes "
        "(%d trailing)",
        h.batch_length, h.size_bytes(), batch.size(), batch.size() - h.size_bytes()));
  }
  const uint32_t crc = ComputeBatchCrc(batch);
  if (crc != h.crc) {
    return absl::InvalidArgumentError(
        absl::StrFormat("crc mismatch: byte 17 holds 0x%08x, CRC-32C of bytes [21, %d) is 0x%08x",
                        h.crc, batch.size(), crc));
  }
  if (h.records_count == 0 && !options.allow_compacted) {
    return absl::InvalidArgumentError("recordsCount at byte 57 is 0: a batch needs a record");
  }
  if (h.last_offset_delta != h.records_count - 1 && !options.allow_compacted) {
    return absl::InvalidArgumentError(
        absl::StrFormat("lastOffsetDelta %d at byte 23 should be recordsCount - 1 = %d",
                        h.last_offset_delta, h.records_count - 1));
  }
  const std::span<const uint8_t> records = batch.subspan(kRecords);
  if (h.compression() == Compression::kNone) {
    if (absl::Status s = WalkRecords(Cursor(records, kRecords, "the batch"), h, options, sink);
        !s.ok()) {
      return s;
    }
    return header;
  }
  absl::StatusOr<std::vector<uint8_t>> plain =
      Decompress(h.compression(), records, options.max_decompressed_bytes);
  if (!plain.ok()) {
    return absl::Status(plain.status().code(),
                        absl::StrFormat("records at byte 61 (%s compressed, %d bytes): %s",
                                        CompressionName(h.compression()), records.size(),
                                        plain.status().message()));
  }
  if (absl::Status s = WalkRecords(Cursor(*plain, 0, "the decompressed records"), h, options, sink);
      !s.ok()) {
    return s;
  }
  if (keep_plain != nullptr) *keep_plain = *std::move(plain);  // the buffer moves: views stay valid
  return header;
}

}  // namespace

absl::StatusOr<BatchHeader> ValidateBatch(std::span<const uint8_t> batch,
                                          const ValidateOptions& options) {
  NullSink sink;
  return Validate(batch, options, sink);
}

absl::Status VerifyBatch(std::span<const uint8_t> batch, const ValidateOptions& options) {
  return ValidateBatch(batch, options).status();
}

absl::StatusOr<std::vector<Record>> DecodeBatch(std::span<const uint8_t> batch,
                                                const ValidateOptions& options) {
  std::vector<Record> records;
  CollectSink sink{&records};
  absl::StatusOr<BatchHeader> header = Validate(batch, options, sink);
  if (!header.ok()) return header.status();
  return records;
}

absl::Status DecodeBatchViews(std::span<const uint8_t> batch, const ValidateOptions& options,
                              DecodedBatchViews& out) {
  out.records.clear();
  out.decompressed.clear();
  // records keeps its capacity: a consumer decoding batch after batch
  // allocates nothing per record.
  ViewSink sink{&out.records};
  absl::StatusOr<BatchHeader> header = Validate(batch, options, sink, &out.decompressed);
  if (!header.ok()) {
    out.records.clear();
    return header.status();
  }
  out.header = *header;
  return absl::OkStatus();
}

}  // namespace raftlog::storage
