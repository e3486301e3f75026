// One seeded simulation run: a random fault profile drawn from the seed, a
// fault phase (crashes at every point of the Ready sequence, partitions of
// every shape, lossy/duplicating/reordering links, membership changes,
// leadership transfers, forced elections, log compaction), then a healing
// phase that must show progress, then the linearizability check.
//
// Invariant: RunSimulation is a pure function of SimOptions (no clocks, no
// global state), so ReplayCommand(options) reproduces any failure exactly.
#pragma once

#include <cstdint>
#include <string>

namespace raftlog::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;     // 3..7
  int steps = 1500;  // fault-phase steps (one tick each)
  // After healing, a final write must commit within settle_steps, and then
  // every member must catch up within catchup_steps more (a slow config,
  // e.g. one 64-byte entry per message and one message in flight, needs
  // about two steps per missing entry).
  int settle_steps = 600;
  int catchup_steps = 3000;
  bool verbose = false;
  // Let a crash fall between persisting a snapshot and its hard state
  // (off: --atomic-snapshot-persist).
  bool torn_snapshot_persist = true;
  // Serve ReadIndex with leases (ReadOnlyOption::kLeaseBased) instead of a
  // heartbeat round. Exploratory: see FINDINGS.md.
  bool lease_reads = false;
  // A deliberate host bug (sim_cluster.h PlantedBug names), or "none".
  std::string plant = "none";
};

// kHostContract: the core broke raw_node.h's contract or refused a state the
// contract allows (e.g. RawNode::Create failing on a crash-consistent
// storage).
enum class SimOutcome { kOk, kSafety, kHostContract, kLiveness, kNotLinearizable, kCheckerGaveUp };
const char* SimOutcomeName(SimOutcome o);

struct SimResult {
  SimOutcome outcome = SimOutcome::kOk;
  std::string failure;  // empty when kOk
  // Statistics, for reporting what a run exercised.
  uint64_t steps = 0;
  uint64_t committed = 0;
  uint64_t terms = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t snapshots_installed = 0;
  uint64_t conf_changes = 0;  // proposed
  uint64_t conf_changes_committed = 0;
  uint64_t read_index_reads = 0;
  uint64_t transfers = 0;
  uint64_t ops_completed = 0;
  uint64_t ops_ambiguous = 0;
  int64_t checker_steps = 0;
  bool ok() const { return outcome == SimOutcome::kOk; }
};

SimResult RunSimulation(const SimOptions& options);

// The command line that replays exactly this run with a trace.
std::string ReplayCommand(const SimOptions& options);

}  // namespace raftlog::sim
