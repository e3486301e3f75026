// The key-value state machine the simulator runs on top of Raft, and the
// encoding of its commands as entry data.
//
// Every command carries the id of the client operation that proposed it, so
// the node the client talks to can tell the client when "its" entry applies.
// Invariants: Apply is deterministic (same command sequence, same state and
// results on every node); Serialize/Restore round-trip exactly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace raftlog::sim {

struct KvCommand {
  enum class Kind : char { kPut = 'P', kGet = 'G', kCas = 'C' };
  Kind kind = Kind::kPut;
  uint64_t op_id = 0;
  std::string key;
  std::string value;                    // put / cas new value
  std::optional<std::string> expected;  // cas (nullopt = absent)
};

std::string EncodeKvCommand(const KvCommand& c);
absl::StatusOr<KvCommand> DecodeKvCommand(const std::string& data);

// What applying one command produced, for the client waiting on it.
struct KvResult {
  uint64_t op_id = 0;
  std::optional<std::string> read;  // get: value at apply time
  bool swapped = false;             // cas
};

class KvStore {
 public:
  absl::StatusOr<KvResult> Apply(const std::string& data);
  std::optional<std::string> Get(const std::string& key) const;
  std::string Serialize() const;
  absl::Status Restore(const std::string& data);
  const std::map<std::string, std::string>& data() const { return data_; }

 private:
  std::map<std::string, std::string> data_;
};

}  // namespace raftlog::sim
