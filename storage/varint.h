// Kafka's variable-length integers: zigzag-encoded base-128 varints, least
// significant group first, high bit = "more bytes follow". A varint holds an
// int32 in at most 5 bytes, a varlong an int64 in at most 10.
//
// Decoders are bounds-checked: they never read past the span they are given,
// and reject encodings longer than 5/10 bytes or whose last byte carries bits
// beyond 32/64 (Kafka truncates those silently; we refuse them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace raftlog::storage {

inline constexpr size_t kMaxVarintBytes = 5;
inline constexpr size_t kMaxVarlongBytes = 10;

constexpr uint32_t ZigZagEncode32(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}
constexpr int32_t ZigZagDecode32(uint32_t u) {
  return static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
}
constexpr uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t ZigZagDecode64(uint64_t u) {
  return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

// Encoded sizes, in bytes (1..5 and 1..10).
size_t VarintSize(int32_t v);
size_t VarlongSize(int64_t v);

// Appends the encoding of v to *out.
void AppendVarint(std::vector<uint8_t>* out, int32_t v);
void AppendVarlong(std::vector<uint8_t>* out, int64_t v);

// Writes the encoding of v at p (room for kMaxVar*Bytes assumed); returns the
// number of bytes written.
size_t EncodeVarint(uint8_t* p, int32_t v);
size_t EncodeVarlong(uint8_t* p, int64_t v);

enum class VarintStatus : uint8_t {
  kOk,
  kTruncated,  // the span ended while the high bit said more bytes follow
  kOverlong,   // more than 5/10 bytes, or bits set beyond 32/64
};

// Decodes one varint from the front of `in`. On kOk sets *value and *length
// (bytes consumed); otherwise leaves them untouched.
VarintStatus DecodeVarint(std::span<const uint8_t> in, int32_t* value, size_t* length);
VarintStatus DecodeVarlong(std::span<const uint8_t> in, int64_t* value, size_t* length);

}  // namespace raftlog::storage
