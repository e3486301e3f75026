// Compression of a RecordBatch's records section, with the codec numbering of
// Kafka's batch attributes (bits 0-2). zstd uses standard zstd frames and lz4
// the LZ4 frame format, as Kafka clients do; gzip and snappy are recognised
// but not implemented (kUnimplemented).
//
// Decompression never trusts sizes declared in the input: output grows in
// steps and stops with kResourceExhausted once it would pass `max_output`
// (a guard against decompression bombs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace raftlog::storage {

enum class Compression : uint8_t {
  kNone = 0,
  kGzip = 1,
  kSnappy = 2,
  kLz4 = 3,
  kZstd = 4,
};

inline constexpr size_t kDefaultMaxDecompressedBytes = size_t{64} << 20;  // 64 MiB

// "none", "gzip", "snappy", "lz4", "zstd", or "unknown(N)" for other values.
std::string_view CompressionName(Compression c);

// Compresses `input` with `codec`. kNone returns a copy.
absl::StatusOr<std::vector<uint8_t>> Compress(Compression codec, std::span<const uint8_t> input);

// Decompresses `input` (one or more complete frames of `codec`). Errors:
// kInvalidArgument for corrupt or truncated input, kResourceExhausted past
// `max_output` bytes, kUnimplemented for gzip/snappy.
absl::StatusOr<std::vector<uint8_t>> Decompress(Compression codec, std::span<const uint8_t> input,
                                                size_t max_output = kDefaultMaxDecompressedBytes);

}  // namespace raftlog::storage
