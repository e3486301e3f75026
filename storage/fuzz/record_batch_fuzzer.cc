// libFuzzer entry point for the record-batch codec. Treats the input as one
// RecordBatch and checks, beyond "no crash, no over-read, no UB":
//  - ValidateBatch and DecodeBatch agree on acceptance;
//  - an accepted batch re-encoded by BatchBuilder validates and decodes to the
//    same records;
//  - patching baseOffset/partitionLeaderEpoch, or stamping LogAppendTime,
//    keeps an accepted batch valid;
//  - BatchSize agrees with ParseBatchHeader's framing.
// Each input is checked twice: as given, and with batchLength and the CRC
// repaired, so mutations reach the record walker instead of stopping at the
// CRC check. Any violated property traps, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "storage/big_endian.h"
#include "storage/record_batch.h"

namespace {

using raftlog::storage::BatchBuilder;
using raftlog::storage::BatchHeader;
using raftlog::storage::Record;
using raftlog::storage::ValidateOptions;

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    __builtin_trap();
  }
}

void CheckOne(std::span<const uint8_t> in) {
  const size_t size = in.size();
  ValidateOptions options;
  options.max_decompressed_bytes = 1 << 20;  // keep bombs cheap
  // Lenient on maxTimestamp so more inputs reach the re-encoding checks; the
  // strict verdict may only be stricter.
  options.check_max_timestamp = false;
  ValidateOptions strict = options;
  strict.check_max_timestamp = true;
  const bool strict_ok = raftlog::storage::VerifyBatch(in, strict).ok();

  auto frame = raftlog::storage::BatchSize(in);
  auto header = raftlog::storage::ParseBatchHeader(in);
  if (header.ok()) {
    Require(frame.ok() && *frame == header->size_bytes() && *frame <= size,
            "BatchSize agrees with ParseBatchHeader");
  }

  auto validated = raftlog::storage::ValidateBatch(in, options);
  auto decoded = raftlog::storage::DecodeBatch(in, options);
  Require(validated.ok() == decoded.ok(), "ValidateBatch and DecodeBatch agree");
  Require(!strict_ok || validated.ok(), "the strict check accepts only what the lenient does");
  ValidateOptions compacted = options;
  compacted.allow_compacted = true;
  auto compacted_decoded = raftlog::storage::DecodeBatch(in, compacted);
  Require(!validated.ok() || (compacted_decoded.ok() && *compacted_decoded == *decoded),
          "allow_compacted accepts every valid batch and decodes it the same");
  if (!validated.ok()) return;
  Require(header.ok(), "a valid batch has a parseable header");
  Require(static_cast<int64_t>(decoded->size()) == validated->records_count,
          "decoded record count matches recordsCount");

  // Patching fields outside the CRC keeps the batch valid.
  std::vector<uint8_t> patched(in.begin(), in.end());
  raftlog::storage::SetBaseOffset(patched, 1000);
  raftlog::storage::SetPartitionLeaderEpoch(patched, 7);
  auto repatched = raftlog::storage::ValidateBatch(patched, options);
  Require(
      repatched.ok() && repatched->base_offset == 1000 && repatched->partition_leader_epoch == 7,
      "patched batch stays valid");
  // Stamping LogAppendTime rewrites the CRC; the batch must stay valid even
  // under the strict maxTimestamp check (not applied to LogAppendTime).
  raftlog::storage::SetMaxTimestamp(patched, raftlog::storage::TimestampType::kLogAppendTime, 42);
  auto stamped = raftlog::storage::ValidateBatch(patched, strict);
  Require(stamped.ok() && stamped->max_timestamp == 42, "LogAppendTime stamp keeps it valid");

  // Re-encode and compare.
  const BatchHeader& h = *validated;
  BatchBuilder builder;
  builder.set_base_offset(h.base_offset)
      .set_partition_leader_epoch(h.partition_leader_epoch)
      .set_producer(h.producer_id, h.producer_epoch, h.base_sequence)
      .set_timestamp_type(h.timestamp_type())
      .set_compression(h.compression())
      .set_transactional(h.is_transactional())
      .set_control(h.is_control());
  for (const Record& r : *decoded) builder.Add(r);
  auto rebuilt = builder.Build();
  if (!rebuilt.ok()) {
    // The builder takes the first record's timestamp as the base, so records
    // whose timestamps span more than int64 (possible with another base)
    // cannot be re-encoded; it must say so rather than wrap around.
    Require(std::string(rebuilt.status().message()).find("overflows int64") != std::string::npos,
            "re-encoding an accepted batch succeeds (or reports timestamp overflow)");
    return;
  }
  // LogAppendTime batches decode every timestamp as maxTimestamp, so the
  // rebuilt batch's maxTimestamp matches them: the strict check must pass.
  auto redecoded = raftlog::storage::DecodeBatch(*rebuilt, strict);
  Require(redecoded.ok(), "re-encoded batch validates");
  Require(*redecoded == *decoded, "re-encoded batch decodes to the same records");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  CheckOne(in);
  namespace layout = raftlog::storage::batch_layout;
  if (size >= layout::kHeaderSize && size - layout::kLogOverhead <= INT32_MAX) {
    std::vector<uint8_t> repaired(in.begin(), in.end());
    raftlog::storage::StoreBigEndian<int32_t>(repaired.data() + layout::kBatchLength,
                                              static_cast<int32_t>(size - layout::kLogOverhead));
    raftlog::storage::StoreBigEndian<uint32_t>(repaired.data() + layout::kCrc,
                                               raftlog::storage::ComputeBatchCrc(repaired));
    CheckOne(repaired);
  }
  return 0;
}
