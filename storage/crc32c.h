// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of Kafka's RecordBatch v2 and of our on-disk formats.
//
// Values are the finished CRC (pre- and post-inverted, as in RFC 3720), so
// Crc32cExtend(Crc32c(a), b) == Crc32c(a || b) and Crc32c of nothing is 0.
// Uses the SSE4.2 crc32 instruction (and AVX-512 carry-less multiply folding
// for long inputs) when the CPU has it (checked once at first use) and a
// portable slicing-by-8 table otherwise; all give equal results.
#pragma once

#include <cstddef>
#include <cstdint>

namespace raftlog::storage {

// Extends `crc` (a finished CRC-32C of some prefix, 0 for none) with `n` bytes.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

// CRC-32C of `n` bytes.
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

namespace crc32c_internal {
// The two implementations, exposed so tests and benchmarks can compare them.
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
// Requires HardwareAvailable(). Inputs of >= 1 KiB are folded with AVX-512
// VPCLMULQDQ when the CPU has it, the rest (and all of it otherwise) goes
// through the SSE4.2 crc32 instruction in three interleaved streams.
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
// The crc32-instruction path alone (three streams, no folding), for tests.
// Requires HardwareAvailable().
uint32_t ExtendCrc32Instruction(uint32_t crc, const void* data, size_t n);
bool HardwareAvailable();
}  // namespace crc32c_internal

}  // namespace raftlog::storage
