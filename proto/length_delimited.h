// Protobuf wire helpers for the encoders that write a message's bytes by
// hand around payloads sent as their own gRPC slices (Fetch answers,
// transport batches, Produce requests): the key and length of a
// length-delimited field, and its encoded size. Header-only; the bytes are
// exactly what protobuf writes for such a field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "google/protobuf/io/coded_stream.h"

namespace raftlog::proto {

inline constexpr uint32_t kLengthDelimitedWireType = 2;

// Appends the key of field `field` (wire type 2) and the length `len`.
inline void AppendLengthDelimitedHeader(std::string* out, int field, size_t len) {
  using google::protobuf::io::CodedOutputStream;
  uint8_t buf[2 * 10];  // two varints of at most 10 bytes
  uint8_t* end = CodedOutputStream::WriteVarint64ToArray(
      (static_cast<uint64_t>(field) << 3) | kLengthDelimitedWireType, buf);
  end = CodedOutputStream::WriteVarint64ToArray(len, end);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

// Bytes of a length-delimited field of `len` bytes: key, length and value.
inline size_t LengthDelimitedFieldSize(int field, size_t len) {
  using google::protobuf::io::CodedOutputStream;
  return CodedOutputStream::VarintSize64((static_cast<uint64_t>(field) << 3) |
                                         kLengthDelimitedWireType) +
         CodedOutputStream::VarintSize64(len) + len;
}

}  // namespace raftlog::proto
