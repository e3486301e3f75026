// LocalCluster: Nodes in one process whose messages go through a router that
// can cut links and drop stopped nodes (test utility of the broker tests).
// Each node keeps its data directory across Kill/Start, so a restart
// recovers from disk. Tweak() adjusts the options of nodes started later
// (e.g. to host a metadata group).
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "broker/broker_test_util.h"
#include "broker/node.h"
#include "gtest/gtest.h"

namespace raftlog::broker::testing {

using namespace std::chrono_literals;

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class LocalCluster {
 public:
  explicit LocalCluster(int n, SyncMode mode = SyncMode::kJournal) : mode_(mode) {
    for (int i = 1; i <= n; ++i) dirs_[i] = std::make_unique<TempDir>();
  }
  ~LocalCluster() {
    for (auto& [id, d] : dirs_) Kill(id);
  }

  void Start(uint64_t id) {
    NodeOptions o;
    o.id = raft::NodeId(id);
    o.data_dir = dirs_.at(id)->path();
    o.tick_ms = 10;
    o.election_ticks = 10;
    o.heartbeat_ticks = 2;
    o.sync_threads = 4;
    o.sync_mode = mode_;
    if (tweak_) tweak_(o);
    o.send = [this, id](raft::NodeId to, std::vector<GroupMessage> msgs) {
      Route(raft::NodeId(id), to, std::move(msgs));
    };
    auto node = std::make_shared<Node>(std::move(o));
    absl::Status started = node->Start();
    ASSERT_TRUE(started.ok()) << started;
    std::lock_guard<std::mutex> l(mu_);
    nodes_[id] = std::move(node);
  }

  // Crash-like stop: no leadership hand-off, files stay as they are.
  void Kill(uint64_t id) {
    std::shared_ptr<Node> n;
    {
      std::lock_guard<std::mutex> l(mu_);
      n = std::move(nodes_[id]);
      nodes_.erase(id);
    }
    if (n) n->Stop();
  }

  std::shared_ptr<Node> node(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : it->second;
  }

  void Cut(uint64_t a, uint64_t b) {
    std::lock_guard<std::mutex> l(mu_);
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void HealAll() {
    std::lock_guard<std::mutex> l(mu_);
    cut_.clear();
  }

  void EnsureGroupEverywhere(GroupId g, std::vector<uint64_t> voters = {1, 2, 3}) {
    std::vector<raft::NodeId> v;
    for (uint64_t id : voters) v.push_back(raft::NodeId(id));
    for (uint64_t id : voters) {
      auto n = node(id);
      if (!n) continue;
      auto r = n->EnsureGroup(g, v);
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  // The node id every running replica agrees leads `g`, or 0.
  uint64_t AgreedLeader(GroupId g) {
    uint64_t leader = 0;
    int running = 0;
    for (auto& [id, d] : dirs_) {
      auto n = node(id);
      if (!n) continue;
      ++running;
      auto grp = n->FindGroup(g);
      if (!grp) return 0;
      const uint64_t l = grp->leader().value();
      if (l == 0 || (leader != 0 && l != leader)) return 0;
      leader = l;
    }
    auto ln = leader ? node(leader) : nullptr;
    if (!ln || !ln->FindGroup(g)->is_leader()) return 0;
    return running > 0 ? leader : 0;
  }

  uint64_t WaitForLeader(GroupId g) {
    uint64_t leader = 0;
    EXPECT_TRUE(WaitFor([&] { return (leader = AgreedLeader(g)) != 0; })) << "group " << g;
    return leader;
  }

  absl::StatusOr<ProposeResult> Propose(uint64_t on, GroupId g, std::vector<std::string> entries) {
    auto p = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
    auto f = p->get_future();
    node(on)->Propose(g, std::move(entries),
                      [p](absl::StatusOr<ProposeResult> r) { p->set_value(std::move(r)); });
    if (f.wait_for(10s) != std::future_status::ready) {
      return absl::DeadlineExceededError("no answer in 10 s");
    }
    return f.get();
  }

  // Committed bytes of `g` on node `id`, from offset 0.
  std::string Committed(uint64_t id, GroupId g) {
    auto grp = node(id)->FindGroup(g);
    storage::ReadOptions o;
    o.max_bytes = 64 << 20;
    o.max_offset = storage::Offset(grp->high_watermark());
    auto r = grp->partition_log()->Read(grp->partition_log()->log_start_offset(), o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::string(r->batches.begin(), r->batches.end()) : "";
  }

  const std::string& dir(uint64_t id) { return dirs_.at(id)->path(); }
  // Applied to the options of every node started from now on.
  void Tweak(std::function<void(NodeOptions&)> f) { tweak_ = std::move(f); }
  // Messages node `from` has sent so far (delivered or not) of `type`,
  // with entries or without.
  uint64_t Routed(uint64_t from, raft::MessageType type, bool with_entries) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = routed_.find({from, static_cast<int>(type), with_entries});
    return it == routed_.end() ? 0 : it->second;
  }

 private:
  void Route(raft::NodeId from, raft::NodeId to, std::vector<GroupMessage> msgs) {
    std::lock_guard<std::mutex> l(mu_);
    for (const GroupMessage& m : msgs) {
      ++routed_[{from.value(), static_cast<int>(m.message.type), !m.message.entries.empty()}];
    }
    if (cut_.count({from.value(), to.value()})) return;
    auto it = nodes_.find(to.value());
    if (it == nodes_.end() || !it->second) return;
    it->second->Deliver(from, std::move(msgs));
  }

  const SyncMode mode_;
  std::function<void(NodeOptions&)> tweak_;
  std::map<uint64_t, std::unique_ptr<TempDir>> dirs_;
  std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<Node>> nodes_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::map<std::tuple<uint64_t, int, bool>, uint64_t> routed_;
};

}  // namespace raftlog::broker::testing
