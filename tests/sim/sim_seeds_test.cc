// The long seeded simulation runs (ctest label "sim"). Each TEST is one
// ctest entry covering a disjoint seed range of one cluster size, so that
// `ctest -L sim -j2` spreads them over cores. A failing seed reports its
// outcome, what broke and the single command that replays it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "tests/sim/crash_replay.h"
#include "tests/sim/simulation.h"

namespace raftlog::sim {
namespace {

void RunSeeds(uint64_t first, int count, int nodes) {
  InstallCrashReplayHandler();
  const auto start = std::chrono::steady_clock::now();
  int failures = 0;
  uint64_t committed = 0;
  for (int i = 0; i < count && failures < 3; ++i) {
    SimOptions o;
    o.seed = first + static_cast<uint64_t>(i);
    o.nodes = nodes;
    SetCrashReplay(ReplayCommand(o));
    SimResult r = RunSimulation(o);
    committed += r.committed;
    if (!r.ok()) {
      ++failures;
      ADD_FAILURE() << "seed " << o.seed << " (" << nodes
                    << " nodes): " << SimOutcomeName(r.outcome) << "\n  " << r.failure
                    << "\n  replay: " << ReplayCommand(o);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d seeds of %d nodes from %llu: %.2f s, %.1f seeds/s, %llu committed entries\n",
              count, nodes, static_cast<unsigned long long>(first), secs, count / secs,
              static_cast<unsigned long long>(committed));
}

// Seed ranges: 3 nodes from 1, 5 nodes from 100001, 7 nodes from 200001.
TEST(SimSeeds, ThreeNodesA) { RunSeeds(1, 400, 3); }
TEST(SimSeeds, ThreeNodesB) { RunSeeds(401, 400, 3); }
TEST(SimSeeds, FiveNodesA) { RunSeeds(100001, 350, 5); }
TEST(SimSeeds, FiveNodesB) { RunSeeds(100351, 350, 5); }
TEST(SimSeeds, SevenNodesA) { RunSeeds(200001, 250, 7); }
TEST(SimSeeds, SevenNodesB) { RunSeeds(200251, 250, 7); }

}  // namespace
}  // namespace raftlog::sim
