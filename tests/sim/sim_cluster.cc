// SimCluster: hosts, the Ready loop, clients and the per-step checks. See
// sim_cluster.h for the contract; the fault schedule lives in simulation.cc.
#include "tests/sim/sim_cluster.h"

#include <algorithm>
#include <cstdio>

namespace raftlog::sim {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;
using raft::Ready;

struct SimCluster::Node {
  uint64_t id = 0;
  std::unique_ptr<raft::MemoryStorage> storage;  // the durable state
  std::unique_ptr<raft::RawNode> raft;           // null while down
  KvStore kv;
  uint64_t applied = 0;
  CrashPoint crash_point = CrashPoint::kNone;
  struct PendingRead {
    uint64_t index;
    uint64_t op_id;
  };
  std::vector<PendingRead> reads;
  uint64_t incarnation = 0;
  int tick_skip_percent = 0;  // clock skew
  raft::Role last_role = raft::Role::kFollower;
};

const char* CrashPointName(CrashPoint p) {
  switch (p) {
    case CrashPoint::kNone:
      return "none";
    case CrashPoint::kNow:
      return "now";
    case CrashPoint::kBeforePersist:
      return "before-persist";
    case CrashPoint::kMidPersist:
      return "mid-persist(entries durable, hard state not)";
    case CrashPoint::kAfterPersist:
      return "after-persist-before-send";
    case CrashPoint::kBeforeAdvance:
      return "after-apply-before-advance";
  }
  return "?";
}

const char* PlantedBugName(PlantedBug b) {
  switch (b) {
    case PlantedBug::kNone:
      return "none";
    case PlantedBug::kForgetVote:
      return "forget-vote";
    case PlantedBug::kAckBeforePersist:
      return "ack-before-persist";
    case PlantedBug::kStaleRead:
      return "stale-read";
    case PlantedBug::kSkipSnapshotRestore:
      return "skip-snapshot-restore";
  }
  return "?";
}

bool ParsePlantedBug(const std::string& name, PlantedBug* out) {
  for (PlantedBug b : {PlantedBug::kNone, PlantedBug::kForgetVote, PlantedBug::kAckBeforePersist,
                       PlantedBug::kStaleRead, PlantedBug::kSkipSnapshotRestore}) {
    if (name == PlantedBugName(b)) {
      *out = b;
      return true;
    }
  }
  return false;
}

SimCluster::SimCluster(const ClusterConfig& config, std::mt19937_64* rng, bool verbose)
    : config_(config), rng_(rng), verbose_(verbose), net_(rng) {
  raft::ConfState initial;
  for (int i = 1; i <= config_.nodes; ++i) {
    ids_.push_back(static_cast<uint64_t>(i));
    initial.voters.push_back(NodeId(static_cast<uint64_t>(i)));
  }
  for (uint64_t id : ids_) {
    auto n = std::make_unique<Node>();
    n->id = id;
    n->storage = std::make_unique<raft::MemoryStorage>();
    n->storage->SetConfState(initial);
    if (config_.max_tick_skip_percent > 0) {
      n->tick_skip_percent = static_cast<int>((*rng_)() % (config_.max_tick_skip_percent + 1));
    }
    nodes_[id] = std::move(n);
  }
  for (uint64_t id : ids_) {
    StartNode(*nodes_[id]);
    (void)checker_.OnRestore(id, 0, 0, StateHash(*nodes_[id]));
  }
  for (int c = 1; c <= config_.clients; ++c) {
    clients_.push_back(Client{c, ids_[(*rng_)() % ids_.size()], std::nullopt, 0});
  }
}

SimCluster::~SimCluster() = default;

SimCluster::Node& SimCluster::node(uint64_t id) { return *nodes_.at(id); }
const SimCluster::Node& SimCluster::node(uint64_t id) const { return *nodes_.at(id); }

void SimCluster::Trace(const std::string& line) {
  if (verbose_)
    std::fprintf(stderr, "[t=%llu] %s\n", static_cast<unsigned long long>(now_), line.c_str());
}

void SimCluster::Fail(const std::string& why) {
  if (failure_.empty()) {
    failure_ = "at step " + std::to_string(now_) + ": " + why;
    Trace("FAILURE " + failure_);
  }
}

void SimCluster::Check(const absl::Status& s) {
  if (!s.ok()) Fail(std::string(s.message()));
}

raft::Config SimCluster::MakeConfig(uint64_t id, LogIndex applied) {
  raft::Config c;
  c.id = NodeId(id);
  c.election_tick = config_.election_tick;
  c.heartbeat_tick = 1;
  c.applied = applied;
  c.max_size_per_msg = config_.max_size_per_msg;
  c.max_inflight_msgs = config_.max_inflight_msgs;
  c.snapshot_chunk_size = config_.snapshot_chunk_size;
  c.pre_vote = config_.pre_vote;
  c.check_quorum = config_.check_quorum || config_.lease_reads;
  if (config_.lease_reads) c.read_only_option = raft::ReadOnlyOption::kLeaseBased;
  c.seed = (*rng_)();
  return c;
}

uint64_t SimCluster::StateHash(const Node& n) const { return Fnv1a(n.kv.Serialize()); }

void SimCluster::StartNode(Node& n) {
  if (config_.plant == PlantedBug::kForgetVote && n.incarnation > 0) {
    raft::HardState hs = n.storage->hard_state();
    hs.vote = raft::kNoNode;
    n.storage->SetHardState(hs);
  }
  absl::StatusOr<raft::Snapshot> snap = n.storage->GetSnapshot();
  if (!snap.ok()) return Fail("host: GetSnapshot failed: " + std::string(snap.status().message()));
  absl::Status s = n.kv.Restore(snap->data);
  if (!s.ok()) return Fail("host: snapshot restore failed: " + std::string(s.message()));
  n.applied = snap->metadata.index.value();
  auto rn = raft::RawNode::Create(MakeConfig(n.id, snap->metadata.index), n.storage.get());
  if (!rn.ok()) return Fail("host: RawNode::Create failed: " + std::string(rn.status().message()));
  n.raft = std::move(*rn);
  n.crash_point = CrashPoint::kNone;
  n.reads.clear();
  n.last_role = raft::Role::kFollower;
  ++n.incarnation;
}

raft::MemoryStorage* SimCluster::storage_for_testing(uint64_t id) { return node(id).storage.get(); }

bool SimCluster::up(uint64_t id) const { return node(id).raft != nullptr; }
uint64_t SimCluster::applied(uint64_t id) const { return node(id).applied; }
raft::RaftStatus SimCluster::Status(uint64_t id) const { return node(id).raft->Status(); }

std::optional<uint64_t> SimCluster::Leader() const {
  std::optional<uint64_t> best;
  uint64_t best_term = 0;
  for (uint64_t id : ids_) {
    const Node& n = node(id);
    if (n.raft && n.raft->role() == raft::Role::kLeader && n.raft->term().value() >= best_term) {
      best = id;
      best_term = n.raft->term().value();
    }
  }
  return best;
}

void SimCluster::Crash(uint64_t id, CrashPoint point) {
  Node& n = node(id);
  if (!n.raft) return;
  if (point != CrashPoint::kNow) {
    n.crash_point = point;  // hits at the next Ready
    return;
  }
  Trace("crash node " + std::to_string(id));
  n.raft.reset();
  n.reads.clear();
  n.crash_point = CrashPoint::kNone;
  checker_.OnCrash(id, n.storage->hard_state().commit.value());
  ++stats_.crashes;
}

void SimCluster::Restart(uint64_t id) {
  Node& n = node(id);
  if (n.raft) return;
  StartNode(n);
  if (failed()) return;
  Trace("restart node " + std::to_string(id) + " (durable last index " +
        std::to_string(n.storage->LastIndex().value()) + ", commit " +
        std::to_string(n.storage->hard_state().commit.value()) + ", snapshot " +
        std::to_string(n.applied) + ")");
  Check(checker_.OnRestore(id, n.applied,
                           n.storage->TermAt(LogIndex(n.applied)).value_or(raft::Term(0)).value(),
                           StateHash(n)));
  ++stats_.restarts;
}

void SimCluster::ProposeConfChange(uint64_t leader, const raft::ConfChange& cc) {
  Node& n = node(leader);
  if (!n.raft) return;
  absl::Status s = n.raft->ProposeConfChange(cc);
  static constexpr const char* kNames[] = {"add-voter", "remove", "add-learner"};
  Trace("conf change " + std::string(kNames[static_cast<int>(cc.type)]) + " " +
        std::to_string(cc.node.value()) + " via " + std::to_string(leader) + ": " +
        (s.ok() ? "proposed" : std::string(s.message())));
  if (s.ok()) ++stats_.conf_changes_proposed;
}

void SimCluster::TransferLeadership(uint64_t leader, uint64_t to) {
  Node& n = node(leader);
  if (!n.raft) return;
  absl::Status s = n.raft->TransferLeadership(NodeId(to));
  Trace("transfer leadership " + std::to_string(leader) + " -> " + std::to_string(to) + ": " +
        (s.ok() ? "started" : std::string(s.message())));
  if (s.ok()) ++stats_.transfers;
}

void SimCluster::Campaign(uint64_t id) {
  Node& n = node(id);
  if (!n.raft) return;
  absl::Status s = n.raft->Campaign();
  Trace("campaign " + std::to_string(id) + ": " + (s.ok() ? "ok" : std::string(s.message())));
}

void SimCluster::Send(uint64_t from, std::vector<Message>&& msgs) {
  for (Message& m : msgs) {
    if (m.from.value() != from) {
      Fail("host: node " + std::to_string(from) + " emitted a message from " +
           std::to_string(m.from.value()) + ": " + raft::DebugString(m));
      return;
    }
    // The Ready contract (PITFALLS #3, #4): an acknowledgement of entries
    // or a granted vote leaves only once what it vouches for is durable.
    const Node& n = node(from);
    if (m.type == raft::MessageType::kAppResp && !m.reject && m.index > n.storage->LastIndex()) {
      Fail("Durability: node " + std::to_string(from) + " acknowledged index " +
           std::to_string(m.index.value()) + " but its durable log ends at " +
           std::to_string(n.storage->LastIndex().value()) + ": " + raft::DebugString(m));
      return;
    }
    // (A grant for a term the node has already left is harmless: it can
    // never vote in that term again.)
    const raft::HardState& hs = n.storage->hard_state();
    if (m.type == raft::MessageType::kVoteResp && !m.reject && hs.term <= m.term &&
        (hs.term != m.term || hs.vote != m.to)) {
      Fail("Durability: node " + std::to_string(from) +
           " granted a vote before persisting it: " + raft::DebugString(m) + " (durable term " +
           std::to_string(hs.term.value()) + ", vote " + std::to_string(hs.vote.value()) + ")");
      return;
    }
    if (verbose_) Trace("send " + raft::DebugString(m));
    const uint64_t to = m.to.value();
    net_.Send(from, to, std::move(m), now_);
  }
}

void SimCluster::Step() {
  if (failed()) return;
  ++now_;
  ++stats_.steps;
  for (auto it = bounce_restart_at_.begin(); it != bounce_restart_at_.end();) {
    if (it->second > now_) {
      ++it;
      continue;
    }
    Restart(it->first);
    it = bounce_restart_at_.erase(it);
  }
  // 1. Network.
  for (auto& d : net_.TakeDue(now_)) {
    Node& n = node(d.to);
    if (!n.raft) continue;
    absl::Status s = n.raft->Step(std::move(d.msg));
    if (!s.ok() && verbose_)
      Trace("step rejected at " + std::to_string(d.to) + ": " + std::string(s.message()));
    // ElectionSafety after every message, so that a leadership that lasts
    // less than a step is seen too.
    if (n.raft->role() == raft::Role::kLeader) {
      Check(checker_.ObserveLeader(d.to, n.raft->term().value()));
    }
  }
  // 2. Time.
  for (uint64_t id : ids_) {
    Node& n = node(id);
    if (n.raft &&
        (n.tick_skip_percent == 0 || static_cast<int>((*rng_)() % 100) >= n.tick_skip_percent)) {
      n.raft->Tick();
    }
  }
  // 3. Clients.
  RunClients();
  // 4. Readies (bounded: a node rarely has more than two per step).
  for (uint64_t id : ids_) {
    Node& n = node(id);
    for (int i = 0; i < 4 && n.raft && n.raft->HasReady() && !failed(); ++i) HandleReady(n);
    if (n.raft && n.crash_point != CrashPoint::kNone && !n.raft->HasReady()) {
      Crash(id, CrashPoint::kNow);
    }
  }
  // 5. Invariants.
  CheckStep();
}

void SimCluster::HandleReady(Node& n) {
  Ready rd = n.raft->GetReady();
  const uint64_t id = n.id;
  if (rd.soft_state && verbose_) {
    Trace("node " + std::to_string(id) + " is " + std::string(raft::RoleName(rd.soft_state->role)) +
          " (leader " + std::to_string(rd.soft_state->leader.value()) + ", term " +
          std::to_string(n.raft->term().value()) + ")");
  }
  // Step 1: messages that may leave before persistence.
  for (const Message& m : rd.messages) {
    if (m.type != raft::MessageType::kApp && m.type != raft::MessageType::kHeartbeat &&
        m.type != raft::MessageType::kSnapshot && m.type != raft::MessageType::kTimeoutNow) {
      return Fail("host contract: Ready.messages carries " + raft::DebugString(m) +
                  ", which raw_node.h says must wait for persistence");
    }
  }
  Send(id, std::move(rd.messages));
  auto crash_here = [&](CrashPoint p) {
    if (n.crash_point != p) return false;
    Trace("crash node " + std::to_string(id) + " at " + CrashPointName(p));
    n.crash_point = CrashPoint::kNow;
    Crash(id, CrashPoint::kNow);
    return true;
  };
  if (config_.plant == PlantedBug::kAckBeforePersist)
    Send(id, std::move(rd.messages_after_persist));
  if (crash_here(CrashPoint::kBeforePersist)) return;
  // Step 2: persist snapshot, entries, hard state.
  if (rd.snapshot) {
    absl::Status s = n.storage->ApplySnapshot(*rd.snapshot);
    if (!s.ok()) return Fail("host: ApplySnapshot failed: " + std::string(s.message()));
  }
  if (!rd.entries.empty()) {
    absl::Status s = n.storage->Append(rd.entries);
    if (!s.ok()) return Fail("host: storage Append failed: " + std::string(s.message()));
  }
  if (n.crash_point == CrashPoint::kMidPersist && rd.snapshot && rd.hard_state &&
      !config_.torn_snapshot_persist) {
    n.storage->SetHardState(*rd.hard_state);
  }
  if (crash_here(CrashPoint::kMidPersist)) return;
  if (rd.hard_state) n.storage->SetHardState(*rd.hard_state);
  const uint64_t durable_last =
      std::max(n.storage->LastIndex().value(), n.storage->FirstIndex().value() - 1);
  Check(checker_.RecordCommitted(id, n.raft->term().value(), *n.storage,
                                 n.storage->hard_state().commit.value()));
  if (failed()) return;
  if (crash_here(CrashPoint::kAfterPersist)) return;
  // Step 3: messages that depended on persistence.
  if (config_.bounce_after_vote_percent > 0 && n.crash_point == CrashPoint::kNone) {
    for (const Message& m : rd.messages_after_persist) {
      if (m.type == raft::MessageType::kVoteResp && !m.reject &&
          static_cast<int>((*rng_)() % 100) < config_.bounce_after_vote_percent) {
        Trace("node " + std::to_string(id) + " bounces after voting for " +
              std::to_string(m.to.value()));
        n.crash_point = CrashPoint::kBeforeAdvance;
        bounce_restart_at_[id] = now_ + 1 + (*rng_)() % 2;
        break;
      }
    }
  }
  if (config_.plant != PlantedBug::kAckBeforePersist) {
    Send(id, std::move(rd.messages_after_persist));
  }
  // Step 4: apply.
  if (rd.snapshot) {
    absl::Status s = config_.plant == PlantedBug::kSkipSnapshotRestore
                         ? absl::OkStatus()
                         : n.kv.Restore(rd.snapshot->data);
    if (!s.ok()) return Fail("host: snapshot restore failed: " + std::string(s.message()));
    n.applied = rd.snapshot->metadata.index.value();
    n.reads.clear();
    ++stats_.snapshots_installed;
    Trace("node " + std::to_string(id) + " installed snapshot at " + std::to_string(n.applied));
    Check(checker_.OnRestore(id, n.applied, rd.snapshot->metadata.term.value(), StateHash(n)));
  }
  for (const Entry& e : rd.committed_entries) {
    if (failed()) return;
    Apply(n, e, durable_last);
  }
  for (const raft::ReadState& rs : rd.read_states) {
    n.reads.push_back({rs.index.value(), std::stoull(rs.request_ctx)});
  }
  ServeReads(n);
  if (crash_here(CrashPoint::kBeforeAdvance)) return;
  // Step 5.
  n.raft->Advance(rd);
  MaybeSnapshot(n);
}

void SimCluster::Apply(Node& n, const Entry& e, uint64_t durable_last) {
  if (e.type == EntryType::kNormal && !e.data.empty()) {
    absl::StatusOr<KvResult> r = n.kv.Apply(e.data.ToString());
    if (!r.ok())
      return Fail("host: undecodable committed entry: " + std::string(r.status().message()));
    Complete(r->op_id, n.id, *r);
  }
  if (e.type == EntryType::kConfChange && e.index.value() > max_conf_change_index_) {
    max_conf_change_index_ = e.index.value();
    ++stats_.conf_changes_committed;
  }
  n.applied = e.index.value();
  Check(checker_.OnApply(n.id, n.raft->term().value(), e, durable_last, StateHash(n)));
}

void SimCluster::ServeReads(Node& n) {
  std::vector<Node::PendingRead> keep;
  for (const Node::PendingRead& r : n.reads) {
    if (r.index > n.applied && config_.plant != PlantedBug::kStaleRead) {
      keep.push_back(r);
      continue;
    }
    auto it = in_flight_.find(r.op_id);
    if (it == in_flight_.end() || it->second.node != n.id) continue;
    KvResult res;
    res.op_id = r.op_id;
    res.read = n.kv.Get(history_[it->second.history_index].key);
    ++stats_.read_index_reads;
    Complete(r.op_id, n.id, res);
  }
  n.reads = std::move(keep);
}

void SimCluster::MaybeSnapshot(Node& n) {
  absl::StatusOr<raft::Snapshot> current = n.storage->GetSnapshot();
  if (!current.ok()) return;
  const uint64_t snap_index = current->metadata.index.value();
  if (n.applied < snap_index + config_.snapshot_every) return;
  absl::StatusOr<raft::Snapshot> s =
      n.storage->CreateSnapshot(LogIndex(n.applied), n.raft->conf_state(), n.kv.Serialize());
  if (!s.ok()) return Fail("host: CreateSnapshot failed: " + std::string(s.status().message()));
  const uint64_t compact_to =
      n.applied > config_.compact_keep ? n.applied - config_.compact_keep : 0;
  if (compact_to > n.storage->FirstIndex().value() - 1) {
    absl::Status c = n.storage->Compact(LogIndex(compact_to));
    if (!c.ok()) return Fail("host: Compact failed: " + std::string(c.message()));
  }
  ++stats_.snapshots_made;
  Trace("node " + std::to_string(n.id) + " snapshot at " + std::to_string(n.applied) +
        ", compacted to " + std::to_string(compact_to));
}

void SimCluster::CheckStep() {
  for (uint64_t id : ids_) {
    Node& n = node(id);
    if (!n.raft || failed()) continue;
    const raft::Role role = n.raft->role();
    const uint64_t term = n.raft->term().value();
    const raft::RaftStatus status = n.raft->Status();
    Check(checker_.ObserveCommit(id, status.commit.value()));
    if (role == raft::Role::kLeader) {
      Check(checker_.ObserveLeader(id, term));
      // Leader completeness: when it takes office, and every 8 steps.
      if (n.last_role != raft::Role::kLeader || now_ % 8 == 0) {
        Check(checker_.CheckLeaderCompleteness(id, term, *n.storage, status.last_index.value()));
      }
    }
    n.last_role = role;
  }
  if (now_ % 64 == 0) CheckAllLogs();
}

void SimCluster::CheckAllLogs() {
  if (failed()) return;
  std::vector<std::pair<uint64_t, const raft::LogStorage*>> logs;
  for (uint64_t id : ids_) logs.emplace_back(id, node(id).storage.get());
  Check(checker_.CheckLogMatching(logs));
}

// --- Clients ----------------------------------------------------------------

void SimCluster::RunClients() {
  // Timeouts first: an op whose deadline passed stays in the history without
  // a completion (its outcome is unknown).
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.deadline > now_) {
      ++it;
      continue;
    }
    Trace("timeout " + history_[it->second.history_index].Describe());
    if (it->second.client > 0) {
      Client& c = clients_[it->second.client - 1];
      c.op.reset();
      c.contact = ids_[(*rng_)() % ids_.size()];
    }
    it = in_flight_.erase(it);
  }
  if (!clients_active_) return;
  for (Client& c : clients_) {
    if (c.op.has_value() || c.idle_until > now_) continue;
    StartOp(c);
  }
}

void SimCluster::StartOp(Client& c) {
  Node& n = node(c.contact);
  const uint64_t op_id = next_op_id_++;
  const std::string key = "k" + std::to_string((*rng_)() % config_.keys);
  const int dice = static_cast<int>((*rng_)() % 100);
  KvOp op;
  op.client = c.id;
  op.key = key;
  op.invoke = now_;
  absl::Status s;
  if (!n.raft) {
    s = absl::UnavailableError("node down");
  } else if (dice < 45) {
    op.kind = KvOpKind::kPut;
    op.value = "v" + std::to_string(op_id);
    s = n.raft->Propose(
        EncodeKvCommand({KvCommand::Kind::kPut, op_id, key, op.value, std::nullopt}));
  } else if (dice < 45 + config_.cas_percent) {
    op.kind = KvOpKind::kCas;
    op.value = "v" + std::to_string(op_id);
    // Expect the latest value this client's contact has applied (or absent):
    // often right, sometimes stale, so both outcomes happen.
    op.expected = n.kv.Get(key);
    s = n.raft->Propose(
        EncodeKvCommand({KvCommand::Kind::kCas, op_id, key, op.value, op.expected}));
  } else {
    op.kind = KvOpKind::kGet;
    if ((*rng_)() % 100 < static_cast<uint64_t>(config_.log_read_percent)) {
      s = n.raft->Propose(EncodeKvCommand({KvCommand::Kind::kGet, op_id, key, "", std::nullopt}));
    } else {
      s = n.raft->ReadIndex(std::to_string(op_id));
    }
  }
  if (!s.ok()) {
    // Definite failure: the op never entered the system. Retry elsewhere.
    ++stats_.ops_rejected;
    std::optional<NodeId> hint = raft::LeaderHint(s);
    c.contact =
        hint.has_value() && hint->value() != 0 ? hint->value() : ids_[(*rng_)() % ids_.size()];
    c.idle_until = now_ + 1 + (*rng_)() % 3;
    return;
  }
  ++stats_.ops_invoked;
  history_.push_back(op);
  in_flight_[op_id] = InFlight{c.id, history_.size() - 1, c.contact, now_ + config_.client_timeout};
  c.op = op_id;
  Trace("invoke " + op.Describe() + " at node " + std::to_string(c.contact));
}

bool SimCluster::SubmitFinalWrite(uint64_t id, const std::string& value) {
  Node& n = node(id);
  if (!n.raft) return false;
  const uint64_t op_id = next_op_id_++;
  absl::Status s =
      n.raft->Propose(EncodeKvCommand({KvCommand::Kind::kPut, op_id, "k0", value, std::nullopt}));
  if (!s.ok()) return false;
  history_.push_back(MakePut(0, "k0", value, static_cast<int64_t>(now_), KvOp::kNeverCompleted));
  in_flight_[op_id] = InFlight{0, history_.size() - 1, id, now_ + config_.client_timeout};
  Trace("invoke final write " + value + " at node " + std::to_string(id));
  return true;
}

bool SimCluster::final_write_in_flight() const {
  for (const auto& [op, f] : in_flight_) {
    if (f.client == 0) return true;
  }
  return false;
}

void SimCluster::Complete(uint64_t op_id, uint64_t at_node, const KvResult& r) {
  auto it = in_flight_.find(op_id);
  if (it == in_flight_.end() || it->second.node != at_node) return;
  KvOp& op = history_[it->second.history_index];
  op.complete = static_cast<int64_t>(now_);
  if (op.kind == KvOpKind::kGet) op.read = r.read;
  if (op.kind == KvOpKind::kCas) {
    op.cas_outcome = r.swapped ? CasOutcome::kSwapped : CasOutcome::kNotSwapped;
  }
  ++stats_.ops_completed;
  Trace("complete " + op.Describe());
  if (it->second.client > 0) {
    Client& c = clients_[it->second.client - 1];
    c.op.reset();
    c.idle_until = now_ + (*rng_)() % 3;
  } else {
    final_completed_ = true;
  }
  in_flight_.erase(it);
}

}  // namespace raftlog::sim
