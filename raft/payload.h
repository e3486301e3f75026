// Payload: the immutable, reference-counted bytes of a raft::Entry.
//
// Copying a Payload (and so an Entry) shares the bytes instead of copying
// them: the unstable log, Ready.entries, every MsgApp, committed_entries and
// the host's caches all point at one buffer. A Payload is built once, from a
// std::string moved in (no copy: the string's buffer becomes the payload) or
// by copying a string_view / literal, and never changes afterwards. To
// "change" bytes, build a new Payload.
//
// Invariants:
//  - The bytes never change after construction; view()/data() stay valid
//    and equal for as long as any Payload sharing them is alive.
//  - A default or empty Payload holds no buffer (data() points at a static
//    empty string); size() == 0.
//
// Thread safety: a Payload object is not itself synchronised (like any value
// type), but the shared buffer is read-only, and std::shared_ptr's reference
// count is atomic, so copies of one Payload may be read, copied and destroyed
// concurrently on different threads (e.g. a raft loop and a gRPC send path).
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace raftlog::raft {

class Payload {
 public:
  Payload() = default;
  // Takes the string's buffer: no byte is copied.
  Payload(std::string&& s)  // NOLINT(google-explicit-constructor)
      : bytes_(s.empty() ? nullptr : std::make_shared<const std::string>(std::move(s))) {}
  // Copies the bytes (literals, views, test data).
  Payload(std::string_view s)  // NOLINT(google-explicit-constructor)
      : bytes_(s.empty() ? nullptr : std::make_shared<const std::string>(s)) {}
  Payload(const char* s)  // NOLINT(google-explicit-constructor)
      : Payload(std::string_view(s)) {}
  // Copying from an lvalue string must be spelled out (Payload::Copy): an
  // accidental copy of a large payload should not compile silently.
  static Payload Copy(std::string_view s) { return Payload(s); }

  std::string_view view() const { return bytes_ ? std::string_view(*bytes_) : std::string_view(); }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  const char* data() const { return bytes_ ? bytes_->data() : ""; }
  size_t size() const { return bytes_ ? bytes_->size() : 0; }
  bool empty() const { return size() == 0; }

  // A copy of the bytes as a new std::string.
  std::string ToString() const { return std::string(view()); }

  // True if both share one buffer (or both are empty).
  bool SharesWith(const Payload& o) const { return bytes_ == o.bytes_; }

  // The shared buffer itself, for a host that must keep the bytes alive past
  // this Payload (e.g. a network slice that references them); null if empty.
  const std::shared_ptr<const std::string>& shared() const { return bytes_; }

  friend bool operator==(const Payload& a, const Payload& b) {
    return a.bytes_ == b.bytes_ || a.view() == b.view();
  }
  friend bool operator==(const Payload& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const Payload& a, const std::string& b) { return a.view() == b; }
  friend bool operator==(const Payload& a, const char* b) { return a.view() == b; }

  friend std::ostream& operator<<(std::ostream& os, const Payload& p) { return os << p.view(); }

 private:
  std::shared_ptr<const std::string> bytes_;
};

}  // namespace raftlog::raft
