// Frame encoding; see log_entry_format.h and the format at the top of segment.h.
#include "storage/log_entry_format.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"
#include "storage/record_batch_header.h"

namespace raftlog::storage {

namespace fl = frame_layout;

namespace {

uint32_t ComputeCrc(std::span<const uint8_t> frame) {
  return Crc32c(frame.data() + fl::kPayloadLength, frame.size() - fl::kPayloadLength);
}

// GF(2) 32x32 matrices as 32 column words: the linear map "append zero bits"
// applied to a CRC register (zlib's crc32_combine, Castagnoli polynomial).
using Gf2Matrix = std::array<uint32_t, 32>;

// Branch-free: the bits of a CRC are random, and a loop that branched on
// them cost ~1.7 us per Crc32cCombine in mispredictions (more than a CRC
// pass over 16 KiB in cache); this takes ~10 ns per matrix.
uint32_t Gf2Times(const Gf2Matrix& m, uint32_t v) {
  uint32_t sum = 0;
  for (int i = 0; i < 32; ++i) sum ^= m[i] & (0u - ((v >> i) & 1u));
  return sum;
}

Gf2Matrix Gf2Square(const Gf2Matrix& m) {
  Gf2Matrix sq;
  for (int i = 0; i < 32; ++i) sq[i] = Gf2Times(m, m[i]);
  return sq;
}

// kZeroBytes[k] appends 2^k zero bytes.
std::array<Gf2Matrix, 64> MakeZeroOperators() {
  Gf2Matrix one_bit;
  one_bit[0] = 0x82F63B78;  // reflected Castagnoli polynomial
  for (int i = 1; i < 32; ++i) one_bit[i] = uint32_t{1} << (i - 1);
  std::array<Gf2Matrix, 64> ops;
  ops[0] = Gf2Square(Gf2Square(Gf2Square(one_bit)));  // 8 bits
  for (size_t k = 1; k < ops.size(); ++k) ops[k] = Gf2Square(ops[k - 1]);
  return ops;
}

}  // namespace

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  static const std::array<Gf2Matrix, 64> kZeroBytes = MakeZeroOperators();
  for (size_t k = 0; len_b != 0; ++k, len_b >>= 1) {
    if (len_b & 1) crc_a = Gf2Times(kZeroBytes[k], crc_a);
  }
  return crc_a ^ crc_b;
}

size_t EncodeFrameHead(const FrameHeader& h, std::span<const uint8_t> payload, FrameHead* head,
                       bool derive_crc) {
  uint8_t* p = head->data();
  StoreBigEndian<uint32_t>(p + fl::kPayloadLength, static_cast<uint32_t>(payload.size()));
  StoreBigEndian<int64_t>(p + fl::kRaftIndex, h.index.value());
  StoreBigEndian<int64_t>(p + fl::kTerm, h.term.value());
  StoreBigEndian<int64_t>(p + fl::kBaseOffset, h.base_offset.value());
  StoreBigEndian<int64_t>(p + fl::kMaxTimestamp, h.max_timestamp);
  StoreBigEndian<uint32_t>(p + fl::kOffsetCount, h.offset_count);
  p[fl::kType] = static_cast<uint8_t>(h.type);
  p[fl::kReserved] = p[fl::kReserved + 1] = p[fl::kReserved + 2] = 0;
  size_t n = kFrameHeaderSize;
  if (h.type == EntryType::kData && payload.size() >= 8) {
    StoreBigEndian<int64_t>(p + kFrameHeaderSize, h.base_offset.value());
    n = kMaxFrameHeadSize;
  }
  // The frame's bytes after the head: the payload minus what the head holds.
  const std::span<const uint8_t> rest = payload.subspan(n - kFrameHeaderSize);
  uint32_t crc;
  if (derive_crc && h.type == EntryType::kData && payload.size() >= batch_layout::kRecords) {
    // [4, 48) of the header and the batch bytes before its attributes field
    // are hashed; the rest is what the batch CRC covers.
    static_assert(batch_layout::kAttributes >= 8);
    const uint32_t head_crc =
        Crc32cExtend(Crc32c(p + fl::kPayloadLength, n - fl::kPayloadLength), rest.data(),
                     batch_layout::kAttributes - (n - kFrameHeaderSize));
    const uint32_t batch_crc = LoadBigEndian<uint32_t>(payload.data() + batch_layout::kCrc);
    crc = Crc32cCombine(head_crc, batch_crc, payload.size() - batch_layout::kAttributes);
  } else {
    crc = Crc32cExtend(Crc32c(p + fl::kPayloadLength, n - fl::kPayloadLength), rest.data(),
                       rest.size());
  }
  StoreBigEndian<uint32_t>(p + fl::kCrc, crc);
  return n;
}

void EncodeFrame(const FrameHeader& h, std::span<const uint8_t> payload, std::vector<uint8_t>* out,
                 bool derive_crc) {
  FrameHead head;
  const size_t n = EncodeFrameHead(h, payload, &head, derive_crc);
  out->insert(out->end(), head.begin(), head.begin() + static_cast<std::ptrdiff_t>(n));
  out->insert(out->end(), payload.begin() + static_cast<std::ptrdiff_t>(n - kFrameHeaderSize),
              payload.end());
}

void RewriteFrameCrc(std::span<uint8_t> frame) {
  StoreBigEndian<uint32_t>(frame.data() + fl::kCrc, ComputeCrc(frame));
}

bool IsZeroHeader(std::span<const uint8_t> header) {
  return header.size() >= kFrameHeaderSize &&
         std::all_of(header.begin(), header.begin() + kFrameHeaderSize,
                     [](uint8_t b) { return b == 0; });
}

absl::StatusOr<FrameHeader> DecodeFrameHeader(std::span<const uint8_t> header) {
  if (header.size() < kFrameHeaderSize) {
    return absl::InvalidArgumentError("frame header: too short");
  }
  const uint8_t* p = header.data();
  FrameHeader h;
  h.crc = LoadBigEndian<uint32_t>(p + fl::kCrc);
  h.payload_length = LoadBigEndian<uint32_t>(p + fl::kPayloadLength);
  h.index = RaftIndex(LoadBigEndian<int64_t>(p + fl::kRaftIndex));
  h.term = Term(LoadBigEndian<int64_t>(p + fl::kTerm));
  h.base_offset = Offset(LoadBigEndian<int64_t>(p + fl::kBaseOffset));
  h.max_timestamp = LoadBigEndian<int64_t>(p + fl::kMaxTimestamp);
  h.offset_count = LoadBigEndian<uint32_t>(p + fl::kOffsetCount);
  const uint8_t type = p[fl::kType];
  if (p[fl::kReserved] != 0 || p[fl::kReserved + 1] != 0 || p[fl::kReserved + 2] != 0) {
    return absl::InvalidArgumentError("frame header: reserved bytes not zero");
  }
  if (h.payload_length > kMaxFramePayload) {
    return absl::InvalidArgumentError(
        absl::StrFormat("frame header: payload length %u over limit", h.payload_length));
  }
  if (h.index.value() < 1 || h.term.value() < 0 || h.base_offset.value() < 0) {
    return absl::InvalidArgumentError("frame header: negative index, term or offset");
  }
  if (type == static_cast<uint8_t>(EntryType::kData)) {
    h.type = EntryType::kData;
    if (h.offset_count == 0)
      return absl::InvalidArgumentError("frame header: data without offsets");
  } else if (type == static_cast<uint8_t>(EntryType::kRaft)) {
    h.type = EntryType::kRaft;
    if (h.offset_count != 0 || h.max_timestamp != -1) {
      return absl::InvalidArgumentError("frame header: raft entry with offsets or timestamp");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrFormat("frame header: unknown type %d", type));
  }
  return h;
}

bool FrameCrcMatches(std::span<const uint8_t> frame) {
  if (frame.size() < kFrameHeaderSize) return false;
  return LoadBigEndian<uint32_t>(frame.data() + fl::kCrc) == ComputeCrc(frame);
}

}  // namespace raftlog::storage
