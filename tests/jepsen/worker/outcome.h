// Outcome classification for jepsen_worker: turns the absl::Status a client
// library call ended with into a history completion type ("ok", "fail",
// "info"), as tests/jepsen (docs: /work/helpers/jepsen-spec.md, "History")
// defines them:
//   ok    the operation succeeded;
//   fail  it DEFINITELY did not take effect;
//   info  unknown: it may or may not have taken effect.
// A wrong "fail" makes the checker report phantom writes that are not there,
// so anything not provably without effect is "info".
//
// What an error proves depends on the path the call took (Path):
//
//  kNeverSent   The call failed before any request left the client (e.g. a
//               Producer::Send whose callback ran inside Send: unknown topic,
//               partition out of range, record too large, buffer full,
//               producer closed, metadata unreachable). -> fail, any code.
//
//  kProduce     A Producer callback after the record was queued. The
//               producer (client/producer.cc) retries EVERY error except
//               INVALID_ARGUMENT until delivery_timeout, so the callback only
//               ever sees:
//                 INVALID_ARGUMENT (MESSAGE_TOO_LARGE, CORRUPT_MESSAGE,
//                   INVALID_REQUEST: validation of the batch bytes, which are
//                   the same on every attempt and checked before the leader
//                   appends; or the client failing to encode the batch)
//                                                            -> fail
//                 DEADLINE_EXCEEDED "not acknowledged within the delivery
//                   timeout" (earlier attempts may have been committed; also
//                   REQUEST_TIMED_OUT)                       -> info
//                 CANCELLED "producer closed" (possibly sent)  -> info
//                 anything else                              -> info
//
//  kRetriedCall A Cluster::CallAny path (AdminClient topic calls, group
//               offset commits). CallAny retries on other brokers after
//               UNAVAILABLE, and gRPC reports UNAVAILABLE also when the
//               connection broke AFTER the request was sent, so an earlier
//               attempt may have been applied even when the last attempt was
//               rejected (ALREADY_EXISTS, NOT_FOUND, ILLEGAL_GENERATION,
//               UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, ...). Only errors
//               decided by the request alone are definite:
//                 INVALID_ARGUMENT (INVALID_GROUP_ID, bad topic name or
//                   partition count, ...)                    -> fail
//                 everything else (UNAVAILABLE, DEADLINE_EXCEEDED,
//                   NOT_COORDINATOR, fenced generation, exists/not found,
//                   REQUEST_TIMED_OUT, INTERNAL, ...)        -> info
//
//  kRead        An operation without side effects (poll, read,
//               fetch-offsets, list-topics): any error -> fail (nothing was
//               read, nothing changed).
//
// The "error" string is the status code name and message, e.g.
// "DEADLINE_EXCEEDED: orders-0: not acknowledged within ...".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace raftlog::jepsen {

enum class OpType { kOk, kFail, kInfo };

// "ok" | "fail" | "info".
std::string_view OpTypeName(OpType t);

enum class Path { kNeverSent, kProduce, kRetriedCall, kRead };

struct Outcome {
  OpType type = OpType::kOk;
  std::string error;  // empty for ok
};

Outcome Classify(Path path, const absl::Status& status);

// "CODE: message" for a non-OK status ("" for OK).
std::string ErrorString(const absl::Status& status);

}  // namespace raftlog::jepsen
