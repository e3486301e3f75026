// ProcessCluster: starts real raftlogd processes on loopback for integration
// tests and benchmarks, each with its own data directory and port, and stops
// every one of them by PID (SIGTERM, SIGKILL, SIGSTOP/SIGCONT), also when a
// test fails (the destructor kills what is left and removes the directories
// unless RAFTLOG_KEEP_TEST_DIRS is set). Ports are picked free at
// construction (bind to 127.0.0.1:0, read the port, close).
//
// Each node's stdout and stderr go to <root>/node-<id>.log (appended across
// restarts); LogTail(id) returns its end for failure messages.
//
// Processes: fork + execv (no shell); the child sets PR_SET_PDEATHSIG SIGKILL,
// so a test that crashes never leaves raftlogd behind. PDEATHSIG fires when
// the *thread* that forked exits: start nodes from the test's main thread.
// The raftlogd binary: options.raftlogd_path, else $RAFTLOGD, else the path
// CMake compiled in (RAFTLOGD_PATH).
//
// Ports: picked free by binding 127.0.0.1:0 (tiny race accepted). If a node
// exits at start with "cannot bind", Start() retries once: with a new port
// when no other node of the cluster is running (nobody knows the old one
// yet; later starts use the new one), else with the same port after a pause.
//
// Not thread-safe: drive one ProcessCluster from one thread. Admin(id)
// stubs (thread-safe gRPC stubs) may be used from other threads while no
// node is being started.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raftlog/metadata/v1/metadata_service.grpc.pb.h"
#include "raftlog/node/v1/node.grpc.pb.h"

namespace raftlog::testing {

struct ProcessClusterOptions {
  int nodes = 3;
  std::string raftlogd_path;  // default: $RAFTLOGD, else the build's raftlogd (RAFTLOGD_PATH)
  std::string cluster_id = "test-cluster";
  int tick_ms = 50;
  int election_ticks = 10;
  int heartbeat_ticks = 2;
  bool fsync = true;
  int sync_threads = 8;
  std::vector<std::string> extra_args;  // appended to every node's command line
};

class ProcessCluster {
 public:
  explicit ProcessCluster(ProcessClusterOptions options = {});
  ~ProcessCluster();  // SIGKILLs every live node, waits for it, removes the root dir.
  ProcessCluster(const ProcessCluster&) = delete;
  ProcessCluster& operator=(const ProcessCluster&) = delete;

  // Starts node `id` (1-based) with the cluster's command line; returns once
  // its gRPC port answers a Status call that lists the metadata group (its
  // groups are open), or an error after `timeout`, with the log tail.
  absl::Status Start(int id, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  absl::Status StartAll();
  // SIGTERM and wait for exit (up to `timeout`, then SIGKILL); returns the
  // exit status (0 on a clean stop).
  absl::StatusOr<int> Stop(int id, std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Stop() in two halves, so that a test can watch the others while `id`
  // drains: Terminate sends SIGTERM (SIGCONT first if paused); WaitExit
  // waits as Stop does. Exit status: the exit code, or 128 + signal.
  absl::Status Terminate(int id);
  absl::StatusOr<int> WaitExit(int id,
                               std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // SIGTERM to every running node at once, then WaitExit each; OK only if
  // every one exited with 0 (the error names those that did not).
  absl::Status StopAll(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGKILL and reap.
  void Kill(int id);
  void Pause(int id);   // SIGSTOP
  void Resume(int id);  // SIGCONT
  bool IsRunning(int id) const;
  std::optional<pid_t> Pid(int id) const;

  int size() const;
  std::string Address(int id) const;  // "127.0.0.1:port"
  std::string DataDir(int id) const;
  std::string LogTail(int id, size_t bytes = 4000) const;
  const std::string& root() const;
  // The arguments (without the program) Start(id) runs raftlogd with.
  std::vector<std::string> CommandLine(int id) const;

  // Runs raftlogd with `args` (not as a cluster node: nothing is tracked)
  // until it exits; output goes to <root>/run-<n>.log. For start-up refusal
  // tests. DeadlineExceeded (after SIGKILL) if it is still running after
  // `timeout`.
  struct RunResult {
    int exit_code = -1;  // or 128 + signal
    std::string output;  // stdout + stderr
  };
  absl::StatusOr<RunResult> RunToExit(const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // A NodeAdmin stub for node `id` (channel created once, reused; Start(id)
  // may replace it, so do not keep the reference across a Start).
  raftlog::node::v1::NodeAdmin::Stub& Admin(int id);
  // A MetadataService stub for node `id` (same channel and rules as Admin).
  raftlog::metadata::v1::MetadataService::Stub& Metadata(int id);

  // ---- Conveniences over NodeAdmin ----
  // Status of node `id` (deadline 5 s).
  absl::StatusOr<raftlog::node::v1::StatusResponse> Status(int id);
  // EnsureGroup on every running node.
  absl::Status EnsureGroupOnAll(uint64_t group, const std::vector<uint64_t>& voters);
  // The node id that running nodes agree leads `group` (the leader itself
  // reports ROLE_LEADER), or 0 if none yet.
  // Paused nodes are not asked; `among` (if not empty) restricts the nodes
  // asked (e.g. to leave out one that is draining).
  uint64_t AgreedLeader(uint64_t group, const std::vector<int>& among = {});
  // Waits until AgreedLeader(group) != 0; returns it or 0 after `timeout`.
  uint64_t WaitForLeader(uint64_t group,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // AgreedLeader for many groups with one Status call per node: group ->
  // leader (0 = none agreed) for every group in `groups`.
  std::map<uint64_t, uint64_t> AgreedLeaders(const std::vector<uint64_t>& groups,
                                             const std::vector<int>& among = {});
  // Waits until every group in `groups` has an agreed leader; returns them,
  // or an error naming the groups still without one after `timeout`.
  absl::StatusOr<std::map<uint64_t, uint64_t>> WaitForLeaders(
      const std::vector<uint64_t>& groups,
      std::chrono::milliseconds timeout = std::chrono::seconds(30),
      const std::vector<int>& among = {});
  // Proposes on whichever node leads, following not-leader answers and
  // retrying UNAVAILABLE until `timeout`; returns the response. Any other
  // error (DEADLINE_EXCEEDED: outcome unknown) is returned at once, so a
  // proposal is never sent twice unless a node answered UNAVAILABLE.
  absl::StatusOr<raftlog::node::v1::ProposeResponse> Propose(
      uint64_t group, const std::vector<std::string>& entries,
      std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A RecordBatch v2 holding `records` records with values "<prefix>-<i>"
// (null keys).
std::string MakeTestBatch(const std::string& prefix, int records);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
absl::StatusOr<int> PickFreePort();

}  // namespace raftlog::testing
