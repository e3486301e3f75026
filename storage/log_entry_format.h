// Encoding and decoding of one log frame: the unit stored in a segment's .log
// file, wrapping one entry (a RecordBatch v2 or opaque Raft bytes) with its
// Raft index, term, offsets and a CRC-32C. The byte layout is documented with
// the rest of the on-disk format at the top of storage/segment.h.
//
// Invariant: EncodeFrame output is exactly kFrameHeaderSize + payload bytes and
// DecodeFrameHeader(EncodeFrame(h, p)) == h; FrameCrcMatches holds for it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/log_types.h"

namespace raftlog::storage {

inline constexpr size_t kFrameHeaderSize = 48;
// Sanity bound on one entry; a larger length field means a corrupt header.
inline constexpr uint32_t kMaxFramePayload = 64u << 20;

namespace frame_layout {
inline constexpr size_t kCrc = 0;
inline constexpr size_t kPayloadLength = 4;
inline constexpr size_t kRaftIndex = 8;
inline constexpr size_t kTerm = 16;
inline constexpr size_t kBaseOffset = 24;
inline constexpr size_t kMaxTimestamp = 32;
inline constexpr size_t kOffsetCount = 40;
inline constexpr size_t kType = 44;
inline constexpr size_t kReserved = 45;  // 3 bytes, zero
}  // namespace frame_layout

struct FrameHeader {
  uint32_t crc = 0;
  uint32_t payload_length = 0;
  RaftIndex index;
  Term term;
  Offset base_offset;          // data: batch base offset; kRaft: log next offset
  int64_t max_timestamp = -1;  // data: batch max timestamp; kRaft: -1
  uint32_t offset_count = 0;   // data: last_offset_delta + 1 (>= 1); kRaft: 0
  EntryType type = EntryType::kData;

  Offset next_offset() const { return base_offset + offset_count; }
  size_t frame_size() const { return kFrameHeaderSize + payload_length; }
};

// Appends header + payload to `out`, computing the CRC (h.crc is ignored).
// For a data frame, bytes 0..7 of the copied payload (the RecordBatch
// baseOffset, outside the batch CRC) are set to h.base_offset first.
//
// With `derive_crc` (data frames only), the frame CRC is not computed over the
// payload but derived in O(log n) from the RecordBatch's own CRC-32C (which
// covers the batch from its attributes field to the end): equal to the
// computed one iff the batch CRC is right. Only for payloads known to have
// passed ValidateBatch; a wrong batch CRC then makes the frame fail its CRC
// check on read (DataLoss) and at recovery.
void EncodeFrame(const FrameHeader& h, std::span<const uint8_t> payload, std::vector<uint8_t>* out,
                 bool derive_crc = false);

// The longest frame head (see EncodeFrameHead): the header plus the 8 payload
// bytes a data frame rewrites (the RecordBatch baseOffset).
inline constexpr size_t kMaxFrameHeadSize = kFrameHeaderSize + 8;
using FrameHead = std::array<uint8_t, kMaxFrameHeadSize>;

// Gather form of EncodeFrame, for writing a frame without copying its
// payload: fills `head` with the frame's first bytes (the header with its
// CRC and, for a data frame of >= 8 bytes, the payload's first 8 bytes set to
// h.base_offset) and returns how many (kFrameHeaderSize or kMaxFrameHeadSize).
// The frame is head[0, n) followed by payload[n - kFrameHeaderSize, end):
// byte for byte what EncodeFrame appends. `derive_crc` as for EncodeFrame.
size_t EncodeFrameHead(const FrameHeader& h, std::span<const uint8_t> payload, FrameHead* head,
                       bool derive_crc = false);

// CRC-32C of a || b from Crc32c(a), Crc32c(b) and b's length (as zlib's
// crc32_combine), in O(log len_b) with precomputed operators.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// Recomputes the CRC of a frame whose bytes were changed in place.
void RewriteFrameCrc(std::span<uint8_t> frame);

// True if all kFrameHeaderSize bytes are zero: the clean end of a
// preallocated (or zero-extended) file, never a frame.
bool IsZeroHeader(std::span<const uint8_t> header);

// Decodes and sanity-checks a header (CRC not checked: the payload is needed).
// InvalidArgument describing the problem if the header cannot be a frame's:
// unknown type, nonzero reserved bytes, length over kMaxFramePayload, data
// frame with offset_count 0, kRaft frame with offsets or timestamp.
absl::StatusOr<FrameHeader> DecodeFrameHeader(std::span<const uint8_t> header);

// True if `frame` (header + payload, exactly frame_size() bytes) has a
// matching CRC.
bool FrameCrcMatches(std::span<const uint8_t> frame);

}  // namespace raftlog::storage
