// Test harness: a few RawNodes over MemoryStorage exchanging messages
// synchronously through an in-process queue (like etcd's `network` in
// raft_test.go). Each node's Ready is handled exactly as the contract in
// raw_node.h says. Filters drop messages to model partitions. For unit
// tests only; the randomized simulator lives in tests/sim/.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "raft/config.h"
#include "raft/log_storage.h"
#include "raft/raw_node.h"
#include "raft/types.h"

namespace raftlog::raft::testing {

struct TestNode {
  Config config;
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> node;
  std::vector<Entry> applied;  // Every committed entry handed to the app.
  LogIndex applied_index;
  std::vector<ReadState> read_states;
  std::vector<Snapshot> installed_snapshots;
};

// A config used by the tests: election 10 ticks, heartbeat 1, pre-vote and
// check-quorum on, seed derived from the id.
Config TestConfig(NodeId id);
ConfState Voters(std::vector<uint64_t> ids, std::vector<uint64_t> learners = {});

class Network {
 public:
  using Tweak = std::function<void(Config&)>;
  // Nodes 1..n, all voters.
  explicit Network(int n, Tweak tweak = nullptr);
  // Nodes for every voter and learner in cs.
  explicit Network(const ConfState& cs, Tweak tweak = nullptr);

  // Adds a node with an empty log and the given initial membership (a node
  // joining an existing group starts with the group's current membership,
  // see MemoryStorage::SetConfState).
  void AddNode(NodeId id, const ConfState& cs, Tweak tweak = nullptr);
  TestNode& peer(uint64_t id) { return *peers_.at(NodeId(id)); }
  RawNode& node(uint64_t id) { return *peer(id).node; }
  MemoryStorage& storage(uint64_t id) { return *peer(id).storage; }
  std::vector<NodeId> ids() const;

  // Handles one Ready of `id` if it has one. Returns whether it did.
  bool ProcessReady(NodeId id);
  // Delivers queued messages and handles Readys until nothing moves.
  void Stabilize(int max_steps = 100000);
  void Tick(uint64_t id, int n = 1);
  void TickAll(int n = 1);
  // Campaign + stabilize; true if `id` ended up leader.
  bool Elect(uint64_t id);
  // The node that is leader in the highest term, or kNoNode.
  NodeId Leader() const;

  // Partitions: a dropped link loses messages in both directions.
  void Isolate(uint64_t id);
  void Cut(uint64_t a, uint64_t b);
  void Heal();
  // Extra filter: return true to drop.
  void SetFilter(std::function<bool(const Message&)> f) { filter_ = std::move(f); }

  // Crash and restart: unpersisted state is lost (there is none between
  // Readys here), the node is recreated from its storage.
  void Restart(uint64_t id);

  std::deque<Message>& queue() { return queue_; }
  // Every message delivered so far.
  const std::vector<Message>& delivered() const { return delivered_; }
  void Deliver(const Message& m);

 private:
  bool Dropped(const Message& m) const;

  std::map<NodeId, std::unique_ptr<TestNode>> peers_;
  std::deque<Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::function<bool(const Message&)> filter_;
  std::vector<Message> delivered_;
};

}  // namespace raftlog::raft::testing
