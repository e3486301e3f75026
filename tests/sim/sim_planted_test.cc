// Planted-bug tests (label "sim"): for each deliberate host bug the
// simulator must find a failing seed within a bounded number of seeds, and
// the failure must name the right kind of violation. This is the evidence
// that the invariants and the fault schedule can catch each class of bug.
#include <gtest/gtest.h>

#include <string>

#include "tests/sim/crash_replay.h"
#include "tests/sim/simulation.h"

namespace raftlog::sim {
namespace {

// Returns the first failing result among seeds [1, max_seeds] with `plant`.
SimResult FindFailure(const std::string& plant, int max_seeds, uint64_t* seed) {
  InstallCrashReplayHandler();
  for (int i = 1; i <= max_seeds; ++i) {
    SimOptions o;
    o.seed = static_cast<uint64_t>(i);
    o.nodes = 3 + 2 * (i % 3);
    o.plant = plant;
    SetCrashReplay(ReplayCommand(o));
    SimResult r = RunSimulation(o);
    if (!r.ok()) {
      *seed = o.seed;
      std::printf("plant=%s: seed %llu (%d nodes) fails: %s\n  %s\n", plant.c_str(),
                  static_cast<unsigned long long>(o.seed), o.nodes, SimOutcomeName(r.outcome),
                  r.failure.substr(0, 300).c_str());
      return r;
    }
  }
  *seed = 0;
  return SimResult{};
}

TEST(SimPlanted, ForgottenVoteElectsTwoLeaders) {
  uint64_t seed = 0;
  SimResult r = FindFailure("forget-vote", 300, &seed);
  ASSERT_NE(seed, 0u) << "no seed caught a node forgetting its vote";
  EXPECT_NE(r.failure.find("ElectionSafety"), std::string::npos) << r.failure;
}

TEST(SimPlanted, StaleReadIsNotLinearizable) {
  uint64_t seed = 0;
  SimResult r = FindFailure("stale-read", 300, &seed);
  ASSERT_NE(seed, 0u) << "no seed caught reads served before apply";
  EXPECT_EQ(r.outcome, SimOutcome::kNotLinearizable) << r.failure;
}

TEST(SimPlanted, SkippedSnapshotRestoreDivergesState) {
  uint64_t seed = 0;
  SimResult r = FindFailure("skip-snapshot-restore", 300, &seed);
  ASSERT_NE(seed, 0u) << "no seed caught a snapshot not restored into the state machine";
  EXPECT_NE(r.failure.find("StateMachineSafety"), std::string::npos) << r.failure;
}

TEST(SimPlanted, AckBeforePersistIsCaught) {
  // Acknowledging before the write is durable loses acknowledged entries on
  // a crash; depending on the schedule that shows as lost committed data, a
  // double vote, or a follower the leader believes is caught up (liveness).
  uint64_t seed = 0;
  SimResult r = FindFailure("ack-before-persist", 1000, &seed);
  ASSERT_NE(seed, 0u) << "no seed caught acknowledgements sent before persistence";
}

}  // namespace
}  // namespace raftlog::sim
