// History: jepsen_worker's JSON Lines history writer (format: the "History"
// section of the jepsen suite spec). One line per operation event:
//   {"process":P,"type":"invoke"|"ok"|"fail"|"info","f":F,"op":N,
//    "value":V,"time":NS, ...extra fields..., "error":"..."}
//
// INVARIANTS
//  - Every Invoke gets a fresh per-process op id (1, 2, ...) and is written
//    before it returns (so before the request is made); exactly one
//    completion line is ever written per op: Complete() of an op that has
//    already completed (e.g. a late producer callback after
//    FinishOutstanding wrote "info" for it) writes nothing and returns false.
//  - A completion repeats its invoke's f, value and extra fields unless the
//    completion overrides them (so "fail"/"info" sends still name their
//    value and partition).
//  - "time" is CLOCK_MONOTONIC (steady_clock) nanoseconds read under the
//    writer's mutex, so times never decrease down the file of one writer.
//  - Each line is written with write(2) in one piece (O_APPEND), so a kill -9
//    loses at most a partial last line; nothing is buffered in user space.
//  - Thread-safe: producer callbacks complete ops from gRPC threads.
//  - Strings that are not valid UTF-8 (a corrupt record value) are written
//    with U+FFFD replacements rather than failing the line.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

using Json = nlohmann::ordered_json;

// CLOCK_MONOTONIC nanoseconds (std::chrono::steady_clock).
int64_t MonotonicNanos();

class History {
 public:
  using ClockFn = std::function<int64_t()>;

  // Appends to `path` (created if missing); "" or "-" writes to stdout.
  static absl::StatusOr<std::unique_ptr<History>> Open(const std::string& path, int process);
  // Writes to `fd` (closed by the destructor when `owns_fd`).
  History(int fd, bool owns_fd, int process, ClockFn clock = MonotonicNanos);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // Writes the invoke line of a new operation; returns its op id. `extra`
  // (an object, may be null) adds fields such as "partition" or "group".
  int64_t Invoke(std::string_view f, Json value, Json extra = nullptr);

  // Writes the completion of `op`: `value` replaces the invoke's value when
  // set; `extra` fields are added to (or replace) the invoke's extras; a
  // non-empty `error` adds "error". False (nothing written) when `op` is
  // unknown or already completed.
  bool Complete(int64_t op, OpType type, std::optional<Json> value = std::nullopt,
                Json extra = nullptr, std::string_view error = {});
  // Complete() with the type and error of `outcome`.
  bool Complete(int64_t op, const Outcome& outcome, std::optional<Json> value = std::nullopt,
                Json extra = nullptr);

  // A standalone event (no op id, not an invoke/complete pair): the
  // consumer's "assign" / "revoke" lines, type "ok".
  void Event(std::string_view f, Json value);

  // Writes "info" with `error` for every op still outstanding (in op order)
  // and closes the history: later Invokes get an id but write nothing (a
  // worker thread still running after the drain cannot leave an invoke
  // without completion); returns how many ops it completed.
  size_t FinishOutstanding(std::string_view error);

  size_t outstanding() const;
  // Completions written so far: f -> {ok, fail, info}.
  std::map<std::string, std::array<int64_t, 3>> Counts() const;
  int process() const { return process_; }
  // The first write error, if any (writing goes on after one).
  absl::Status write_status() const;

 private:
  struct Pending {
    std::string f;
    Json value;
    Json extra;
  };
  // Writes one line built from the fields; mu_ held.
  void WriteLocked(Json line);

  const int fd_;
  const bool owns_fd_;
  const int process_;
  const ClockFn clock_;
  mutable std::mutex mu_;
  int64_t next_op_ = 1;
  bool closed_ = false;
  std::map<int64_t, Pending> pending_;
  std::map<std::string, std::array<int64_t, 3>> counts_;
  absl::Status write_status_;
};

}  // namespace raftlog::jepsen
