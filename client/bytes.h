// Bytes: an immutable byte string that shares the buffer it points into.
// The Consumer hands out record keys and values as Bytes viewing the
// fetched batch (no copy, no allocation per record); each Bytes holds a
// reference on that buffer, so it stays valid for as long as the Bytes (or
// a copy of it) lives, however long the application keeps it. Holding one
// value keeps its whole fetched buffer (up to partition_max_bytes) alive.
//
// Reads like a const std::string: data(), size(), view(), comparisons with
// strings, implicit conversion to std::string_view and (copying) to
// std::string. Built from a std::string or a C string it owns a copy, so
// tests and callers may assign plain strings to a ConsumerRecord.
//
// A std::string_view taken from a Bytes is valid while that Bytes lives,
// as with a std::string.
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"

namespace raftlog::client {

class Bytes {
 public:
  Bytes() = default;
  // Owns a copy of `s` (implicit, as std::string's own constructors).
  Bytes(std::string s) {  // NOLINT(google-explicit-constructor)
    auto owned = std::make_shared<const std::string>(std::move(s));
    view_ = *owned;
    owner_ = std::move(owned);
  }
  Bytes(const char* s) : Bytes(std::string(s)) {}  // NOLINT(google-explicit-constructor)
  // Views `view`, which must lie inside memory `owner` keeps alive.
  Bytes(std::shared_ptr<const void> owner, std::string_view view)
      : owner_(std::move(owner)), view_(view) {}

  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  std::string_view view() const { return view_; }
  std::string str() const { return std::string(view_); }

  operator std::string_view() const { return view_; }  // NOLINT(google-explicit-constructor)
  operator std::string() const { return str(); }       // NOLINT(google-explicit-constructor)
#ifndef ABSL_USES_STD_STRING_VIEW
  // absl::string_view is its own type in this build (absl::StartsWith etc.).
  operator absl::string_view() const {  // NOLINT(google-explicit-constructor)
    return absl::string_view(view_.data(), view_.size());
  }
#endif

  friend bool operator==(const Bytes& a, const Bytes& b) { return a.view_ == b.view_; }
  friend bool operator==(const Bytes& a, std::string_view b) { return a.view_ == b; }
  friend bool operator==(const Bytes& a, const std::string& b) { return a.view_ == b; }
  friend bool operator==(const Bytes& a, const char* b) { return a.view_ == b; }
  friend auto operator<=>(const Bytes& a, const Bytes& b) { return a.view_ <=> b.view_; }
  friend std::ostream& operator<<(std::ostream& os, const Bytes& b) { return os << b.view_; }

 private:
  std::shared_ptr<const void> owner_;
  std::string_view view_;
};

}  // namespace raftlog::client
