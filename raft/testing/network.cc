// In-process network test harness, see network.h.
#include "raft/testing/network.h"

#include <stdexcept>

namespace raftlog::raft::testing {

Config TestConfig(NodeId id) {
  Config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.pre_vote = true;
  c.check_quorum = true;
  c.seed = 42;
  return c;
}

ConfState Voters(std::vector<uint64_t> ids, std::vector<uint64_t> learners) {
  ConfState cs;
  for (uint64_t i : ids) cs.voters.push_back(NodeId(i));
  for (uint64_t i : learners) cs.learners.push_back(NodeId(i));
  return cs;
}

Network::Network(int n, Tweak tweak) {
  std::vector<uint64_t> ids;
  for (int i = 1; i <= n; ++i) ids.push_back(i);
  ConfState cs = Voters(ids);
  for (NodeId id : cs.voters) AddNode(id, cs, tweak);
}

Network::Network(const ConfState& cs, Tweak tweak) {
  for (NodeId id : cs.voters) AddNode(id, cs, tweak);
  for (NodeId id : cs.learners) AddNode(id, cs, tweak);
}

void Network::AddNode(NodeId id, const ConfState& cs, Tweak tweak) {
  auto p = std::make_unique<TestNode>();
  p->config = TestConfig(id);
  if (tweak) tweak(p->config);
  p->storage = std::make_unique<MemoryStorage>();
  p->storage->SetConfState(cs);
  auto n = RawNode::Create(p->config, p->storage.get());
  if (!n.ok()) throw std::runtime_error(std::string(n.status().message()));
  p->node = std::move(*n);
  peers_[id] = std::move(p);
}

std::vector<NodeId> Network::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, p] : peers_) out.push_back(id);
  return out;
}

bool Network::ProcessReady(NodeId id) {
  TestNode& p = *peers_.at(id);
  if (!p.node->HasReady()) return false;
  Ready rd = p.node->GetReady();
  // 1. Messages that may leave before persistence.
  for (Message& m : rd.messages) queue_.push_back(m);
  // 2. Persist.
  if (rd.snapshot) {
    if (!p.storage->ApplySnapshot(*rd.snapshot).ok()) throw std::runtime_error("snapshot");
  }
  if (!p.storage->Append(rd.entries).ok()) throw std::runtime_error("append");
  if (rd.hard_state) p.storage->SetHardState(*rd.hard_state);
  // 3. Messages that wait for persistence.
  for (Message& m : rd.messages_after_persist) queue_.push_back(m);
  // 4. Apply.
  if (rd.snapshot) {
    p.installed_snapshots.push_back(*rd.snapshot);
    p.applied_index = rd.snapshot->metadata.index;
  }
  for (const Entry& e : rd.committed_entries) {
    p.applied.push_back(e);
    p.applied_index = e.index;
  }
  for (const ReadState& r : rd.read_states) p.read_states.push_back(r);
  // 5. Advance.
  p.node->Advance(rd);
  return true;
}

bool Network::Dropped(const Message& m) const {
  if (cut_.contains({m.from, m.to})) return true;
  if (filter_ && filter_(m)) return true;
  return !peers_.contains(m.to);
}

void Network::Deliver(const Message& m) {
  if (Dropped(m)) return;
  delivered_.push_back(m);
  (void)peers_.at(m.to)->node->Step(m);
}

void Network::Stabilize(int max_steps) {
  for (int step = 0; step < max_steps; ++step) {
    bool moved = false;
    for (auto& [id, p] : peers_) moved |= ProcessReady(id);
    if (!queue_.empty()) {
      moved = true;
      std::deque<Message> batch = std::exchange(queue_, {});
      for (const Message& m : batch) Deliver(m);
    }
    if (!moved) return;
  }
  throw std::runtime_error("network did not stabilize");
}

void Network::Tick(uint64_t id, int n) {
  for (int i = 0; i < n; ++i) node(id).Tick();
}

void Network::TickAll(int n) {
  for (int i = 0; i < n; ++i) {
    for (auto& [id, p] : peers_) p->node->Tick();
    Stabilize();
  }
}

bool Network::Elect(uint64_t id) {
  (void)node(id).Campaign();
  Stabilize();
  return node(id).role() == Role::kLeader;
}

NodeId Network::Leader() const {
  NodeId best = kNoNode;
  Term best_term;
  for (const auto& [id, p] : peers_) {
    if (p->node->role() == Role::kLeader && (best == kNoNode || p->node->term() > best_term)) {
      best = id;
      best_term = p->node->term();
    }
  }
  return best;
}

void Network::Isolate(uint64_t id) {
  for (const auto& [other, p] : peers_) {
    if (other == NodeId(id)) continue;
    cut_.insert({NodeId(id), other});
    cut_.insert({other, NodeId(id)});
  }
}

void Network::Cut(uint64_t a, uint64_t b) {
  cut_.insert({NodeId(a), NodeId(b)});
  cut_.insert({NodeId(b), NodeId(a)});
}

void Network::Heal() {
  cut_.clear();
  filter_ = nullptr;
}

void Network::Restart(uint64_t id) {
  TestNode& p = peer(id);
  Config c = p.config;
  c.applied = p.applied_index;
  auto n = RawNode::Create(c, p.storage.get());
  if (!n.ok()) throw std::runtime_error(std::string(n.status().message()));
  p.node = std::move(*n);
}

}  // namespace raftlog::raft::testing
