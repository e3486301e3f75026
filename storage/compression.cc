// zstd and LZ4-frame compression for record batches, with a hard cap on
// decompressed size. LZ4 output uses the settings Kafka's own writer uses
// (64 KiB independent blocks, no content size, no checksums) so Java
// consumers can read it.
#include "storage/compression.h"

#include <lz4frame.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace raftlog::storage {
namespace {

// Output grows by this step (or doubling) so a small input never allocates
// the whole cap up front.
constexpr size_t kInitialOutput = 64 << 10;

size_t NextCapacity(size_t current, size_t max_output) {
  const size_t grown = std::max(current * 2, kInitialOutput);
  // One byte past the cap lets us detect "more output than allowed".
  if (max_output == SIZE_MAX) return grown;
  return std::min(grown, max_output + 1);
}

absl::Status TooLarge(Compression codec, size_t max_output) {
  return absl::ResourceExhaustedError(
      absl::StrFormat("%s payload decompresses to more than %d bytes (the limit)",
                      CompressionName(codec), max_output));
}

absl::StatusOr<std::vector<uint8_t>> CompressZstd(std::span<const uint8_t> in) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), /*level=*/3);
  if (ZSTD_isError(n)) {
    return absl::InternalError(absl::StrFormat("zstd compress: %s", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> DecompressZstd(std::span<const uint8_t> in,
                                                    size_t max_output) {
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> ds(ZSTD_createDStream(),
                                                                &ZSTD_freeDStream);
  if (!ds) return absl::ResourceExhaustedError("zstd: cannot allocate a decompression context");
  ZSTD_initDStream(ds.get());
  std::vector<uint8_t> out;
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  size_t produced = 0;
  size_t last_ret = 1;  // 0 once the frame being decoded is complete and flushed
  while (true) {
    if (produced == out.size()) {
      if (out.size() > max_output) return TooLarge(Compression::kZstd, max_output);
      out.resize(NextCapacity(out.size(), max_output));
    }
    ZSTD_outBuffer output{out.data(), out.size(), produced};
    last_ret = ZSTD_decompressStream(ds.get(), &output, &input);
    if (ZSTD_isError(last_ret)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "zstd payload is corrupt at input byte %d: %s", input.pos, ZSTD_getErrorName(last_ret)));
    }
    produced = output.pos;
    if (produced > max_output) return TooLarge(Compression::kZstd, max_output);
    if (input.pos == input.size) {
      if (last_ret == 0) break;  // the last frame is complete and flushed
      // Output not full yet input exhausted mid-frame: truncated.
      if (produced < out.size()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "zstd payload is truncated: the frame is incomplete after %d input bytes", in.size()));
      }
    }
  }
  out.resize(produced);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> CompressLz4(std::span<const uint8_t> in) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  prefs.frameInfo.contentSize = 0;
  std::vector<uint8_t> out(LZ4F_compressFrameBound(in.size(), &prefs));
  const size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) {
    return absl::InternalError(absl::StrFormat("lz4 compress: %s", LZ4F_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> DecompressLz4(std::span<const uint8_t> in, size_t max_output) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return absl::ResourceExhaustedError("lz4: cannot allocate a decompression context");
  }
  std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)> dctx(
      raw, &LZ4F_freeDecompressionContext);
  std::vector<uint8_t> out;
  size_t produced = 0;
  size_t consumed = 0;
  size_t hint = 1;  // LZ4F_decompress returns 0 once a frame is complete
  while (consumed < in.size()) {
    if (produced == out.size()) {
      if (out.size() > max_output) return TooLarge(Compression::kLz4, max_output);
      out.resize(NextCapacity(out.size(), max_output));
    }
    size_t dst_size = out.size() - produced;
    size_t src_size = in.size() - consumed;
    hint = LZ4F_decompress(dctx.get(), out.data() + produced, &dst_size, in.data() + consumed,
                           &src_size, nullptr);
    if (LZ4F_isError(hint)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "lz4 payload is corrupt at input byte %d: %s", consumed, LZ4F_getErrorName(hint)));
    }
    produced += dst_size;
    consumed += src_size;
    if (produced > max_output) return TooLarge(Compression::kLz4, max_output);
    if (dst_size == 0 && src_size == 0 && produced < out.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("lz4 payload makes no progress at input byte %d", consumed));
    }
  }
  // Drain output the decoder may still hold after the last input byte.
  while (hint != 0) {
    if (produced == out.size()) {
      if (out.size() > max_output) return TooLarge(Compression::kLz4, max_output);
      out.resize(NextCapacity(out.size(), max_output));
    }
    size_t dst_size = out.size() - produced;
    size_t src_size = 0;
    hint =
        LZ4F_decompress(dctx.get(), out.data() + produced, &dst_size, nullptr, &src_size, nullptr);
    if (LZ4F_isError(hint)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("lz4 payload is corrupt: %s", LZ4F_getErrorName(hint)));
    }
    produced += dst_size;
    if (produced > max_output) return TooLarge(Compression::kLz4, max_output);
    if (dst_size == 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "lz4 payload is truncated: the frame is incomplete after %d input bytes", in.size()));
    }
  }
  out.resize(produced);
  return out;
}

}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

absl::StatusOr<std::vector<uint8_t>> Compress(Compression codec, std::span<const uint8_t> input) {
  switch (codec) {
    case Compression::kNone:
      return std::vector<uint8_t>(input.begin(), input.end());
    case Compression::kZstd:
      return CompressZstd(input);
    case Compression::kLz4:
      return CompressLz4(input);
    case Compression::kGzip:
    case Compression::kSnappy:
      return absl::UnimplementedError(absl::StrFormat(
          "%s compression is not supported (use none, lz4 or zstd)", CompressionName(codec)));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown compression codec %d", static_cast<int>(codec)));
}

absl::StatusOr<std::vector<uint8_t>> Decompress(Compression codec, std::span<const uint8_t> input,
                                                size_t max_output) {
  switch (codec) {
    case Compression::kNone:
      if (input.size() > max_output) return TooLarge(codec, max_output);
      return std::vector<uint8_t>(input.begin(), input.end());
    case Compression::kZstd:
      return DecompressZstd(input, max_output);
    case Compression::kLz4:
      return DecompressLz4(input, max_output);
    case Compression::kGzip:
    case Compression::kSnappy:
      return absl::UnimplementedError(absl::StrFormat(
          "%s compression is not supported (use none, lz4 or zstd)", CompressionName(codec)));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown compression codec %d", static_cast<int>(codec)));
}

}  // namespace raftlog::storage
