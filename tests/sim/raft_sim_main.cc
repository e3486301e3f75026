// raft_sim: runs seeded simulations of the Raft core (see simulation.h).
//
//   raft_sim --seed=12345 --nodes=5 --verbose   replay one seed with a trace
//   raft_sim --seed=1 --seeds=100000            run seeds 1..100000
//   raft_sim --soak-seconds=600                 run seeds until time is up
//   flags: --steps=N (fault-phase length), --keep-going (do not stop at the
//   first failure), --atomic-snapshot-persist (never let a crash
//   separate a persisted snapshot from its hard state), --plant=BUG (run with a
//   deliberate host bug: forget-vote, ack-before-persist, stale-read,
//   skip-snapshot-restore; the run should fail), --lease-reads (lease-based
//   ReadIndex instead of a heartbeat round). Without --nodes, seed s uses 3, 5 or 7 nodes (s
//   mod 3).
// Exit status: 0 if every seed passed, 1 if any failed, 2 on a bad flag.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/sim/crash_replay.h"
#include "tests/sim/sim_cluster.h"
#include "tests/sim/simulation.h"

namespace {

bool Flag(const char* arg, const char* name, std::string* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '\0') {
    *value = "";
    return true;
  }
  if (arg[n] != '=') return false;
  *value = arg + n + 1;
  return true;
}

int Usage(const char* bad) {
  std::fprintf(stderr,
               "bad flag: %s\nusage: raft_sim [--seed=S] [--seeds=N] [--nodes=3..7] [--steps=N]\n"
               "                [--soak-seconds=T] [--keep-going] [--verbose]\n"
               "                [--atomic-snapshot-persist] [--plant=BUG] [--lease-reads]\n",
               bad);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using raftlog::sim::SimOptions;
  uint64_t first_seed = 1;
  uint64_t seeds = 1;
  int nodes = 0;  // 0: mixed 3/5/7
  int steps = SimOptions{}.steps;
  double soak_seconds = 0;
  bool verbose = false;
  bool keep_going = false;
  bool torn = true;
  bool lease = false;
  std::string plant = "none";
  for (int i = 1; i < argc; ++i) {
    std::string v;
    char* end = nullptr;
    if (Flag(argv[i], "--seed", &v)) {
      first_seed = std::strtoull(v.c_str(), &end, 10);
    } else if (Flag(argv[i], "--seeds", &v)) {
      seeds = std::strtoull(v.c_str(), &end, 10);
    } else if (Flag(argv[i], "--nodes", &v)) {
      nodes = static_cast<int>(std::strtol(v.c_str(), &end, 10));
      if (nodes < 1 || nodes > 9) return Usage(argv[i]);
    } else if (Flag(argv[i], "--steps", &v)) {
      steps = static_cast<int>(std::strtol(v.c_str(), &end, 10));
    } else if (Flag(argv[i], "--soak-seconds", &v)) {
      soak_seconds = std::strtod(v.c_str(), &end);
      seeds = UINT64_MAX;
    } else if (Flag(argv[i], "--verbose", &v)) {
      verbose = true;
    } else if (Flag(argv[i], "--plant", &v)) {
      raftlog::sim::PlantedBug b;
      if (!raftlog::sim::ParsePlantedBug(v, &b)) return Usage(argv[i]);
      plant = v;
    } else if (Flag(argv[i], "--lease-reads", &v)) {
      lease = true;
    } else if (Flag(argv[i], "--atomic-snapshot-persist", &v)) {
      torn = false;
    } else if (Flag(argv[i], "--keep-going", &v)) {
      keep_going = true;
    } else {
      return Usage(argv[i]);
    }
    if (end != nullptr && *end != '\0') return Usage(argv[i]);
  }
  raftlog::sim::InstallCrashReplayHandler();
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  uint64_t ran = 0, failed = 0, committed = 0, crashes = 0, snapshots = 0, conf = 0, ops = 0;
  uint64_t conf_done = 0, ri_reads = 0, transfers = 0, partitions = 0;
  for (uint64_t s = first_seed; ran < seeds; ++s) {
    if (soak_seconds > 0 && elapsed() >= soak_seconds) break;
    SimOptions o;
    o.seed = s;
    o.nodes = nodes != 0 ? nodes : 3 + 2 * static_cast<int>(s % 3);
    o.steps = steps;
    o.verbose = verbose;
    o.torn_snapshot_persist = torn;
    o.plant = plant;
    o.lease_reads = lease;
    raftlog::sim::SetCrashReplay(raftlog::sim::ReplayCommand(o));
    raftlog::sim::SimResult r = raftlog::sim::RunSimulation(o);
    ++ran;
    committed += r.committed;
    crashes += r.crashes;
    snapshots += r.snapshots_installed;
    conf += r.conf_changes;
    ops += r.ops_completed;
    conf_done += r.conf_changes_committed;
    ri_reads += r.read_index_reads;
    transfers += r.transfers;
    partitions += r.partitions;
    if (verbose || !r.ok()) {
      std::printf(
          "seed %llu (%d nodes): %s; %llu steps, %llu committed, %llu terms, %llu crashes, "
          "%llu partitions, %llu snapshots installed, %llu conf changes, %llu transfers, "
          "%llu ops completed, %llu ambiguous, %lld checker steps\n",
          static_cast<unsigned long long>(s), o.nodes, raftlog::sim::SimOutcomeName(r.outcome),
          static_cast<unsigned long long>(r.steps), static_cast<unsigned long long>(r.committed),
          static_cast<unsigned long long>(r.terms), static_cast<unsigned long long>(r.crashes),
          static_cast<unsigned long long>(r.partitions),
          static_cast<unsigned long long>(r.snapshots_installed),
          static_cast<unsigned long long>(r.conf_changes),
          static_cast<unsigned long long>(r.transfers),
          static_cast<unsigned long long>(r.ops_completed),
          static_cast<unsigned long long>(r.ops_ambiguous),
          static_cast<long long>(r.checker_steps));
    }
    if (!r.ok()) {
      ++failed;
      std::printf("  %s\n  replay: %s\n", r.failure.c_str(),
                  raftlog::sim::ReplayCommand(o).c_str());
      std::fflush(stdout);
      if (!keep_going) break;
    }
  }
  const double secs = elapsed();
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "%llu seeds, %llu failed, %.1f s, %.1f seeds/s; totals: %llu committed entries, "
      "%llu crashes, %llu partitions, %llu snapshots installed, %llu conf changes "
      "proposed / %llu committed, %llu transfers started, %llu client ops completed "
      "(%llu ReadIndex reads)\n",
      u(ran), u(failed), secs, secs > 0 ? static_cast<double>(ran) / secs : 0.0, u(committed),
      u(crashes), u(partitions), u(snapshots), u(conf), u(conf_done), u(transfers), u(ops),
      u(ri_reads));
  return failed == 0 ? 0 : 1;
}
