// RAFT_CHECK: crash on a broken internal invariant (never on bad input, which
// gets an absl::Status). Kept internal to raft/.
#pragma once

namespace raftlog::raft::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond);
}  // namespace raftlog::raft::internal

#define RAFT_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) ::raftlog::raft::internal::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)
