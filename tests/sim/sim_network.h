// Simulated network for the deterministic Raft simulator.
//
// Messages are delivered after a random delay (so they reorder), may be lost
// or duplicated, and only cross links that are up both when sent and when
// delivered. Links are directed; partitions of any shape are sets of cut
// links. Everything is driven by the caller's seeded RNG and logical clock.
//
// Invariants:
//  - Delivery order is a pure function of (seed, calls made): messages are
//    ordered by (deliver_at, send sequence number); no pointer or hash order.
//  - A message is never delivered before the step it was sent in plus one.
//  - A message over a cut link (at send or at delivery) is dropped, never
//    queued for later: a partition loses messages, like TCP resets.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace raftlog::sim {

struct NetworkFaults {
  // Probabilities in parts per million, per message.
  uint32_t drop_ppm = 0;
  uint32_t duplicate_ppm = 0;
  // Delivery delay in simulator steps, uniform in [min_delay, max_delay].
  uint32_t min_delay = 1;
  uint32_t max_delay = 1;
};

template <typename Msg>
class SimNetwork {
 public:
  struct Delivery {
    uint64_t from = 0;
    uint64_t to = 0;
    Msg msg;
  };

  explicit SimNetwork(std::mt19937_64* rng) : rng_(rng) {}

  void set_faults(const NetworkFaults& f) { faults_ = f; }
  const NetworkFaults& faults() const { return faults_; }

  // --- Connectivity -------------------------------------------------------
  bool Connected(uint64_t from, uint64_t to) const {
    return from == to || cut_.count({from, to}) == 0;
  }
  void Cut(uint64_t from, uint64_t to) {
    if (from != to) cut_.insert({from, to});
  }
  void CutBoth(uint64_t a, uint64_t b) {
    Cut(a, b);
    Cut(b, a);
  }
  void Heal() { cut_.clear(); }
  // Cuts every link between different groups (in both directions). Nodes in
  // no group are cut from everyone.
  void Partition(const std::vector<std::vector<uint64_t>>& groups,
                 const std::vector<uint64_t>& all_nodes) {
    cut_.clear();
    std::map<uint64_t, int> group_of;
    for (size_t g = 0; g < groups.size(); ++g) {
      for (uint64_t n : groups[g]) group_of[n] = static_cast<int>(g);
    }
    for (uint64_t a : all_nodes) {
      for (uint64_t b : all_nodes) {
        if (a == b) continue;
        auto ga = group_of.find(a);
        auto gb = group_of.find(b);
        if (ga == group_of.end() || gb == group_of.end() || ga->second != gb->second) Cut(a, b);
      }
    }
  }
  // Cuts `node` off from everyone.
  void Isolate(uint64_t node, const std::vector<uint64_t>& all_nodes) {
    for (uint64_t other : all_nodes) CutBoth(node, other);
  }
  // Non-transitive connectivity: `bridge` talks to everyone, but `left` and
  // `right` cannot talk to each other.
  void Bridge(const std::vector<uint64_t>& left, const std::vector<uint64_t>& right) {
    cut_.clear();
    for (uint64_t a : left) {
      for (uint64_t b : right) CutBoth(a, b);
    }
  }
  size_t cut_links() const { return cut_.size(); }
  std::string DescribeCuts() const {
    std::string s;
    for (const auto& [a, b] : cut_) {
      s += (s.empty() ? "" : " ") + std::to_string(a) + "-/->" + std::to_string(b);
    }
    return s.empty() ? "fully connected" : s;
  }

  // --- Traffic ------------------------------------------------------------
  void Send(uint64_t from, uint64_t to, Msg msg, uint64_t now) {
    ++sent_;
    if (!Connected(from, to) || Chance(faults_.drop_ppm)) {
      ++dropped_;
      return;
    }
    if (Chance(faults_.duplicate_ppm)) {
      ++duplicated_;
      Enqueue(from, to, msg, now);
    }
    Enqueue(from, to, std::move(msg), now);
  }

  // Removes and returns every message due at or before `now`, in delivery
  // order. Messages over links cut since they were sent are dropped.
  std::vector<Delivery> TakeDue(uint64_t now) {
    std::vector<Delivery> out;
    auto it = queue_.begin();
    while (it != queue_.end() && it->first.first <= now) {
      Delivery& d = it->second;
      if (Connected(d.from, d.to)) {
        out.push_back(std::move(d));
      } else {
        ++dropped_;
      }
      it = queue_.erase(it);
    }
    return out;
  }

  // Drops everything queued to or from `node` (it crashed: its sockets died).
  void DropNode(uint64_t node) {
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->second.from == node || it->second.to == node) {
        ++dropped_;
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }

  size_t in_flight() const { return queue_.size(); }
  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t duplicated() const { return duplicated_; }

 private:
  bool Chance(uint32_t ppm) { return ppm > 0 && ((*rng_)() % 1'000'000) < ppm; }

  void Enqueue(uint64_t from, uint64_t to, Msg msg, uint64_t now) {
    const uint32_t span = faults_.max_delay - faults_.min_delay + 1;
    const uint64_t delay = faults_.min_delay + ((*rng_)() % span);
    queue_.emplace(std::make_pair(now + std::max<uint64_t>(1, delay), next_seq_++),
                   Delivery{from, to, std::move(msg)});
  }

  std::mt19937_64* rng_;
  NetworkFaults faults_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  // (deliver_at, send sequence) -> message.
  std::map<std::pair<uint64_t, uint64_t>, Delivery> queue_;
  uint64_t next_seq_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
  uint64_t duplicated_ = 0;
};

}  // namespace raftlog::sim
