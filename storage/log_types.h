// Strong id types of the partition log: a Kafka offset, a Raft log index and a
// Raft term are all 64-bit integers that must never be mixed up, so each is
// its own type. Comparisons and +/- with plain integers are allowed; mixing two
// different id types does not compile.
#pragma once

#include <compare>
#include <cstdint>
#include <ostream>

namespace raftlog::storage {

template <typename Tag>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(int64_t v) : v_(v) {}
  constexpr int64_t value() const { return v_; }

  constexpr auto operator<=>(const StrongId&) const = default;
  constexpr StrongId operator+(int64_t d) const { return StrongId(v_ + d); }
  constexpr StrongId operator-(int64_t d) const { return StrongId(v_ - d); }
  // Distance between two ids of the same kind.
  constexpr int64_t operator-(StrongId o) const { return v_ - o.v_; }
  constexpr StrongId& operator++() {
    ++v_;
    return *this;
  }
  friend std::ostream& operator<<(std::ostream& os, StrongId id) { return os << id.v_; }

 private:
  int64_t v_ = 0;
};

// Kafka offset of a record within the partition: dense, starts at 0.
using Offset = StrongId<struct OffsetTag>;
// Raft log index: dense over every entry (data or not), starts at 1.
using RaftIndex = StrongId<struct RaftIndexTag>;
// Raft term: never decreases along the log.
using Term = StrongId<struct TermTag>;

// What an entry carries. Stored as one byte in every frame; values are part of
// the on-disk format and must not change.
enum class EntryType : uint8_t {
  // One Kafka RecordBatch v2; takes (last_offset_delta + 1) offsets.
  kData = 1,
  // Anything opaque to storage (Raft no-op, configuration change...); takes
  // no offsets.
  kRaft = 2,
};

}  // namespace raftlog::storage
