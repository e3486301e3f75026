// Linearizability checker for a key-value register history (Wing & Gong's
// search with Lowe's memoization, as in Porcupine).
//
// A history is a list of client operations (put, get, compare-and-set), each
// with an invocation time and, if the client saw a reply, a completion time.
// The history is linearizable iff every operation can be placed at one instant
// between its invocation and completion such that the resulting sequence is a
// legal run of a map from key to value.
//
// Invariants and rules of interpretation:
//  - An operation whose outcome is unknown (timed out, connection lost, leader
//    changed) has no completion: it may take effect at any instant after its
//    invocation, or never. A get with unknown outcome observes nothing and is
//    dropped.
//  - An operation that definitely failed (the cluster promised it did not take
//    effect) must not be in the history at all.
//  - Real-time order: A precedes B iff A.complete < B.invoke. Equal times are
//    treated as concurrent (the permissive choice).
//  - Keys are independent (P-compositionality): each key is checked alone.
//  - The search is bounded; when it gives up the result is kUnknown, never a
//    hang and never a false verdict.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace raftlog::sim {

enum class KvOpKind { kPut, kGet, kCas };

// What the client learnt about a compare-and-set.
enum class CasOutcome { kSwapped, kNotSwapped, kUnknown };

struct KvOp {
  static constexpr int64_t kNeverCompleted = INT64_MAX;

  int client = 0;
  KvOpKind kind = KvOpKind::kPut;
  std::string key;
  // put: the value written. cas: the new value.
  std::string value;
  // cas: the value the register must hold for the swap (nullopt = absent).
  std::optional<std::string> expected;
  // get: the value read (nullopt = key absent). Ignored when not completed.
  std::optional<std::string> read;
  // cas: what the client was told. Forced to kUnknown when not completed.
  CasOutcome cas_outcome = CasOutcome::kUnknown;

  int64_t invoke = 0;
  // kNeverCompleted when the client never learnt the outcome.
  int64_t complete = kNeverCompleted;

  bool completed() const { return complete != kNeverCompleted; }
  // One-line human description, e.g. "c3 put(k1, v7) [10, 25]".
  std::string Describe() const;
};

// Helpers for building histories by hand (tests) and in the simulator.
KvOp MakePut(int client, std::string key, std::string value, int64_t invoke, int64_t complete);
KvOp MakeGet(int client, std::string key, std::optional<std::string> read, int64_t invoke,
             int64_t complete);
KvOp MakeCas(int client, std::string key, std::optional<std::string> expected, std::string value,
             CasOutcome outcome, int64_t invoke, int64_t complete);

enum class LinearizabilityVerdict { kLinearizable, kNotLinearizable, kUnknown };

struct LinearizabilityOptions {
  // Search steps (operations tried) allowed per key before giving up.
  int64_t max_steps_per_key = 2'000'000;
};

struct LinearizabilityResult {
  LinearizabilityVerdict verdict = LinearizabilityVerdict::kLinearizable;
  // For kNotLinearizable: the key, the longest legal prefix found and why no
  // remaining operation can extend it. For kUnknown: which key ran out of
  // budget. Empty for kLinearizable.
  std::string explanation;
  // Total search steps over all keys (for reporting cost).
  int64_t steps = 0;
};

LinearizabilityResult CheckKvLinearizable(const std::vector<KvOp>& history,
                                          const LinearizabilityOptions& options = {});

const char* VerdictName(LinearizabilityVerdict v);

}  // namespace raftlog::sim
