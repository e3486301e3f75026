// Kafka zigzag varint / varlong encoding and bounds-checked decoding.
// Invariant: decoders touch only in[0 .. min(in.size(), 5 or 10)).
#include "storage/varint.h"

namespace raftlog::storage {
namespace {

size_t UnsignedSize(uint64_t u) {
  size_t n = 1;
  while (u >= 0x80) {
    u >>= 7;
    ++n;
  }
  return n;
}

size_t EncodeUnsigned(uint8_t* p, uint64_t u) {
  size_t n = 0;
  while (u >= 0x80) {
    p[n++] = static_cast<uint8_t>(u | 0x80);
    u >>= 7;
  }
  p[n++] = static_cast<uint8_t>(u);
  return n;
}

// Decodes an unsigned base-128 value of at most `max_bytes` bytes whose
// total width is `bits` (32 or 64).
VarintStatus DecodeUnsigned(std::span<const uint8_t> in, size_t max_bytes, unsigned bits,
                            uint64_t* value, size_t* length) {
  uint64_t result = 0;
  for (size_t i = 0; i < max_bytes; ++i) {
    if (i >= in.size()) return VarintStatus::kTruncated;
    const uint8_t b = in[i];
    const unsigned shift = static_cast<unsigned>(7 * i);
    if (i == max_bytes - 1) {
      // Last permitted byte: no continuation bit and no bits beyond `bits`.
      const unsigned room = bits - shift;  // 4 for varint, 1 for varlong
      if ((b & 0x80) != 0 || (b >> room) != 0) return VarintStatus::kOverlong;
    }
    result |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *value = result;
      *length = i + 1;
      return VarintStatus::kOk;
    }
  }
  return VarintStatus::kOverlong;  // unreachable: the last byte returns above
}

}  // namespace

size_t VarintSize(int32_t v) { return UnsignedSize(ZigZagEncode32(v)); }
size_t VarlongSize(int64_t v) { return UnsignedSize(ZigZagEncode64(v)); }

size_t EncodeVarint(uint8_t* p, int32_t v) { return EncodeUnsigned(p, ZigZagEncode32(v)); }
size_t EncodeVarlong(uint8_t* p, int64_t v) { return EncodeUnsigned(p, ZigZagEncode64(v)); }

void AppendVarint(std::vector<uint8_t>* out, int32_t v) {
  uint8_t buf[kMaxVarintBytes];
  const size_t n = EncodeVarint(buf, v);
  out->insert(out->end(), buf, buf + n);
}

void AppendVarlong(std::vector<uint8_t>* out, int64_t v) {
  uint8_t buf[kMaxVarlongBytes];
  const size_t n = EncodeVarlong(buf, v);
  out->insert(out->end(), buf, buf + n);
}

VarintStatus DecodeVarint(std::span<const uint8_t> in, int32_t* value, size_t* length) {
  uint64_t u = 0;
  size_t n = 0;
  const VarintStatus s = DecodeUnsigned(in, kMaxVarintBytes, 32, &u, &n);
  if (s == VarintStatus::kOk) {
    *value = ZigZagDecode32(static_cast<uint32_t>(u));
    *length = n;
  }
  return s;
}

VarintStatus DecodeVarlong(std::span<const uint8_t> in, int64_t* value, size_t* length) {
  uint64_t u = 0;
  size_t n = 0;
  const VarintStatus s = DecodeUnsigned(in, kMaxVarlongBytes, 64, &u, &n);
  if (s == VarintStatus::kOk) {
    *value = ZigZagDecode64(u);
    *length = n;
  }
  return s;
}

}  // namespace raftlog::storage
