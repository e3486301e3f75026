// Prints the replay command of the seed being run if the process dies on a
// signal (a RAFT_CHECK abort, a segfault), so that a crash inside the core
// is as reproducible as a failed invariant. Async-signal-safe: the handler
// only write(2)s a buffer filled before the run started.
#pragma once

#include <string>

namespace raftlog::sim {

// Installs handlers for SIGABRT, SIGSEGV, SIGFPE, SIGILL and SIGBUS (once).
void InstallCrashReplayHandler();
// Sets the line printed if the process dies from now on.
void SetCrashReplay(const std::string& line);

}  // namespace raftlog::sim
