// SafetyChecker implementation. Logs are read only through the virtual
// raft::LogStorage interface. Cost: RecordCommitted is incremental per node;
// CheckLogMatching is O(nodes^2 * log length) and meant for every few steps.
#include "tests/sim/invariants.h"

#include <algorithm>

namespace raftlog::sim {
namespace {

std::string N(uint64_t v) { return std::to_string(v); }

std::string Short(std::string_view data) {
  std::string s;
  for (char c : data.substr(0, 40)) s.push_back(c == '\x1f' ? '|' : c);
  return s;
}

}  // namespace

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

absl::Status SafetyChecker::ObserveLeader(uint64_t node, uint64_t term) {
  auto [it, inserted] = leader_of_term_.emplace(term, node);
  if (!inserted && it->second != node) {
    return absl::InternalError("ElectionSafety: nodes " + N(it->second) + " and " + N(node) +
                               " were both leader in term " + N(term));
  }
  return absl::OkStatus();
}

absl::Status SafetyChecker::ObserveCommit(uint64_t node, uint64_t commit) {
  uint64_t& prev = commit_[node];
  if (commit < prev) {
    return absl::InternalError("MonotonicCommit: node " + N(node) + " commit index went from " +
                               N(prev) + " down to " + N(commit));
  }
  prev = commit;
  return absl::OkStatus();
}

void SafetyChecker::OnCrash(uint64_t node, uint64_t persisted_commit) {
  commit_[node] = persisted_commit;
}

absl::Status SafetyChecker::CheckOrRecord(uint64_t node, uint64_t term, const raft::Entry& e,
                                          const char* what) {
  const uint64_t index = e.index.value();
  auto [it, inserted] =
      committed_.emplace(index, Committed{e.term.value(), e.type, e.data, node, term});
  if (inserted) return absl::OkStatus();
  Committed& c = it->second;
  c.commit_term = std::min(c.commit_term, term);
  if (c.term != e.term.value() || c.type != e.type || c.data != e.data) {
    return absl::InternalError(std::string(what) + ": node " + N(node) + " has entry " + N(index) +
                               " as (term " + N(e.term.value()) + ", \"" + Short(e.data) +
                               "\") but node " + N(c.recorded_by) + " committed (term " +
                               N(c.term) + ", \"" + Short(c.data) + "\") there");
  }
  return absl::OkStatus();
}

absl::Status SafetyChecker::RecordCommitted(uint64_t node, uint64_t term,
                                            const raft::LogStorage& log, uint64_t commit) {
  const uint64_t last = log.LastIndex().value();
  if (commit > last) {
    return absl::InternalError("AppliedWithinDurable: node " + N(node) + " has commit index " +
                               N(commit) + " beyond its durable last index " + N(last));
  }
  uint64_t& done = recorded_commit_[node];
  const uint64_t lo = std::max(done + 1, log.FirstIndex().value());
  if (lo <= commit) {
    absl::StatusOr<std::vector<raft::Entry>> ents =
        log.Entries(raft::LogIndex(lo), raft::LogIndex(commit + 1), UINT64_MAX);
    if (!ents.ok()) {
      return absl::InternalError("CommittedNeverLost: node " + N(node) +
                                 " cannot read its committed entries [" + N(lo) + ", " + N(commit) +
                                 "]: " + std::string(ents.status().message()));
    }
    for (const raft::Entry& e : *ents) {
      absl::Status s = CheckOrRecord(node, term, e, "CommittedNeverLost");
      if (!s.ok()) return s;
    }
  }
  done = std::max(done, commit);
  return absl::OkStatus();
}

absl::Status SafetyChecker::OnRestore(uint64_t node, uint64_t index, uint64_t term,
                                      uint64_t state_hash) {
  applied_[node] = index;
  if (index == 0) return absl::OkStatus();
  auto it = committed_.find(index);
  if (it != committed_.end() && it->second.term != term) {
    return absl::InternalError("StateMachineSafety: node " + N(node) + " restored a snapshot at " +
                               N(index) + " with term " + N(term) + " but term " +
                               N(it->second.term) + " was committed there");
  }
  auto [h, inserted] = state_hash_.emplace(index, state_hash);
  if (!inserted && h->second != state_hash) {
    return absl::InternalError("StateMachineSafety: node " + N(node) + " restored a snapshot at " +
                               N(index) + " whose state differs from what others applied there");
  }
  return absl::OkStatus();
}

absl::Status SafetyChecker::OnApply(uint64_t node, uint64_t term, const raft::Entry& e,
                                    uint64_t durable_last, uint64_t state_hash) {
  const uint64_t index = e.index.value();
  uint64_t& applied = applied_[node];
  if (index != applied + 1) {
    return absl::InternalError("StateMachineSafety: node " + N(node) + " applied entry " +
                               N(index) + " right after " + N(applied));
  }
  if (index > durable_last) {
    return absl::InternalError("AppliedWithinDurable: node " + N(node) + " applied entry " +
                               N(index) + " but has only " + N(durable_last) + " durably");
  }
  absl::Status s = CheckOrRecord(node, term, e, "StateMachineSafety");
  if (!s.ok()) return s;
  applied = index;
  auto [h, inserted] = state_hash_.emplace(index, state_hash);
  if (!inserted && h->second != state_hash) {
    return absl::InternalError("StateMachineSafety: node " + N(node) +
                               " reached a different state "
                               "after applying entry " +
                               N(index) + " than other nodes did");
  }
  return absl::OkStatus();
}

absl::Status SafetyChecker::CheckLeaderCompleteness(uint64_t node, uint64_t term,
                                                    const raft::LogStorage& log,
                                                    uint64_t last_index) const {
  const uint64_t first = log.FirstIndex().value();
  const uint64_t durable_last = log.LastIndex().value();
  // Highest index committed before `term`, scanning down from the top (the
  // entries committed in `term` itself are few).
  for (auto it = committed_.rbegin(); it != committed_.rend(); ++it) {
    if (it->second.commit_term >= term) continue;
    if (it->first > last_index) {
      return absl::InternalError("LeaderCompleteness: leader " + N(node) + " of term " + N(term) +
                                 " has last index " + N(last_index) + " but entry " + N(it->first) +
                                 " was committed in term " + N(it->second.commit_term) +
                                 " or before");
    }
    break;
  }
  for (auto it = committed_.lower_bound(first); it != committed_.end() && it->first <= durable_last;
       ++it) {
    if (it->second.commit_term >= term) continue;
    absl::StatusOr<raft::Term> t = log.TermAt(raft::LogIndex(it->first));
    if (!t.ok() || t->value() != it->second.term) {
      return absl::InternalError("LeaderCompleteness: leader " + N(node) + " of term " + N(term) +
                                 " has at index " + N(it->first) + " term " +
                                 (t.ok() ? N(t->value()) : "<none>") + " but term " +
                                 N(it->second.term) + " was committed there in term " +
                                 N(it->second.commit_term) + " or before");
    }
  }
  return absl::OkStatus();
}

absl::Status SafetyChecker::CheckLogMatching(
    const std::vector<std::pair<uint64_t, const raft::LogStorage*>>& logs) const {
  for (size_t a = 0; a < logs.size(); ++a) {
    for (size_t b = a + 1; b < logs.size(); ++b) {
      const raft::LogStorage& la = *logs[a].second;
      const raft::LogStorage& lb = *logs[b].second;
      const uint64_t lo = std::max(la.FirstIndex().value(), lb.FirstIndex().value());
      const uint64_t hi = std::min(la.LastIndex().value(), lb.LastIndex().value());
      if (lo > hi) continue;
      absl::StatusOr<std::vector<raft::Entry>> ea =
          la.Entries(raft::LogIndex(lo), raft::LogIndex(hi + 1), UINT64_MAX);
      absl::StatusOr<std::vector<raft::Entry>> eb =
          lb.Entries(raft::LogIndex(lo), raft::LogIndex(hi + 1), UINT64_MAX);
      if (!ea.ok() || !eb.ok() || ea->size() != eb->size()) {
        return absl::InternalError("LogMatching: cannot read logs of nodes " + N(logs[a].first) +
                                   " and " + N(logs[b].first));
      }
      // Highest index where the terms agree; everything up to it must match.
      size_t k = ea->size();
      while (k > 0 && (*ea)[k - 1].term != (*eb)[k - 1].term) --k;
      for (size_t i = 0; i < k; ++i) {
        if (!((*ea)[i] == (*eb)[i])) {
          return absl::InternalError(
              "LogMatching: nodes " + N(logs[a].first) + " and " + N(logs[b].first) +
              " agree on the term of entry " + N((*ea)[k - 1].index.value()) +
              " but differ at entry " + N((*ea)[i].index.value()) + ": (term " +
              N((*ea)[i].term.value()) + ", \"" + Short((*ea)[i].data) + "\") vs (term " +
              N((*eb)[i].term.value()) + ", \"" + Short((*eb)[i].data) + "\")");
        }
      }
    }
  }
  return absl::OkStatus();
}

uint64_t SafetyChecker::applied(uint64_t node) const {
  auto it = applied_.find(node);
  return it == applied_.end() ? 0 : it->second;
}

}  // namespace raftlog::sim
