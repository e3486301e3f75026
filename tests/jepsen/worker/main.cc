// jepsen_worker: the workload client of raftlog's Jepsen-style suite
// (tests/jepsen). Parses the command line (options.h), runs a one-shot mode
// directly, or runs a workload mode on its own thread while this thread
// waits for --duration-ms or SIGTERM/SIGINT:
//
//   1. SIGTERM and SIGINT are blocked in every thread (before any thread,
//      gRPC's included, exists) and taken here with sigtimedwait.
//   2. At the stop (duration elapsed, a signal, or the mode returning) the
//      mode is told to stop starting ops; it may drain until --drain-ms after
//      the stop.
//   3. Then every op still outstanding gets an "info" completion, a summary
//      goes to stderr, and the process leaves with _Exit (no static
//      destructors under gRPC's threads, as raftlogctl does). The history is
//      written with write(2) per line, so nothing is lost by _Exit.
//
// Exit code: a signal or the duration ending is a normal end (0), except
// that read-all exits 1 unless every partition was read, and any mode
// exits 1 when it failed as a whole (e.g. no broker reachable at all).
// 2 for usage errors.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "tests/jepsen/worker/history.h"
#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/options.h"
#include "tests/jepsen/worker/run_control.h"

namespace raftlog::jepsen {
namespace {

using WorkloadFn = int (*)(const WorkerOptions&, History&, RunControl&);

WorkloadFn Workload(Mode m) {
  switch (m) {
    case Mode::kProduce:
      return RunProduce;
    case Mode::kConsume:
      return RunConsume;
    case Mode::kReadAll:
      return RunReadAll;
    case Mode::kOffsets:
      return RunOffsets;
    case Mode::kTopics:
      return RunTopics;
    default:
      return nullptr;
  }
}

struct Done {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int code = 0;
};

int RunWorkload(const WorkerOptions& o, WorkloadFn fn, const sigset_t& signals) {
  absl::StatusOr<std::unique_ptr<History>> history = History::Open(o.history, o.process);
  if (!history.ok()) {
    std::fprintf(stderr, "jepsen_worker: %s\n", std::string(history.status().message()).c_str());
    return 1;
  }
  RunControl control(o.duration, o.drain);
  auto done = std::make_shared<Done>();
  History& h = **history;
  std::thread runner([&o, fn, &h, &control, done] {
    const int code = fn(o, h, control);
    {
      std::lock_guard<std::mutex> l(done->mu);
      done->done = true;
      done->code = code;
    }
    done->cv.notify_all();
  });

  // Wait for the duration, a signal, or the mode ending by itself.
  while (true) {
    {
      std::lock_guard<std::mutex> l(done->mu);
      if (done->done) break;
    }
    const Clock::time_point now = Clock::now();
    if (now >= control.stop_at()) break;
    const auto wait =
        std::min<Clock::duration>(control.stop_at() - now, std::chrono::milliseconds(100));
    timespec ts{};
    ts.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
    ts.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count() % 1000000000;
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      control.RequestStop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  {
    std::lock_guard<std::mutex> l(done->mu);
    if (done->done) control.RequestStop("mode finished");
  }
  control.RequestStop("duration elapsed");
  bool finished;
  {
    std::unique_lock<std::mutex> l(done->mu);
    finished = done->cv.wait_until(l, control.drain_deadline(), [&] { return done->done; });
  }
  const size_t infos =
      h.FinishOutstanding("worker stopping (" + control.stop_reason() + "): outcome unknown");
  int code = o.mode == Mode::kReadAll ? 1 : 0;
  if (finished) {
    runner.join();
    code = done->code;
  }
  std::string summary;
  for (const auto& [f, c] : h.Counts()) {
    summary += " " + f + " ok=" + std::to_string(c[0]) + " fail=" + std::to_string(c[1]) +
               " info=" + std::to_string(c[2]) + ";";
  }
  LogLine(o, "stopped (" + control.stop_reason() + "), " +
                 (finished ? "drained" : "drain timed out") + ", " + std::to_string(infos) +
                 " outstanding written as info;" + summary + " exit " + std::to_string(code));
  if (absl::Status s = h.write_status(); !s.ok()) {
    LogLine(o, std::string(s.message()));
    code = 1;
  }
  if (!finished) {
    // The mode is still blocked in the client and uses `h` and `control`:
    // leave now, before they are destroyed.
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}

int Main(int argc, char** argv) {
  ParseResult parsed = ParseArgs(argc, argv);
  if (!parsed.options) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::endl;
    return parsed.exit_code;
  }
  const WorkerOptions& o = *parsed.options;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (WorkloadFn fn = Workload(o.mode); fn != nullptr) return RunWorkload(o, fn, signals);
  switch (o.mode) {
    case Mode::kStatus:
      return RunStatus(o);
    case Mode::kChecksum:
      return RunChecksum(o);
    case Mode::kTransferLeader:
      return RunTransferLeader(o);
    case Mode::kMetadata:
      return RunMetadata(o);
    default:
      return 2;
  }
}

}  // namespace
}  // namespace raftlog::jepsen

int main(int argc, char** argv) {
  const int code = raftlog::jepsen::Main(argc, argv);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}
