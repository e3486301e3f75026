// SimCluster: N simulated hosts, each running a raft::RawNode over a durable
// MemoryStorage, a KvStore on top, a SimNetwork between them, and clients
// whose operations are recorded as a linearizability history.
//
// The host follows raw_node.h's Ready contract exactly: send rd.messages,
// persist snapshot -> entries -> hard state into the MemoryStorage (which is
// the durable state: a crash destroys the RawNode and everything it had not
// handed over), send rd.messages_after_persist, apply, Advance. A crash can
// be scheduled at any point of that sequence (CrashPoint). Messages in
// flight when a node crashes are not dropped: those due while it is down are
// lost, later ones reach its next incarnation (as over a datagram transport).
// Client operations complete when the node the client talked to applies
// them (or answers a ReadIndex); a client that times out leaves its
// operation in the history without a completion (outcome unknown).
//
// Invariants: every mutation goes through Step(); every check of
// invariants.h runs on each Ready and each step; a violation is latched in
// failure() and the cluster stops doing anything further. All iteration is
// over ordered containers, so a run is a pure function of the seed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "raft/config.h"
#include "raft/log_storage.h"
#include "raft/raw_node.h"
#include "tests/sim/invariants.h"
#include "tests/sim/kv_store.h"
#include "tests/sim/linearizability.h"
#include "tests/sim/sim_network.h"

namespace raftlog::sim {

// Where in the Ready sequence a scheduled crash hits.
enum class CrashPoint {
  kNone,
  kNow,            // between steps (no Ready outstanding)
  kBeforePersist,  // rd.messages sent, nothing persisted
  kMidPersist,     // snapshot + entries persisted, hard state not
  kAfterPersist,   // all persisted, messages_after_persist not sent
  kBeforeAdvance,  // applied, not advanced
};
const char* CrashPointName(CrashPoint p);

// Deliberate host bugs, to show that the simulator catches each class of
// mistake (a checker that never fires proves nothing).
enum class PlantedBug {
  kNone,
  kForgetVote,           // restart with the vote erased from the hard state
  kAckBeforePersist,     // send messages_after_persist before persisting
  kStaleRead,            // answer ReadIndex reads without waiting for apply
  kSkipSnapshotRestore,  // install a snapshot in storage but not in the KV
};
const char* PlantedBugName(PlantedBug b);
bool ParsePlantedBug(const std::string& name, PlantedBug* out);

struct ClusterConfig {
  int nodes = 3;
  int clients = 3;
  int keys = 3;
  int election_tick = 10;
  uint64_t client_timeout = 60;  // steps before a client gives up (ambiguous)
  // Each node snapshots + compacts once it has this many applied entries
  // beyond its snapshot, keeping `compact_keep` entries behind.
  uint64_t snapshot_every = 50;
  uint64_t compact_keep = 5;
  uint64_t max_size_per_msg = 1 << 20;
  int max_inflight_msgs = 256;
  uint64_t snapshot_chunk_size = 1 << 20;
  bool pre_vote = true;
  bool check_quorum = true;
  bool lease_reads = false;  // ReadOnlyOption::kLeaseBased (forces check_quorum)
  // Percent of gets that go through the log rather than ReadIndex.
  int log_read_percent = 30;
  int cas_percent = 10;
  // A crash at kMidPersist may fall between an installed snapshot and the
  // hard state that follows it (raw_node.h does not require step 2 to be
  // atomic; FINDINGS.md finding 1). Off: they become durable together.
  bool torn_snapshot_persist = true;
  PlantedBug plant = PlantedBug::kNone;
  // Percent of granted votes after which the voter crashes at once (after
  // sending the grant) and restarts 1-2 steps later, while other
  // candidates' requests are still in flight.
  int bounce_after_vote_percent = 0;
  // Clock skew: each node skips a random share (up to this percent) of its
  // ticks, so timeouts run at different speeds on different nodes.
  int max_tick_skip_percent = 0;
};

struct ClusterStats {
  uint64_t steps = 0;
  uint64_t crashes = 0;
  uint64_t restarts = 0;
  uint64_t snapshots_made = 0;
  uint64_t snapshots_installed = 0;
  uint64_t conf_changes_proposed = 0;
  uint64_t transfers = 0;
  uint64_t ops_invoked = 0;
  uint64_t ops_completed = 0;
  uint64_t ops_rejected = 0;      // definite failures (not leader, node down)
  uint64_t read_index_reads = 0;  // gets answered through ReadIndex
  uint64_t conf_changes_committed = 0;
};

class SimCluster {
 public:
  SimCluster(const ClusterConfig& config, std::mt19937_64* rng, bool verbose);
  ~SimCluster();

  // One unit of logical time: deliver due messages, tick every running node,
  // run clients, handle Readies, check invariants.
  void Step();

  // --- Faults (the scheduler in simulation.cc decides when) ---------------
  void Crash(uint64_t node, CrashPoint point);
  void Restart(uint64_t node);
  SimNetwork<raft::Message>& network() { return net_; }
  // Leader-driven actions; errors from the core (not leader, change in
  // flight) are normal and ignored.
  void ProposeConfChange(uint64_t leader, const raft::ConfChange& cc);
  void TransferLeadership(uint64_t leader, uint64_t to);
  void Campaign(uint64_t node);

  // --- Clients -------------------------------------------------------------
  void set_clients_active(bool active) { clients_active_ = active; }
  // Submits a put of `value` to key k0 through `node`; true if the node
  // accepted it. Its completion is tracked like any client op (client 0).
  bool SubmitFinalWrite(uint64_t node, const std::string& value);
  bool final_write_completed() const { return final_completed_; }
  bool final_write_in_flight() const;

  // --- Observation ----------------------------------------------------------
  const std::vector<uint64_t>& ids() const { return ids_; }
  bool up(uint64_t node) const;
  // A running node that believes it is leader, preferring the highest term.
  std::optional<uint64_t> Leader() const;
  raft::RaftStatus Status(uint64_t node) const;  // node must be up
  uint64_t applied(uint64_t node) const;
  uint64_t now() const { return now_; }
  const std::vector<KvOp>& history() const { return history_; }
  const SafetyChecker& checker() const { return checker_; }
  const ClusterStats& stats() const { return stats_; }
  const std::string& failure() const { return failure_; }
  bool failed() const { return !failure_.empty(); }
  void Fail(const std::string& why);
  // Full pairwise log matching and "same applied index => same state".
  void CheckAllLogs();
  void Trace(const std::string& line);
  // For tests that plant a violation in a node's durable state.
  raft::MemoryStorage* storage_for_testing(uint64_t node);

 private:
  struct Node;
  struct InFlight {
    int client = 0;
    size_t history_index = 0;
    uint64_t node = 0;
    uint64_t deadline = 0;
  };
  struct Client {
    int id = 0;
    uint64_t contact = 1;
    std::optional<uint64_t> op;  // in-flight op id
    uint64_t idle_until = 0;
  };

  Node& node(uint64_t id);
  const Node& node(uint64_t id) const;
  raft::Config MakeConfig(uint64_t id, raft::LogIndex applied);
  void StartNode(Node& n);
  void HandleReady(Node& n);
  void Apply(Node& n, const raft::Entry& e, uint64_t durable_last);
  void ServeReads(Node& n);
  void MaybeSnapshot(Node& n);
  void Send(uint64_t from, std::vector<raft::Message>&& msgs);
  void RunClients();
  void StartOp(Client& c);
  void Complete(uint64_t op_id, uint64_t at_node, const KvResult& r);
  void CheckStep();
  void Check(const absl::Status& s);
  uint64_t StateHash(const Node& n) const;

  ClusterConfig config_;
  std::mt19937_64* rng_;
  bool verbose_;
  SimNetwork<raft::Message> net_;
  std::vector<uint64_t> ids_;
  std::map<uint64_t, std::unique_ptr<Node>> nodes_;
  std::vector<Client> clients_;
  bool clients_active_ = true;
  std::map<uint64_t, InFlight> in_flight_;          // op id -> op
  std::map<uint64_t, uint64_t> bounce_restart_at_;  // node -> step
  uint64_t max_conf_change_index_ = 0;
  std::vector<KvOp> history_;
  uint64_t next_op_id_ = 1;
  bool final_completed_ = false;
  SafetyChecker checker_;
  ClusterStats stats_;
  uint64_t now_ = 0;
  std::string failure_;
};

}  // namespace raftlog::sim
