// CRC-32C: slicing-by-8 table implementation and an SSE4.2 implementation
// (three interleaved crc32 streams joined with zero-append shift tables),
// chosen once at first use. Invariant: both return identical values for every
// input (crc32c_test checks every length and alignment up to 300 bytes, and
// random lengths, seeds and alignments across the lane-size boundaries).
#include "storage/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace raftlog::storage {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // reflected Castagnoli polynomial

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// ---- Three interleaved hardware streams ----
// The crc32 instruction has a latency of 3 cycles but a throughput of one per
// cycle, so one dependent chain uses a third of the unit. A block of 3*L bytes
// is split in three lanes of L bytes hashed in parallel; the lanes are then
// joined: crc(A || B) = shift_L(crc(A)) ^ crc0(B), where crc0 starts from a
// zero register and shift_L is the linear map "append L zero bytes" on the
// CRC register, applied by four 256-entry table lookups (Mark Adler's
// crc32c.c method). Lanes are of kLongLane bytes while they fit, then of
// kShortLane bytes; the rest goes through one stream.

constexpr size_t kLongLane = 4096;
constexpr size_t kShortLane = 256;

using Gf2Matrix = std::array<uint32_t, 32>;  // 32 columns of a GF(2) 32x32 matrix

constexpr uint32_t Gf2Times(const Gf2Matrix& m, uint32_t v) {
  uint32_t sum = 0;
  for (int i = 0; v != 0; ++i, v >>= 1) {
    if (v & 1) sum ^= m[static_cast<size_t>(i)];
  }
  return sum;
}

constexpr Gf2Matrix Gf2Square(const Gf2Matrix& m) {
  Gf2Matrix sq{};
  for (size_t i = 0; i < 32; ++i) sq[i] = Gf2Times(m, m[i]);
  return sq;
}

using ShiftTable = std::array<std::array<uint32_t, 256>, 4>;

// Table form of "append `bytes` zero bytes" (bytes a power of two >= 1).
constexpr ShiftTable MakeShiftTable(size_t bytes) {
  Gf2Matrix op{};  // one zero bit
  op[0] = kPoly;
  for (size_t i = 1; i < 32; ++i) op[i] = uint32_t{1} << (i - 1);
  for (int k = 0; k < 3; ++k) op = Gf2Square(op);  // one zero byte
  for (size_t n = bytes; n > 1; n >>= 1) op = Gf2Square(op);
  ShiftTable t{};
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 0; k < 4; ++k) t[static_cast<size_t>(k)][b] = Gf2Times(op, b << (8 * k));
  }
  return t;
}

static_assert((kLongLane & (kLongLane - 1)) == 0 && (kShortLane & (kShortLane - 1)) == 0);
constexpr ShiftTable kShiftLong = MakeShiftTable(kLongLane);
constexpr ShiftTable kShiftShort = MakeShiftTable(kShortLane);

inline uint32_t Shift(const ShiftTable& t, uint32_t crc) {
  return t[0][crc & 0xFF] ^ t[1][(crc >> 8) & 0xFF] ^ t[2][(crc >> 16) & 0xFF] ^ t[3][crc >> 24];
}

#if defined(__x86_64__)
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Hashes as many whole blocks of three `lane`-byte lanes as fit in *n bytes
// at *p into the register `crc`, advancing *p and *n.
template <size_t kLane>
__attribute__((target("sse4.2"), always_inline)) inline uint64_t ThreeLanes(uint64_t crc,
                                                                            const ShiftTable& shift,
                                                                            const uint8_t** p,
                                                                            size_t* n) {
  const uint8_t* q = *p;
  size_t left = *n;
  while (left >= 3 * kLane) {
    uint64_t c1 = 0, c2 = 0;
    const uint8_t* const end = q + kLane;
    for (; q < end; q += 8) {
      crc = _mm_crc32_u64(crc, Load64(q));
      c1 = _mm_crc32_u64(c1, Load64(q + kLane));
      c2 = _mm_crc32_u64(c2, Load64(q + 2 * kLane));
    }
    crc = Shift(shift, static_cast<uint32_t>(crc)) ^ c1;
    crc = Shift(shift, static_cast<uint32_t>(crc)) ^ c2;
    q += 2 * kLane;
    left -= 3 * kLane;
  }
  *p = q;
  *n = left;
  return crc;
}

// Runs the crc32 instruction over n bytes from the raw register `l` (no pre-
// or post-inversion): byte steps until p is 8-aligned, then three lanes at a
// time, then 8 bytes at a time, then the tail.
__attribute__((target("sse4.2"))) uint64_t Sse42Register(uint64_t l, const uint8_t* p, size_t n) {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
    --n;
  }
  l = ThreeLanes<kLongLane>(l, kShiftLong, &p, &n);
  l = ThreeLanes<kShortLane>(l, kShiftShort, &p, &n);
  while (n >= 8) {
    l = _mm_crc32_u64(l, Load64(p));
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
    --n;
  }
  return l;
}

// ---- Carry-less multiply folding (AVX-512 VPCLMULQDQ) ----
// Four 512-bit accumulators hold 256 bytes whose CRC-32C register, computed
// from zero, equals that of everything hashed so far (the initial register
// XORed into the first 4 bytes). Each step moves them 256 bytes on: a 128-bit
// lane A (as a polynomial, first bit highest) is replaced by a value of < 128
// bits congruent to A * x^2048 mod P, namely A_hi * (x^2112 mod P) +
// A_lo * (x^2048 mod P), XORed with the next data. At the end the four are
// folded into one (64 bytes) which, with the < 256 bytes left, goes through
// the crc32 instruction.

constexpr size_t kFoldBlock = 256;
constexpr size_t kFoldMin = 1024;  // shorter inputs: the setup does not pay

// x^n mod P (P = x^32 + 0x1EDC6F41 in normal bit order), as a normal-order
// polynomial of degree < 32.
constexpr uint32_t XPowModP(size_t n) {
  uint64_t r = 1;
  for (size_t i = 0; i < n; ++i) {
    r <<= 1;
    if (r & (uint64_t{1} << 32)) r ^= 0x11EDC6F41ull;
  }
  return static_cast<uint32_t>(r);
}

// Bit-reflects a polynomial of degree < 32 into 64 bits (degree d -> bit 63-d).
constexpr uint64_t Reflect64(uint32_t v) {
  uint64_t r = 0;
  for (int d = 0; d < 32; ++d) {
    if (v & (uint32_t{1} << d)) r |= uint64_t{1} << (63 - d);
  }
  return r;
}

// The product of two reflected 64-bit values is the reflected product shifted
// down one bit: using x^(n-1) in place of x^n makes up for it.
constexpr uint64_t kFoldHi = Reflect64(XPowModP(kFoldBlock * 8 + 64 - 1));  // times A_hi (qword 0)
constexpr uint64_t kFoldLo = Reflect64(XPowModP(kFoldBlock * 8 - 1));       // times A_lo (qword 1)
// The same for a 64-byte move (joining the accumulators at the end).
constexpr uint64_t kFold64Hi = Reflect64(XPowModP(64 * 8 + 64 - 1));
constexpr uint64_t kFold64Lo = Reflect64(XPowModP(64 * 8 - 1));

__attribute__((target("avx512f,vpclmulqdq,sse4.2"))) uint64_t FoldRegister(uint64_t l,
                                                                           const uint8_t* p,
                                                                           size_t n) {
  const __m512i k =
      _mm512_set4_epi64(static_cast<long long>(kFoldLo), static_cast<long long>(kFoldHi),
                        static_cast<long long>(kFoldLo), static_cast<long long>(kFoldHi));
  __m512i a0 = _mm512_loadu_si512(p);
  __m512i a1 = _mm512_loadu_si512(p + 64);
  __m512i a2 = _mm512_loadu_si512(p + 128);
  __m512i a3 = _mm512_loadu_si512(p + 192);
  a0 = _mm512_xor_si512(a0, _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(l))));
  p += kFoldBlock;
  n -= kFoldBlock;
  while (n >= kFoldBlock) {
    // Per 128-bit lane: qword 0 (the lane's first 8 bytes: A_hi, reflected)
    // times kFoldHi, XOR qword 1 (A_lo) times kFoldLo, XOR the next data.
#define RAFTLOG_CRC_FOLD(a, q)                                        \
  a = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, k, 0x00), \
                                _mm512_clmulepi64_epi128(a, k, 0x11), _mm512_loadu_si512(q), 0x96)
    RAFTLOG_CRC_FOLD(a0, p);
    RAFTLOG_CRC_FOLD(a1, p + 64);
    RAFTLOG_CRC_FOLD(a2, p + 128);
    RAFTLOG_CRC_FOLD(a3, p + 192);
#undef RAFTLOG_CRC_FOLD
    p += kFoldBlock;
    n -= kFoldBlock;
  }
  // Fold the four accumulators into the last one (each moves 64 bytes on:
  // the same step with x^512 constants), leaving 64 bytes to hash.
  const __m512i k64 =
      _mm512_set4_epi64(static_cast<long long>(kFold64Lo), static_cast<long long>(kFold64Hi),
                        static_cast<long long>(kFold64Lo), static_cast<long long>(kFold64Hi));
#define RAFTLOG_CRC_FOLD64(a, b)                                        \
  b = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, k64, 0x00), \
                                _mm512_clmulepi64_epi128(a, k64, 0x11), b, 0x96)
  RAFTLOG_CRC_FOLD64(a0, a1);
  RAFTLOG_CRC_FOLD64(a1, a2);
  RAFTLOG_CRC_FOLD64(a2, a3);
#undef RAFTLOG_CRC_FOLD64
  alignas(64) uint8_t acc[64];
  _mm512_store_si512(acc, a3);
  // Clean upper register state before SSE code runs again (GCC does not
  // insert this here): dirty upper halves make later SSE instructions slow.
  _mm256_zeroupper();
  return Sse42Register(Sse42Register(0, acc, sizeof(acc)), p, n);
}

bool FoldAvailable() {
  static const bool available = __builtin_cpu_supports("sse4.2") &&
                                __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("vpclmulqdq");
  return available;
}

uint32_t ExtendSse42(uint32_t crc, const uint8_t* p, size_t n) {
  return ~static_cast<uint32_t>(Sse42Register(~crc & 0xFFFFFFFFu, p, n));
}

uint32_t ExtendFolding(uint32_t crc, const uint8_t* p, size_t n) {
  const uint64_t l = ~crc & 0xFFFFFFFFu;
  return ~static_cast<uint32_t>(n >= kFoldMin ? FoldRegister(l, p, n) : Sse42Register(l, p, n));
}
#endif

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

ExtendFn Choose() {
  return crc32c_internal::HardwareAvailable() ? &crc32c_internal::ExtendHardware
                                              : &crc32c_internal::ExtendPortable;
}

}  // namespace

namespace crc32c_internal {

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t l = ~crc;
  while (n >= 8) {
    uint64_t v = LoadLe64(p) ^ l;
    l = kTables[7][v & 0xFF] ^ kTables[6][(v >> 8) & 0xFF] ^ kTables[5][(v >> 16) & 0xFF] ^
        kTables[4][(v >> 24) & 0xFF] ^ kTables[3][(v >> 32) & 0xFF] ^ kTables[2][(v >> 40) & 0xFF] ^
        kTables[1][(v >> 48) & 0xFF] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    l = kTables[0][(l ^ *p++) & 0xFF] ^ (l >> 8);
    --n;
  }
  return ~l;
}

uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
#if defined(__x86_64__)
  static const bool fold = FoldAvailable();
  const auto* p = static_cast<const uint8_t*>(data);
  return fold ? ExtendFolding(crc, p, n) : ExtendSse42(crc, p, n);
#else
  return ExtendPortable(crc, data, n);
#endif
}

uint32_t ExtendCrc32Instruction(uint32_t crc, const void* data, size_t n) {
#if defined(__x86_64__)
  return ExtendSse42(crc, static_cast<const uint8_t*>(data), n);
#else
  return ExtendPortable(crc, data, n);
#endif
}

bool HardwareAvailable() {
#if defined(__x86_64__)
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
#else
  return false;
#endif
}

}  // namespace crc32c_internal

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  static const ExtendFn fn = Choose();
  return fn(crc, data, n);
}

}  // namespace raftlog::storage
