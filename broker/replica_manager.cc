// ReplicaManager: local replicas, preferred leaders and metadata log size
// follow the applied metadata.
#include "broker/replica_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "glog/logging.h"

namespace raftlog::broker {

using Clock = std::chrono::steady_clock;

ReplicaManager::ReplicaManager(Node* node, MetadataStateMachine* state,
                               ReplicaManagerOptions options)
    : node_(node), state_(state), options_(options) {}

ReplicaManager::~ReplicaManager() { Stop(); }

void ReplicaManager::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Loop(); });
}

void ReplicaManager::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReplicaManager::Notify() {
  {
    std::lock_guard<std::mutex> l(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

void ReplicaManager::Loop() {
  Clock::time_point next_balance = Clock::now() + options_.leader_balance_interval;
  while (true) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, options_.resync_interval, [&] { return stop_ || notified_; });
      if (stop_) return;
      notified_ = false;
    }
    const Clock::time_point now = Clock::now();
    const bool balance = options_.leader_balance_interval.count() > 0 && now >= next_balance;
    if (balance) next_balance = now + options_.leader_balance_interval;
    ReconcileReport report = RunOnce(balance);
    if (!report.status.ok()) {
      LOG_EVERY_N(WARNING, 20) << "replica manager: " << report.status << " (retrying)";
    }
    // Coalesce bursts of applies into one pass.
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, options_.min_pass_interval, [&] { return stop_; });
    if (stop_) return;
  }
}

absl::StatusOr<std::map<GroupId, std::vector<raft::NodeId>>> ReplicaManager::Desired(
    uint64_t& next_group_id, std::map<GroupId, raft::NodeId>& preferred) const {
  // Counters first: see "SAFETY OF REMOVAL".
  absl::StatusOr<mdpb::Counters> counters = state_->GetCounters();
  if (!counters.ok()) return counters.status();
  next_group_id = counters->next_partition_group_id();
  absl::StatusOr<std::vector<mdpb::Topic>> topics = state_->ListTopics();
  if (!topics.ok()) return topics.status();
  const uint64_t self = node_->id().value();
  std::map<GroupId, std::vector<raft::NodeId>> desired;
  for (const mdpb::Topic& t : *topics) {
    for (const mdpb::Partition& p : t.partitions()) {
      if (std::find(p.replicas().begin(), p.replicas().end(), self) == p.replicas().end()) {
        continue;
      }
      std::vector<raft::NodeId>& voters = desired[p.group_id()];
      for (uint64_t r : p.replicas()) voters.push_back(raft::NodeId(r));
      if (!p.replicas().empty() && p.replicas(0) != self) {
        preferred[p.group_id()] = raft::NodeId(p.replicas(0));
      }
    }
  }
  return desired;
}

ReconcileReport ReplicaManager::RunOnce(bool balance_leaders) {
  ReconcileReport report;
  const auto note = [&report](absl::Status s) {
    if (report.status.ok() && !s.ok()) report.status = std::move(s);
  };
  raft::LogIndex metadata_applied_before;
  if (node_->recovering()) {
    absl::StatusOr<std::vector<GroupStatusInfo>> st = node_->Status({kMetadataGroup});
    if (st.ok() && !st->empty()) metadata_applied_before = (*st)[0].raft.applied;
  }
  uint64_t next_group_id = 0;
  std::map<GroupId, raft::NodeId> preferred;
  absl::StatusOr<std::map<GroupId, std::vector<raft::NodeId>>> desired =
      Desired(next_group_id, preferred);
  if (!desired.ok()) {
    report.status = desired.status();
    return report;
  }
  const std::vector<GroupId> hosted = node_->GroupIds();
  for (const auto& [group, voters] : *desired) {
    if (std::binary_search(hosted.begin(), hosted.end(), group)) continue;
    absl::StatusOr<bool> created = node_->EnsureGroup(group, voters);
    if (!created.ok()) {
      note(absl::Status(created.status().code(), absl::StrFormat("creating group %d: %s", group,
                                                                 created.status().message())));
      continue;
    }
    if (*created) {
      LOG(INFO) << "replica manager: created the replica of partition group " << group;
      report.created.push_back(group);
    }
  }
  for (GroupId group : hosted) {
    if (group == kMetadataGroup || desired->count(group) || group >= next_group_id) continue;
    if (absl::Status s = node_->RemoveGroup(group); !s.ok() && !absl::IsNotFound(s)) {
      note(absl::Status(s.code(), absl::StrFormat("removing group %d: %s", group, s.message())));
      continue;
    }
    LOG(INFO) << "replica manager: removed partition group " << group
              << " (its topic or partition is gone) and deleted its data";
    report.removed.push_back(group);
  }
  if (balance_leaders) BalanceLeaders(preferred, report);
  MaybeCompactMetadata(report);
  node_->FinishGroupRecoveries();
  if (node_->recovering()) MaybeEndRecovery(metadata_applied_before, report);
  return report;
}

void ReplicaManager::MaybeEndRecovery(raft::LogIndex applied_before, ReconcileReport& report) {
  absl::StatusOr<std::vector<GroupStatusInfo>> all = node_->Status({});
  if (!all.ok()) return;
  const GroupStatusInfo* metadata = nullptr;
  for (const GroupStatusInfo& g : *all) {
    if (g.group == kMetadataGroup) metadata = &g;
  }
  if (metadata == nullptr || metadata->raft.recovering) return;
  if (!metadata_recovered_at_) {
    // Every partition assigned here before the disk was lost is in the
    // metadata up to this index; the next pass reconciles at least that far.
    metadata_recovered_at_ = metadata->raft.commit;
    return;
  }
  if (applied_before < *metadata_recovered_at_) return;
  for (const GroupStatusInfo& g : *all) {
    if (g.raft.recovering) return;
  }
  if (options_.on_recovered && !options_.on_recovered()) return;
  node_->EndRecovery();
  report.recovery_ended = true;
  LOG(INFO) << "replica manager: amnesia recovery ended: every group hosted here has caught up "
               "and votes again";
}

void ReplicaManager::BalanceLeaders(const std::map<GroupId, raft::NodeId>& preferred,
                                    ReconcileReport& report) {
  std::vector<GroupId> led;
  for (const auto& [group, to] : preferred) {
    std::shared_ptr<RaftGroup> g = node_->FindGroup(group);
    if (g != nullptr && g->is_leader()) led.push_back(group);
  }
  if (led.empty()) return;
  absl::StatusOr<std::vector<mdpb::Broker>> brokers = state_->ListBrokers();
  if (!brokers.ok()) {
    if (report.status.ok()) report.status = brokers.status();
    return;
  }
  std::map<uint64_t, bool> fenced;
  for (const mdpb::Broker& b : *brokers) fenced[b.node_id()] = b.fenced();
  absl::StatusOr<std::vector<GroupStatusInfo>> statuses = node_->Status(led);
  if (!statuses.ok()) {
    if (report.status.ok()) report.status = statuses.status();
    return;
  }
  for (const GroupStatusInfo& st : *statuses) {
    if (st.raft.role != raft::Role::kLeader) continue;
    const raft::NodeId to = preferred.at(st.group);
    auto f = fenced.find(to.value());
    if (f == fenced.end() || f->second) continue;  // unregistered or fenced
    const auto follower = std::find_if(st.followers.begin(), st.followers.end(),
                                       [&](const FollowerStatus& fs) { return fs.node == to; });
    if (follower == st.followers.end() || follower->lag != 0 || !follower->progress.recent_active) {
      continue;  // not caught up: moving leadership now would stall writes
    }
    if (absl::Status s = node_->TransferLeader(st.group, to); !s.ok()) {
      VLOG(1) << "replica manager: transfer of group " << st.group << " to " << to << ": " << s;
      continue;
    }
    LOG(INFO) << "replica manager: handing leadership of group " << st.group
              << " to its preferred leader " << to;
    report.transferred.push_back(st.group);
  }
}

void ReplicaManager::MaybeCompactMetadata(ReconcileReport& report) {
  std::shared_ptr<RaftGroup> g = node_->FindGroup(kMetadataGroup);
  if (g == nullptr || options_.metadata_compact_entries == 0) return;
  absl::StatusOr<std::vector<GroupStatusInfo>> st = node_->Status({kMetadataGroup});
  if (!st.ok() || st->empty()) return;
  const GroupStatusInfo& info = (*st)[0];
  if (info.raft.applied.value() < info.first_index.value() + options_.metadata_compact_entries) {
    return;
  }
  absl::StatusOr<raft::LogIndex> first = node_->CompactLog(kMetadataGroup, raft::LogIndex(0));
  if (!first.ok()) {
    if (report.status.ok()) report.status = first.status();
    return;
  }
  VLOG(1) << "replica manager: metadata log compacted; it now starts at " << *first;
}

}  // namespace raftlog::broker
