// Big-endian (network order) loads and stores of fixed-width integers, used
// for the fixed fields of Kafka's RecordBatch v2 and of every small binary
// format of ours (raft-state, journal records, RocksDB values). Memcpy-based:
// any alignment is fine and there is no aliasing UB. Callers guarantee the
// bytes exist.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace raftlog::storage {

namespace big_endian_internal {
template <typename U>
constexpr U ByteSwapIfLittle(U v) {
  if constexpr (std::endian::native == std::endian::big || sizeof(U) == 1) {
    return v;
  } else if constexpr (sizeof(U) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(U) == 4) {
    return __builtin_bswap32(v);
  } else {
    static_assert(sizeof(U) == 8);
    return __builtin_bswap64(v);
  }
}
}  // namespace big_endian_internal

// Reads a T (any 1/2/4/8-byte integer) stored big-endian at p.
template <typename T>
inline T LoadBigEndian(const uint8_t* p) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  U u;
  std::memcpy(&u, p, sizeof(U));
  return static_cast<T>(big_endian_internal::ByteSwapIfLittle(u));
}

// Writes v big-endian at p (sizeof(T) bytes).
template <typename T>
inline void StoreBigEndian(uint8_t* p, T v) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  U u = big_endian_internal::ByteSwapIfLittle(static_cast<U>(v));
  std::memcpy(p, &u, sizeof(U));
}

// Appends v big-endian to `out`.
template <typename T>
inline void AppendBigEndian(std::string& out, T v) {
  uint8_t b[sizeof(T)];
  StoreBigEndian<T>(b, v);
  out.append(reinterpret_cast<const char*>(b), sizeof(T));
}

// Reads a T stored big-endian at byte `pos` of `bytes` (anything with
// data() over chars: std::string, string views).
template <typename T, typename Bytes>
inline T LoadBigEndianAt(const Bytes& bytes, size_t pos) {
  return LoadBigEndian<T>(reinterpret_cast<const uint8_t*>(bytes.data()) + pos);
}

}  // namespace raftlog::storage
