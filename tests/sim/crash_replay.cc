// Crash handler that prints the current seed's replay command; see header.
#include "tests/sim/crash_replay.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace raftlog::sim {
namespace {

char g_line[1024] = "";
size_t g_len = 0;

void OnSignal(int sig) {
  static const char kHead[] = "\n*** simulator died on a signal; replay with:\n    ";
  ssize_t ignored = write(2, kHead, sizeof(kHead) - 1);
  ignored = write(2, g_line, g_len);
  ignored = write(2, "\n", 1);
  (void)ignored;
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void InstallCrashReplayHandler() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  for (int sig : {SIGABRT, SIGSEGV, SIGFPE, SIGILL, SIGBUS}) signal(sig, OnSignal);
}

void SetCrashReplay(const std::string& line) {
  g_len = std::min(line.size(), sizeof(g_line) - 1);
  std::memcpy(g_line, line.data(), g_len);
  g_line[g_len] = '\0';
}

}  // namespace raftlog::sim
