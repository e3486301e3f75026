// Encoding of ConfChange entries and debug printing of messages and entries.
#include "raft/types.h"

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "raft/check.h"

namespace raftlog::raft {

namespace internal {
void CheckFailed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "%s:%d: raft invariant violated: %s\n", file, line, cond);
  std::abort();
}
}  // namespace internal

// Layout: 1 byte type, 8 bytes node id (little endian), then the context.
std::string EncodeConfChange(const ConfChange& cc) {
  std::string out;
  out.push_back(static_cast<char>(cc.type));
  uint64_t v = cc.node.value();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  out += cc.context;
  return out;
}

absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data) {
  if (data.size() < 9) return absl::InvalidArgumentError("conf change: too short");
  uint8_t t = static_cast<uint8_t>(data[0]);
  if (t > static_cast<uint8_t>(ConfChangeType::kAddLearner)) {
    return absl::InvalidArgumentError("conf change: bad type");
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(data[1 + i])) << (8 * i);
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(t);
  cc.node = NodeId(v);
  cc.context = std::string(data.substr(9));
  return cc;
}

std::string_view MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
    case MessageType::kApp:
      return "App";
    case MessageType::kAppResp:
      return "AppResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResp:
      return "HeartbeatResp";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kSnapshotResp:
      return "SnapshotResp";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResp:
      return "ReadIndexResp";
  }
  return "Unknown";
}

std::string DebugString(const Entry& e) {
  return absl::StrFormat("%d/%d%s", e.term.value(), e.index.value(),
                         e.type == EntryType::kNoop         ? " noop"
                         : e.type == EntryType::kConfChange ? " conf"
                                                            : "");
}

std::string DebugString(const Message& m) {
  std::string s = absl::StrFormat("%d->%d %s term=%d logterm=%d index=%d commit=%d", m.from.value(),
                                  m.to.value(), MessageTypeName(m.type), m.term.value(),
                                  m.log_term.value(), m.index.value(), m.commit.value());
  if (m.reject) {
    absl::StrAppendFormat(&s, " REJECT hint=%d/%d", m.reject_hint_term.value(),
                          m.reject_hint.value());
  }
  if (!m.entries.empty()) {
    s += " entries=[";
    for (size_t i = 0; i < m.entries.size(); ++i) {
      if (i) s += " ";
      s += DebugString(m.entries[i]);
    }
    s += "]";
  }
  if (m.type == MessageType::kSnapshot || m.type == MessageType::kSnapshotResp) {
    absl::StrAppendFormat(&s, " snap=%d/%d off=%d len=%d total=%d%s", m.snapshot.term.value(),
                          m.snapshot.index.value(), m.snapshot_offset, m.snapshot_data.size(),
                          m.snapshot_total_size, m.snapshot_done ? " done" : "");
  }
  if (m.read_seq) absl::StrAppendFormat(&s, " read_seq=%d", m.read_seq);
  if (!m.context.empty()) absl::StrAppendFormat(&s, " ctx=%s", m.context);
  if (m.leader_transfer) s += " transfer";
  return s;
}

}  // namespace raftlog::raft
