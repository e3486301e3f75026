// RunSimulation: draws a fault profile from the seed, drives a SimCluster
// through a fault phase and a healing phase, then checks the client history
// for linearizability. Every random choice comes from one std::mt19937_64.
#include "tests/sim/simulation.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>

#include "tests/sim/linearizability.h"
#include "tests/sim/sim_cluster.h"

#ifndef RAFTLOG_SIM_BINARY
#define RAFTLOG_SIM_BINARY "raft_sim"
#endif

namespace raftlog::sim {
namespace {

using raft::ConfChange;
using raft::ConfChangeType;
using raft::NodeId;

// Per-step event probabilities, in 1/10000.
struct FaultProfile {
  NetworkFaults net;
  int crash = 0;
  int partition = 0;
  int conf_change = 0;
  int transfer = 0;
  int campaign = 0;
  int flap = 0;  // percent of partitions that flap (reshape while active)
};

std::string Ids(const std::vector<NodeId>& ids) {
  std::string out;
  for (NodeId id : ids) out += (out.empty() ? "" : ",") + std::to_string(id.value());
  return out;
}

template <typename T, size_t N>
T Pick(std::mt19937_64& rng, const T (&choices)[N]) {
  return choices[rng() % N];
}

class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : options_(o), rng_(o.seed) {
    ClusterConfig cc;
    cc.nodes = std::clamp(o.nodes, 1, 9);
    cc.clients = 2 + static_cast<int>(rng_() % 3);
    cc.keys = 1 + static_cast<int>(rng_() % 4);
    cc.client_timeout = Pick(rng_, {40u, 80u, 150u});
    cc.snapshot_every = Pick(rng_, {8u, 25u, 60u, 1000000u});
    cc.compact_keep = Pick(rng_, {0u, 3u, 20u});
    cc.max_size_per_msg = Pick(rng_, {64u, 512u, 1u << 20});
    cc.max_inflight_msgs = Pick(rng_, {1, 4, 256});
    cc.snapshot_chunk_size = Pick(rng_, {7u, 64u, 1u << 20});
    cc.torn_snapshot_persist = o.torn_snapshot_persist;
    cc.lease_reads = o.lease_reads;
    cc.bounce_after_vote_percent = Pick(rng_, {0, 0, 30});
    // Safety must not depend on PreVote or CheckQuorum; mostly both are on.
    cc.pre_vote = rng_() % 5 != 0;
    cc.check_quorum = rng_() % 5 != 0;
    cc.election_tick = Pick(rng_, {10, 10, 5, 20});
    cc.max_tick_skip_percent = Pick(rng_, {0, 0, 0, 40});
    (void)ParsePlantedBug(o.plant, &cc.plant);
    cluster_config_ = cc;
    profile_.net.drop_ppm = Pick(rng_, {0u, 0u, 20'000u, 100'000u, 250'000u});
    profile_.net.duplicate_ppm = Pick(rng_, {0u, 10'000u, 80'000u});
    profile_.net.min_delay = 1;
    profile_.net.max_delay = Pick(rng_, {1u, 3u, 6u, 25u});
    profile_.crash = Pick(rng_, {0, 10, 30, 60});
    profile_.partition = Pick(rng_, {0, 20, 60});
    profile_.conf_change = Pick(rng_, {0, 20, 80});
    profile_.transfer = Pick(rng_, {0, 20, 60});
    profile_.campaign = Pick(rng_, {0, 10, 40});
    profile_.flap = Pick(rng_, {0, 30});
    cluster_ = std::make_unique<SimCluster>(cc, &rng_, o.verbose);
    cluster_->network().set_faults(profile_.net);
    cluster_->Trace(
        "seed " + std::to_string(o.seed) + ": " + std::to_string(cc.nodes) + " nodes, " +
        std::to_string(cc.clients) + " clients, " + std::to_string(cc.keys) + " keys, drop " +
        std::to_string(profile_.net.drop_ppm) + "ppm, dup " +
        std::to_string(profile_.net.duplicate_ppm) + "ppm, delay<=" +
        std::to_string(profile_.net.max_delay) + ", crash " + std::to_string(profile_.crash) +
        ", partition " + std::to_string(profile_.partition) + ", conf " +
        std::to_string(profile_.conf_change) + ", transfer " + std::to_string(profile_.transfer) +
        " (/10000 steps), snapshot every " + std::to_string(cc.snapshot_every) + ", chunk " +
        std::to_string(cc.snapshot_chunk_size) + "B, msg " + std::to_string(cc.max_size_per_msg) +
        "B, inflight " + std::to_string(cc.max_inflight_msgs) + ", election tick " +
        std::to_string(cc.election_tick) + (cc.pre_vote ? ", pre-vote" : ", NO pre-vote") +
        (cc.check_quorum ? ", check-quorum" : ", NO check-quorum") +
        ", tick skew <= " + std::to_string(cc.max_tick_skip_percent) + "%");
  }

  SimResult Run() {
    for (int i = 0; i < options_.steps && !cluster_->failed(); ++i) {
      InjectFaults();
      cluster_->Step();
    }
    SimResult r;
    if (!cluster_->failed()) Settle(r);
    if (cluster_->failed() && r.outcome == SimOutcome::kOk) {
      r.failure = cluster_->failure();
      r.outcome = r.failure.find(": host") != std::string::npos ? SimOutcome::kHostContract
                                                                : SimOutcome::kSafety;
    }
    if (r.ok()) CheckHistory(r);
    const ClusterStats& s = cluster_->stats();
    r.steps = s.steps;
    r.committed = cluster_->checker().committed_entries();
    r.terms = cluster_->checker().terms_with_leader();
    r.crashes = s.crashes;
    r.partitions = partitions_;
    r.snapshots_installed = s.snapshots_installed;
    r.conf_changes = s.conf_changes_proposed;
    r.conf_changes_committed = s.conf_changes_committed;
    r.read_index_reads = s.read_index_reads;
    r.transfers = s.transfers;
    r.ops_completed = s.ops_completed;
    r.ops_ambiguous = s.ops_invoked - s.ops_completed;
    return r;
  }

 private:
  bool Roll(int per_10000) { return per_10000 > 0 && static_cast<int>(rng_() % 10000) < per_10000; }
  uint64_t RandomNode() { return cluster_->ids()[rng_() % cluster_->ids().size()]; }

  void InjectFaults() {
    const uint64_t now = cluster_->now();
    const std::vector<uint64_t>& ids = cluster_->ids();
    // Restarts that are due.
    for (auto it = restart_at_.begin(); it != restart_at_.end();) {
      if (it->second <= now) {
        cluster_->Restart(it->first);
        it = restart_at_.erase(it);
      } else {
        ++it;
      }
    }
    // Crashes: at most a majority down at once (nodes - 1 for tiny clusters).
    // A third of the victims are the leader; a third of crashes are quick
    // bounces (restart within 3 steps, so messages sent to the previous
    // incarnation still arrive).
    if (Roll(profile_.crash) && restart_at_.size() < ids.size() / 2 + 1) {
      std::optional<uint64_t> leader = cluster_->Leader();
      const uint64_t victim = leader && rng_() % 3 == 0 ? *leader : RandomNode();
      if (cluster_->up(victim) && restart_at_.count(victim) == 0) {
        static constexpr CrashPoint kPoints[] = {CrashPoint::kNow, CrashPoint::kBeforePersist,
                                                 CrashPoint::kMidPersist, CrashPoint::kAfterPersist,
                                                 CrashPoint::kBeforeAdvance};
        cluster_->Crash(victim, Pick(rng_, kPoints));
        restart_at_[victim] = now + (rng_() % 3 == 0 ? 1 + rng_() % 3 : 3 + rng_() % 80);
      }
    }
    // Partitions.
    if (partition_until_ > 0 && now >= partition_until_) {
      cluster_->network().Heal();
      partition_until_ = 0;
      cluster_->Trace("heal network");
    } else if (partition_until_ > 0 && flapping_ && Roll(1500)) {
      NewPartitionShape();
    } else if (partition_until_ == 0 && Roll(profile_.partition)) {
      partition_until_ = now + 10 + rng_() % 250;
      flapping_ = static_cast<int>(rng_() % 100) < profile_.flap;
      ++partitions_;
      NewPartitionShape();
    }
    // Membership changes, transfers, forced elections.
    std::optional<uint64_t> leader = cluster_->Leader();
    if (leader && Roll(profile_.conf_change)) ChangeMembership(*leader);
    if (leader && Roll(profile_.transfer)) {
      const raft::ConfState cs = cluster_->Status(*leader).conf_state;
      if (!cs.voters.empty()) {
        cluster_->TransferLeadership(*leader, cs.voters[rng_() % cs.voters.size()].value());
      }
    }
    if (Roll(profile_.campaign)) cluster_->Campaign(RandomNode());
    // Duelling candidates, with a voter bouncing in the middle of the vote:
    // the situation where a forgotten vote elects two leaders.
    if (Roll(profile_.campaign) && ids.size() >= 3) {
      const uint64_t a = RandomNode();
      const uint64_t b = RandomNode();
      const uint64_t voter = RandomNode();
      cluster_->Campaign(a);
      if (b != a) cluster_->Campaign(b);
      if (voter != a && voter != b && restart_at_.count(voter) == 0 && cluster_->up(voter)) {
        cluster_->Crash(voter, CrashPoint::kAfterPersist);
        restart_at_[voter] = now + 2 + rng_() % 3;
      }
    }
  }

  void NewPartitionShape() {
    SimNetwork<raft::Message>& net = cluster_->network();
    std::vector<uint64_t> ids = cluster_->ids();
    std::shuffle(ids.begin(), ids.end(), rng_);
    const size_t n = ids.size();
    std::string shape;
    switch (rng_() % 5) {
      case 0: {  // majority / minority (or any split)
        const size_t cut = 1 + rng_() % std::max<size_t>(1, n - 1);
        net.Partition({std::vector<uint64_t>(ids.begin(), ids.begin() + cut),
                       std::vector<uint64_t>(ids.begin() + cut, ids.end())},
                      cluster_->ids());
        shape = "split";
        break;
      }
      case 1: {  // isolate the leader (or a random node)
        net.Heal();
        std::optional<uint64_t> l = cluster_->Leader();
        net.Isolate(l.value_or(ids[0]), cluster_->ids());
        shape = "isolate leader";
        break;
      }
      case 2: {  // bridge: ids[0] sees both halves, the halves do not see each other
        const size_t half = 1 + (n - 1) / 2;
        net.Bridge(std::vector<uint64_t>(ids.begin() + 1, ids.begin() + half),
                   std::vector<uint64_t>(ids.begin() + half, ids.end()));
        shape = "bridge via " + std::to_string(ids[0]);
        break;
      }
      case 3: {  // random one-way link cuts
        net.Heal();
        for (uint64_t a : ids) {
          for (uint64_t b : ids) {
            if (a != b && rng_() % 100 < 30) net.Cut(a, b);
          }
        }
        shape = "random one-way cuts";
        break;
      }
      default: {  // three-way split
        net.Partition({{ids[0]},
                       std::vector<uint64_t>(ids.begin() + 1, ids.begin() + 1 + (n - 1) / 2),
                       std::vector<uint64_t>(ids.begin() + 1 + (n - 1) / 2, ids.end())},
                      cluster_->ids());
        shape = "three-way split";
        break;
      }
    }
    cluster_->Trace("partition (" + shape + (flapping_ ? ", flapping" : "") +
                    "): " + net.DescribeCuts());
  }

  void ChangeMembership(uint64_t leader) {
    const raft::ConfState cs = cluster_->Status(leader).conf_state;
    std::vector<uint64_t> outside;
    for (uint64_t id : cluster_->ids()) {
      const NodeId nid(id);
      if (std::find(cs.voters.begin(), cs.voters.end(), nid) == cs.voters.end() &&
          std::find(cs.learners.begin(), cs.learners.end(), nid) == cs.learners.end()) {
        outside.push_back(id);
      }
    }
    ConfChange cc;
    const int action = static_cast<int>(rng_() % 4);
    if (action == 0 && cs.voters.size() > 2) {
      cc.type = ConfChangeType::kRemoveNode;
      cc.node = cs.voters[rng_() % cs.voters.size()];
    } else if (action == 1 && cs.voters.size() > 2) {
      cc.type = ConfChangeType::kAddLearner;  // demote
      cc.node = cs.voters[rng_() % cs.voters.size()];
    } else if (action == 2 && !cs.learners.empty()) {
      cc.type = ConfChangeType::kAddVoter;  // promote
      cc.node = cs.learners[rng_() % cs.learners.size()];
    } else if (!outside.empty()) {
      cc.type = rng_() % 2 == 0 ? ConfChangeType::kAddLearner : ConfChangeType::kAddVoter;
      cc.node = NodeId(outside[rng_() % outside.size()]);
    } else if (!cs.learners.empty()) {
      cc.type = ConfChangeType::kAddVoter;
      cc.node = cs.learners[rng_() % cs.learners.size()];
    } else {
      return;
    }
    cluster_->ProposeConfChange(leader, cc);
  }

  void Settle(SimResult& r) {
    cluster_->Trace("--- healing: network healed, all nodes restarted, clients stop ---");
    cluster_->network().Heal();
    cluster_->network().set_faults(NetworkFaults{0, 0, 1, 2});
    partition_until_ = 0;
    restart_at_.clear();
    cluster_->set_clients_active(false);
    int attempts = 0;
    uint64_t target = 0;
    bool caught_up = false;
    int limit = options_.settle_steps;
    for (int i = 0; i < limit && !cluster_->failed(); ++i) {
      for (uint64_t id : cluster_->ids()) {
        if (!cluster_->up(id)) cluster_->Restart(id);
      }
      cluster_->Step();
      if (cluster_->failed()) return;
      std::optional<uint64_t> leader = cluster_->Leader();
      if (!cluster_->final_write_completed()) {
        if (leader && !cluster_->final_write_in_flight() && attempts < 50) {
          if (cluster_->SubmitFinalWrite(*leader, "final" + std::to_string(attempts))) ++attempts;
        }
        if (cluster_->final_write_completed()) {
          target = cluster_->checker().max_committed();
          limit = i + 1 + options_.catchup_steps;
        }
        continue;
      }
      if (target == 0) {
        target = cluster_->checker().max_committed();
        limit = i + 1 + options_.catchup_steps;
      }
      if (!leader) continue;
      const raft::ConfState cs = cluster_->Status(*leader).conf_state;
      bool all = true;
      for (const auto* group : {&cs.voters, &cs.learners}) {
        for (NodeId m : *group) all = all && cluster_->applied(m.value()) >= target;
      }
      if (all) {
        caught_up = true;
        break;
      }
    }
    if (caught_up) {
      cluster_->CheckAllLogs();
      return;
    }
    if (cluster_->failed()) return;
    r.outcome = SimOutcome::kLiveness;
    std::string state;
    for (uint64_t id : cluster_->ids()) {
      if (!cluster_->up(id)) {
        state += "\n    node " + std::to_string(id) + ": down";
        continue;
      }
      const raft::RaftStatus s = cluster_->Status(id);
      state += "\n    node " + std::to_string(id) + ": " + std::string(raft::RoleName(s.role)) +
               " term " + std::to_string(s.term.value()) + " leader " +
               std::to_string(s.leader.value()) + " commit " + std::to_string(s.commit.value()) +
               " applied " + std::to_string(cluster_->applied(id)) + " last " +
               std::to_string(s.last_index.value()) + " voters {" + Ids(s.conf_state.voters) +
               "} learners {" + Ids(s.conf_state.learners) + "}";
    }
    std::optional<uint64_t> leader = cluster_->Leader();
    if (leader) {
      for (const auto& [id, p] : cluster_->Status(*leader).progress) {
        state += "\n    leader's view of " + std::to_string(id.value()) + ": match " +
                 std::to_string(p.match.value()) + " next " + std::to_string(p.next.value()) + " " +
                 std::string(raft::ProgressStateName(p.state)) + " inflight " +
                 std::to_string(p.inflight) + (p.is_learner ? " learner" : "") +
                 (p.recent_active ? " active" : "");
      }
    }
    r.failure =
        "Liveness: " + std::to_string(limit) + " steps after healing, " +
        (cluster_->final_write_completed()
             ? "the final write committed but members did not catch up to " + std::to_string(target)
             : std::string("no final write committed (") + std::to_string(attempts) +
                   " attempts)") +
        state;
  }

  void CheckHistory(SimResult& r) {
    LinearizabilityResult lr = CheckKvLinearizable(cluster_->history());
    r.checker_steps = lr.steps;
    if (lr.verdict == LinearizabilityVerdict::kNotLinearizable) {
      r.outcome = SimOutcome::kNotLinearizable;
      r.failure = "Linearizability: " + lr.explanation;
    } else if (lr.verdict == LinearizabilityVerdict::kUnknown) {
      r.outcome = SimOutcome::kCheckerGaveUp;
      r.failure = "Linearizability checker gave up: " + lr.explanation;
    }
  }

  SimOptions options_;
  std::mt19937_64 rng_;
  ClusterConfig cluster_config_;
  FaultProfile profile_;
  std::unique_ptr<SimCluster> cluster_;
  std::map<uint64_t, uint64_t> restart_at_;  // node -> step
  uint64_t partition_until_ = 0;
  bool flapping_ = false;
  uint64_t partitions_ = 0;
};

}  // namespace

const char* SimOutcomeName(SimOutcome o) {
  switch (o) {
    case SimOutcome::kOk:
      return "ok";
    case SimOutcome::kSafety:
      return "SAFETY VIOLATION";
    case SimOutcome::kHostContract:
      return "HOST CONTRACT VIOLATION";
    case SimOutcome::kLiveness:
      return "LIVENESS FAILURE";
    case SimOutcome::kNotLinearizable:
      return "NOT LINEARIZABLE";
    case SimOutcome::kCheckerGaveUp:
      return "LINEARIZABILITY UNKNOWN";
  }
  return "?";
}

SimResult RunSimulation(const SimOptions& options) { return Simulation(options).Run(); }

std::string ReplayCommand(const SimOptions& o) {
  return std::string(RAFTLOG_SIM_BINARY) + " --seed=" + std::to_string(o.seed) +
         " --nodes=" + std::to_string(o.nodes) + " --steps=" + std::to_string(o.steps) +
         (o.torn_snapshot_persist ? "" : " --atomic-snapshot-persist") +
         (o.plant != "none" ? " --plant=" + o.plant : "") +
         (o.lease_reads ? " --lease-reads" : "") + " --verbose";
}

}  // namespace raftlog::sim
