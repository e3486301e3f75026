// Frame encoding; see log_entry_format.h and the format at the top of segment.h.
#include "storage/log_entry_format.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::storage {

namespace fl = frame_layout;

namespace {

uint32_t ComputeCrc(std::span<const uint8_t> frame) {
  return Crc32c(frame.data() + fl::kPayloadLength, frame.size() - fl::kPayloadLength);
}

}  // namespace

void EncodeFrame(const FrameHeader& h, std::span<const uint8_t> payload,
                 std::vector<uint8_t>* out) {
  const size_t start = out->size();
  out->resize(start + kFrameHeaderSize);
  uint8_t* p = out->data() + start;
  StoreBigEndian<uint32_t>(p + fl::kPayloadLength, static_cast<uint32_t>(payload.size()));
  StoreBigEndian<int64_t>(p + fl::kRaftIndex, h.index.value());
  StoreBigEndian<int64_t>(p + fl::kTerm, h.term.value());
  StoreBigEndian<int64_t>(p + fl::kBaseOffset, h.base_offset.value());
  StoreBigEndian<int64_t>(p + fl::kMaxTimestamp, h.max_timestamp);
  StoreBigEndian<uint32_t>(p + fl::kOffsetCount, h.offset_count);
  p[fl::kType] = static_cast<uint8_t>(h.type);
  p[fl::kReserved] = p[fl::kReserved + 1] = p[fl::kReserved + 2] = 0;
  out->insert(out->end(), payload.begin(), payload.end());
  if (h.type == EntryType::kData && payload.size() >= 8) {
    StoreBigEndian<int64_t>(out->data() + start + kFrameHeaderSize, h.base_offset.value());
  }
  RewriteFrameCrc(std::span<uint8_t>(out->data() + start, kFrameHeaderSize + payload.size()));
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
