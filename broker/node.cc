// Node: the loop, rounds and group management of the multi-Raft host.
#include "broker/node.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <future>
#include <limits>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"
#include "broker/node_journal.h"
#include "glog/logging.h"

namespace raftlog::broker {
namespace {

using Clock = std::chrono::steady_clock;

// Whether entries (from, to] of `storage` hold a membership change.
bool HasConfChangeIn(const GroupStorage& storage, raft::LogIndex from, raft::LogIndex to) {
  if (from >= to) return false;
  absl::StatusOr<std::vector<raft::Entry>> ents =
      storage.Entries(from + 1, to + 1, std::numeric_limits<uint64_t>::max());
  if (!ents.ok()) return true;  // be conservative
  return std::any_of(ents->begin(), ents->end(),
                     [](const raft::Entry& e) { return e.type == raft::EntryType::kConfChange; });
}

}  // namespace

Node::Node(NodeOptions options)
    : options_(std::move(options)), sync_pool_(std::max(1, options_.sync_threads)) {
  seed_ = std::random_device{}() ^ (options_.id.value() << 32);
}

Node::~Node() {
  Stop();
  if (data_dir_fd_ >= 0) ::close(data_dir_fd_);
}

std::string Node::GroupDir(GroupId group) const {
  return absl::StrFormat("%s/groups/%020d", options_.data_dir, group);
}

std::string Node::RecoveryMarkerPath(GroupId group) const {
  return GroupDir(group) + ".recovering";
}

// PITFALLS #15: a partition replica whose files are damaged (a corrupt
// segment, a tail cut below what it acknowledged, a journal that no longer
// fits its log) must neither serve nor vote with what is left, nor delete
// the evidence. Its directory is set aside and the group is recreated empty
// when the metadata (ReplicaManager) or an operator asks for it again; a
// marker file makes that new replica start in amnesia recovery, so it
// votes only once it has caught up from its peers.
absl::Status Node::QuarantineGroup(GroupId group, const absl::Status& why) {
  const std::string dir = GroupDir(group);
  const std::string aside = absl::StrFormat("%s.damaged-%d", dir,
                                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  LOG(ERROR) << "group " << group << ": its data here is damaged (" << why.message()
             << "); set aside as " << aside
             << "; the replica is rebuilt from its peers and takes no part in elections until "
                "it has caught up";
  std::error_code ec;
  std::filesystem::rename(dir, aside, ec);
  if (ec) {
    return absl::InternalError(absl::StrFormat("setting damaged %s aside: %s (first: %s)", dir,
                                               ec.message(), why.message()));
  }
  storage::Env* env = options_.log_options.env;
  absl::StatusOr<std::unique_ptr<storage::File>> marker =
      env->OpenFile(RecoveryMarkerPath(group), /*create=*/true);
  if (!marker.ok()) return marker.status();
  if (absl::Status s = (*marker)->Sync(); !s.ok()) return s;
  if (absl::Status s = env->SyncDir(options_.data_dir + "/groups"); !s.ok()) return s;
  recovering_groups_.insert(group);
  recovering_group_count_.store(recovering_groups_.size());
  return absl::OkStatus();
}

size_t Node::FinishGroupRecoveries() {
  if (recovering_group_count_.load() == 0) return 0;
  size_t finished = 0;
  (void)RunOnLoop([&] {
    for (auto it = recovering_groups_.begin(); it != recovering_groups_.end();) {
      auto g = groups_.find(*it);
      if (g == groups_.end() || g->second->node().Status().recovering) {
        ++it;
        continue;
      }
      if (absl::Status s = options_.log_options.env->RemoveFile(RecoveryMarkerPath(*it)); !s.ok()) {
        LOG(WARNING) << "group " << *it << ": " << s << " (trying again)";
        ++it;
        continue;
      }
      LOG(INFO) << "group " << *it << ": rebuilt from its peers; it votes again";
      it = recovering_groups_.erase(it);
      ++finished;
    }
    recovering_group_count_.store(recovering_groups_.size());
  });
  return finished;
}

raft::Config Node::RaftConfig(raft::LogIndex applied) const {
  raft::Config c;
  c.id = options_.id;
  c.election_tick = options_.election_ticks;
  c.heartbeat_tick = options_.heartbeat_ticks;
  c.applied = applied;
  c.pre_vote = true;
  c.check_quorum = true;
  c.recovering = recovering_.load();
  return c;
}

absl::StatusOr<Node::OpenedStorage> Node::OpenStorage(GroupId group, const raft::ConfState& conf) {
  OpenedStorage out;
  if (group == kMetadataGroup) {
    if (!options_.open_metadata) {
      return absl::FailedPreconditionError("this node hosts no metadata group");
    }
    absl::StatusOr<MetadataHost> s = options_.open_metadata(conf);
    if (!s.ok()) return s.status();
    out.storage = std::move(s->storage);
    out.state_machine = std::move(s->state_machine);
    return out;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options_.data_dir) / "groups", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrFormat("creating %s/groups: %s", options_.data_dir, ec.message()));
  }
  storage::PartitionLogOptions log_options = options_.log_options;
  if (options_.sync && options_.sync_mode == SyncMode::kJournal) {
    log_options.write_buffer_bytes = options_.journal_segment_buffer_bytes;
  }
  absl::StatusOr<std::unique_ptr<PartitionRaftStorage>> s =
      PartitionRaftStorage::Open(GroupDir(group), std::move(log_options), conf);
  if (!s.ok()) {
    return absl::Status(s.status().code(), absl::StrFormat("group %d (%s): %s", group,
                                                           GroupDir(group), s.status().message()));
  }
  out.partition = s->get();
  out.storage = *std::move(s);
  return out;
}

absl::StatusOr<std::shared_ptr<RaftGroup>> Node::MakeGroup(GroupId group, OpenedStorage opened) {
  absl::StatusOr<raft::InitialState> init = opened.storage->GetInitialState();
  if (!init.ok()) return init.status();
  // Entries up to the durable commit are applied, except where a state
  // machine kept its own (possibly older, never newer than its snapshot)
  // applied index: the core re-delivers what it is missing.
  raft::LogIndex applied = init->hard_state.commit;
  if (opened.state_machine != nullptr) {
    const raft::LogIndex sm_applied = opened.state_machine->applied_index();
    const raft::LogIndex snapshot_index = opened.storage->FirstIndex() - 1;
    if (sm_applied < snapshot_index) {
      return absl::DataLossError(absl::StrFormat(
          "group %d: state machine applied index %d is behind the log's snapshot index %d (the "
          "entries between are gone)",
          group, sm_applied.value(), snapshot_index.value()));
    }
    applied = std::min(applied, sm_applied);
  }
  raft::Config config = RaftConfig(applied);
  config.seed = seed_ + group * 0x9E3779B97F4A7C15ull;
  config.recovering = config.recovering || recovering_groups_.count(group) > 0;
  absl::StatusOr<std::unique_ptr<raft::RawNode>> node =
      raft::RawNode::Create(config, opened.storage.get());
  if (!node.ok()) return node.status();
  return std::make_shared<RaftGroup>(group, std::move(opened.storage), opened.partition,
                                     *std::move(node), std::move(opened.state_machine));
}

absl::StatusOr<std::shared_ptr<RaftGroup>> Node::OpenGroup(GroupId group,
                                                           const raft::ConfState& conf) {
  absl::StatusOr<OpenedStorage> opened = OpenStorage(group, conf);
  if (!opened.ok()) return opened.status();
  return MakeGroup(group, *std::move(opened));
}

absl::Status Node::ReplayJournal(std::map<GroupId, OpenedStorage>& opened) {
  const std::string dir = options_.data_dir + "/journal";
  JournalReadReport report;
  absl::StatusOr<std::vector<JournalRecord>> records =
      NodeJournal::ReadAll(options_.log_options.env, dir, &report);
  if (!records.ok()) return records.status();
  // Records of a group before its last removal belong to an old incarnation.
  std::map<GroupId, size_t> removed_at;
  for (size_t i = 0; i < records->size(); ++i) {
    if ((*records)[i].kind == JournalRecord::Kind::kGroupRemoved)
      removed_at[(*records)[i].group] = i;
  }
  std::set<GroupId> touched;
  for (size_t i = 0; i < records->size(); ++i) {
    const JournalRecord& r = (*records)[i];
    if (r.kind != JournalRecord::Kind::kEntries) continue;
    auto rm = removed_at.find(r.group);
    if (rm != removed_at.end() && rm->second > i) continue;
    if (recovering_groups_.count(r.group)) continue;  // set aside: rebuilt from peers
    auto it = opened.find(r.group);
    if (it == opened.end() || it->second.partition == nullptr) {
      LOG(WARNING) << "journal: entries for group " << r.group
                   << " which has no directory here; skipped";
      continue;
    }
    if (absl::Status s = it->second.partition->ReplayEntries(r.entries); !s.ok()) {
      if (!absl::IsDataLoss(s)) return s;
      opened.erase(it);
      touched.erase(r.group);
      if (absl::Status q = QuarantineGroup(r.group, s); !q.ok()) return q;
      continue;
    }
    touched.insert(r.group);
  }
  for (GroupId g : touched) {
    if (absl::Status s = opened[g].partition->SyncLog(); !s.ok()) return s;
  }
  if (report.records > 0 || !report.torn_tail.empty()) {
    LOG(INFO) << "journal: replayed " << report.records << " record(s) from " << report.files
              << " file(s) into " << touched.size() << " group(s)"
              << (report.torn_tail.empty() ? "" : "; " + report.torn_tail);
  }
  absl::StatusOr<std::unique_ptr<NodeJournal>> j =
      NodeJournal::Restart(options_.log_options.env, dir);
  if (!j.ok()) return j.status();
  journal_ = *std::move(j);
  last_rotation_ = Clock::now();
  return absl::OkStatus();
}

absl::Status Node::OpenExistingGroups() {
  std::map<GroupId, OpenedStorage> opened;
  std::map<GroupId, absl::Status> to_quarantine;
  if (options_.open_metadata) {
    absl::StatusOr<OpenedStorage> s = OpenStorage(kMetadataGroup, options_.metadata_voters);
    if (!s.ok()) return s.status();
    opened[kMetadataGroup] = *std::move(s);
  }
  const std::filesystem::path root = std::filesystem::path(options_.data_dir) / "groups";
  std::error_code ec;
  if (std::filesystem::exists(root, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      const bool digits =
          name.size() >= 20 &&
          std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; });
      // Set-aside damaged replicas and their recovery markers (QuarantineGroup).
      if (digits && name.size() > 20 && name.compare(20, 9, ".damaged-") == 0) continue;
      if (digits && name.substr(20) == ".recovering" && !entry.is_directory()) {
        recovering_groups_.insert(std::stoull(name.substr(0, 20)));
        recovering_group_count_.store(recovering_groups_.size());
        continue;
      }
      if (!entry.is_directory() || name.size() != 20 || !digits) {
        return absl::FailedPreconditionError(
            absl::StrFormat("unexpected entry %s in %s (only group directories belong there)", name,
                            root.string()));
      }
      const GroupId id = std::stoull(name);
      if (id == kMetadataGroup) {
        return absl::FailedPreconditionError(absl::StrFormat("%s: group 0 is reserved", name));
      }
      absl::StatusOr<OpenedStorage> s = OpenStorage(id, raft::ConfState{});
      if (absl::IsDataLoss(s.status())) {
        to_quarantine[id] = s.status();
        continue;
      }
      if (!s.ok()) return s.status();
      opened[id] = *std::move(s);
    }
    if (ec) {
      return absl::InternalError(absl::StrFormat("listing %s: %s", root.string(), ec.message()));
    }
  }
  for (const auto& [id, why] : to_quarantine) {
    if (absl::Status s = QuarantineGroup(id, why); !s.ok()) return s;
  }
  // Before any RawNode reads its storage: the logs must hold what the
  // journal made durable.
  if (absl::Status s = ReplayJournal(opened); !s.ok()) return s;
  for (auto& [id, o] : opened) {
    absl::StatusOr<std::shared_ptr<RaftGroup>> g = MakeGroup(id, std::move(o));
    if (absl::IsDataLoss(g.status()) && id != kMetadataGroup) {
      if (absl::Status s = QuarantineGroup(id, g.status()); !s.ok()) return s;
      continue;
    }
    if (!g.ok()) return g.status();
    groups_[id] = *std::move(g);
  }
  return absl::OkStatus();
}

absl::Status Node::Start() {
  if (started_) return absl::FailedPreconditionError("node already started");
  if (absl::Status s = OpenExistingGroups(); !s.ok()) return s;
  if (options_.sync_mode == SyncMode::kSyncfs) {
    data_dir_fd_ = ::open(options_.data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (data_dir_fd_ < 0) {
      return absl::InternalError(
          absl::StrFormat("open %s for syncfs: %s", options_.data_dir, strerror(errno)));
    }
  }
  LOG(INFO) << "node " << options_.id << ": opened " << groups_.size() << " group(s) from "
            << options_.data_dir;
  if (options_.sync && options_.sync_mode == SyncMode::kJournal) {
    checkpoint_thread_ = std::thread([this] { CheckpointLoop(); });
  }
  started_ = true;
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  {
    std::lock_guard<std::mutex> l(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  // Fail what is still queued so no caller waits forever.
  Inbox rest;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::swap(rest, inbox_);
  }
  for (auto& t : rest.tasks) t();
  // Nothing will commit any more here: answer every waiting proposal (an
  // RPC that waits on one would otherwise hold the server's shutdown).
  for (auto& [id, g] : groups_) {
    g->FailPending(absl::UnavailableError("node stopped; outcome unknown"));
  }
}

void Node::Shutdown(std::chrono::milliseconds transfer_timeout) {
  const Clock::time_point deadline = Clock::now() + transfer_timeout;
  while (Clock::now() < deadline) {
    size_t leading = 0;
    absl::Status s = RunOnLoop([&] {
      for (auto& [id, g] : groups_) {
        raft::RawNode& n = g->node();
        if (!g->failure().ok() || n.role() != raft::Role::kLeader) continue;
        const raft::RaftStatus st = n.Status();
        if (st.conf_state.voters.size() < 2) continue;
        ++leading;
        if (st.lead_transferee != raft::kNoNode) continue;
        raft::NodeId best = raft::kNoNode;
        raft::LogIndex best_match;
        for (const auto& [peer, pr] : st.progress) {
          if (peer == options_.id || pr.is_learner || !pr.recent_active) continue;
          if (best == raft::kNoNode || pr.match > best_match) {
            best = peer;
            best_match = pr.match;
          }
        }
        if (best != raft::kNoNode) (void)n.TransferLeadership(best);
      }
    });
    if (!s.ok() || leading == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
}

absl::Status Node::RunOnLoop(std::function<void()> task) {
  auto done = std::make_shared<std::promise<bool>>();
  std::future<bool> f = done->get_future();
  bool stopped_early = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || !started_) {
      stopped_early = true;
    } else {
      inbox_.tasks.push_back([task = std::move(task), done] {
        task();
        done->set_value(true);
      });
      inbox_.unscoped_task = true;
    }
  }
  if (stopped_early) return absl::UnavailableError("node is stopped");
  cv_.notify_one();
  // The task either runs on the loop or, if the node stopped first, in Stop().
  f.wait();
  return absl::OkStatus();
}

void Node::Deliver(raft::NodeId from, std::vector<GroupMessage> messages) {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return;
  inbox_.messages.emplace_back(from, std::move(messages));
  cv_.notify_one();
}

void Node::PeerUnreachable(raft::NodeId peer) {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return;
  inbox_.unreachable.push_back(peer);
  cv_.notify_one();
}

std::vector<GroupId> Node::GroupIds() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<GroupId> ids;
  ids.reserve(groups_.size());
  for (const auto& [id, g] : groups_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::shared_ptr<RaftGroup> Node::FindGroup(GroupId group) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : it->second;
}

void Node::MarkCandidate(RaftGroup& g) {
  if (g.round_candidate()) return;
  g.set_round_candidate(true);
  candidates_.push_back(g.id());
}

void Node::MarkAllCandidates() {
  for (auto& [id, g] : groups_) MarkCandidate(*g);
}

void Node::Loop() {
  const auto tick = std::chrono::milliseconds(options_.tick_ms);
  // Each tick comes after tick_ms +- 25% (on average tick_ms). Election
  // timeouts are whole ticks and all of a node's groups tick together:
  // with a fixed period, two nodes whose tick phases happen to lie within
  // a few ms start the elections of every group that drew the same
  // timeout at once, split those votes, and lose another timeout; the
  // jitter keeps the nodes' phases from staying aligned.
  std::mt19937_64 jitter_rng(seed_);
  const auto quarter = std::chrono::duration_cast<Clock::duration>(tick) / 4;
  auto jittered_tick = [&] {
    std::uniform_int_distribution<int64_t> d(-quarter.count(), quarter.count());
    return std::chrono::duration_cast<Clock::duration>(tick) + Clock::duration(d(jitter_rng));
  };
  next_tick_ = Clock::now() + jittered_tick();
  bool more = false;
  MarkAllCandidates();
  while (true) {
    Inbox in;
    {
      std::unique_lock<std::mutex> l(mu_);
      if (!more) {
        cv_.wait_until(l, next_tick_, [&] {
          return stopping_ || !inbox_.messages.empty() || !inbox_.tasks.empty() ||
                 !inbox_.unreachable.empty();
        });
      }
      if (stopping_) break;
      std::swap(in, inbox_);
    }
    const Clock::time_point now = Clock::now();
    if (now >= next_tick_) {
      TickAll();
      next_tick_ += jittered_tick();
      if (next_tick_ <= now) next_tick_ = now + jittered_tick();  // fell behind: do not burst
    }
    for (raft::NodeId peer : in.unreachable) {
      for (auto& [id, g] : groups_) g->node().ReportUnreachable(peer);
    }
    if (!in.unreachable.empty()) MarkAllCandidates();
    StepMessages(in.messages);
    for (auto& task : in.tasks) task();
    if (in.unscoped_task) MarkAllCandidates();
    size_t handled = 0;
    for (int r = 0; r < 4; ++r) {
      handled = Round();
      if (handled == 0) break;
    }
    MaybeCheckpoint();
    more = handled > 0;
  }
}

bool Node::HoldCommitNotice(RaftGroup& g, raft::Message& m) {
  if (g.id() == kMetadataGroup) return false;
  const std::pair<raft::NodeId, GroupId> key{m.to, g.id()};
  if (m.type == raft::MessageType::kApp && m.entries.empty() && m.index == g.node().last_index()) {
    held_[key] = std::move(m);
    return true;
  }
  // A later append carries the newer commit itself.
  if (m.type == raft::MessageType::kApp || m.type == raft::MessageType::kSnapshot) {
    held_.erase(key);
  }
  return false;
}

void Node::FlushCommitNotices() {
  if (held_.empty()) return;
  std::map<raft::NodeId, std::vector<GroupMessage>> out;
  for (auto& [key, m] : held_) out[key.first].push_back({key.second, std::move(m)});
  held_.clear();
  SendGrouped(out);
}

void Node::TickAll() {
  ++counters_.ticks;
  FlushCommitNotices();
  const Clock::time_point now = Clock::now();
  for (auto& [id, g] : groups_) {
    if (g->failure().ok()) g->node().Tick();
    if (g->has_pending()) g->ExpirePending(now);
    // Most ticks leave nothing to do (a follower counting towards its
    // election timeout, a leader between heartbeats): only a group the tick
    // gave a Ready joins the round, asked while its state is in cache.
    if (g->failure().ok() && g->node().HasReady()) MarkCandidate(*g);
  }
}

void Node::StepMessages(std::vector<std::pair<raft::NodeId, std::vector<GroupMessage>>>& batches) {
  for (auto& [from, msgs] : batches) {
    for (GroupMessage& gm : msgs) {
      auto it = groups_.find(gm.group);
      if (it == groups_.end() || !it->second->failure().ok()) continue;  // not (yet) hosted here
      // Stale or misaddressed messages are dropped by the core.
      (void)it->second->node().Step(std::move(gm.message));
      MarkCandidate(*it->second);
    }
  }
}

void Node::SendGrouped(std::map<raft::NodeId, std::vector<GroupMessage>>& out) {
  for (auto& [to, msgs] : out) {
    if (!msgs.empty() && options_.send) options_.send(to, std::move(msgs));
  }
  out.clear();
}

size_t Node::Round() {
  std::vector<Work>& work = work_;
  work.clear();
  std::map<raft::NodeId, std::vector<GroupMessage>> out;
  scanning_.clear();
  scanning_.swap(candidates_);
  for (size_t i = 0; i < scanning_.size(); ++i) {
    if (static_cast<int>(work.size()) >= options_.max_readys_per_round) {
      // Still marked: the next round asks them first.
      candidates_.insert(candidates_.end(), scanning_.begin() + static_cast<ptrdiff_t>(i),
                         scanning_.end());
      break;
    }
    auto it = groups_.find(scanning_[i]);
    if (it == groups_.end()) continue;  // removed since
    RaftGroup* g = it->second.get();
    g->set_round_candidate(false);
    if (!g->failure().ok() || !g->node().HasReady()) continue;
    Work& w = work.emplace_back(Work{g, g->node().GetReady(), absl::OkStatus()});
    for (raft::Message& m : w.ready.messages) {
      if (HoldCommitNotice(*g, m)) continue;
      out[m.to].push_back({g->id(), std::move(m)});
    }
    w.ready.messages.clear();
  }
  if (work.empty()) return 0;
  ++counters_.rounds;
  counters_.readys += work.size();
  // 4a: messages that may leave before our own write is durable.
  SendGrouped(out);

  // 4b: persist, every group in parallel: the group commit.
  Persist(work);
  // The partitions' tail caches take the entries just written, moved rather
  // than copied (nothing reads the Readys' payloads after this).
  for (Work& w : work) {
    if (w.persisted.ok() && w.group->is_partition() && !w.ready.entries.empty()) {
      w.group->partition()->AdoptReadyEntries(w.ready.entries);
    }
  }

  // 4c: acknowledgements and votes, now that they are durable.
  for (Work& w : work) {
    if (!w.persisted.ok()) continue;
    for (raft::Message& m : w.ready.messages_after_persist) {
      out[m.to].push_back({w.group->id(), std::move(m)});
    }
    w.ready.messages_after_persist.clear();
  }
  SendGrouped(out);

  // 4d: apply and advance.
  for (Work& w : work) {
    RaftGroup& g = *w.group;
    if (!w.persisted.ok()) {
      FailGroup(g, w.persisted);
      continue;
    }
    g.NotifyAppended(w.ready);
    const int64_t high_watermark = g.high_watermark();
    if (absl::Status s = g.Apply(w.ready); !s.ok()) {
      FailGroup(g, s);
      continue;
    }
    if (options_.on_high_watermark && g.high_watermark() != high_watermark) {
      options_.on_high_watermark(g.id());
    }
    g.node().Advance(w.ready);
    MarkCandidate(g);  // Advance may leave more (e.g. commit by our own ack)
    if (w.ready.soft_state) {
      VLOG(1) << "group " << g.id() << ": role " << raft::RoleName(w.ready.soft_state->role)
              << ", leader " << w.ready.soft_state->leader;
    }
    g.PublishStatus();
  }
  const size_t handled = work.size();
  work.clear();
  return handled;
}

void Node::Persist(std::vector<Work>& work) {
  std::vector<Work*> todo;
  for (Work& w : work) {
    if (w.ready.MustSync()) todo.push_back(&w);
  }
  counters_.synced_readys += todo.size();
  std::vector<std::function<void()>> jobs;
  const bool sync = options_.sync;
  if (sync && options_.sync_mode == SyncMode::kJournal) {
    PersistWithJournal(todo);
    return;
  }
  if (!sync || options_.sync_mode == SyncMode::kPerGroup) {
    for (Work* w : todo) {
      jobs.push_back([w, sync] {
        GroupStorage& s = w->group->storage();
        w->persisted = s.WriteReady(w->ready);
        if (w->persisted.ok() && sync) w->persisted = s.SyncReady();
        if (w->persisted.ok()) w->persisted = s.FinishReady(w->ready);
      });
    }
    sync_pool_.RunAll(jobs);
    return;
  }
  // kSyncfs: write everything, one syncfs, then the per-log bookkeeping.
  for (Work* w : todo) {
    jobs.push_back([w] { w->persisted = w->group->storage().WriteReady(w->ready); });
  }
  sync_pool_.RunAll(jobs);
  jobs.clear();
  if (!todo.empty() && ::syncfs(data_dir_fd_) != 0) {
    const absl::Status err =
        absl::DataLossError(absl::StrFormat("syncfs %s: %s", options_.data_dir, strerror(errno)));
    for (Work* w : todo) w->persisted = err;
    return;
  }
  for (Work* w : todo) {
    if (!w->persisted.ok()) continue;
    jobs.push_back([w] {
      GroupStorage& s = w->group->storage();
      w->persisted = s.SyncReady();
      if (w->persisted.ok()) w->persisted = s.FinishReady(w->ready);
    });
  }
  sync_pool_.RunAll(jobs);
}

void Node::PersistWithJournal(std::vector<Work*>& todo) {
  // Few groups written, none with entries still only in the journal: fsync
  // their logs directly (as kPerGroup does) and skip the double write.
  size_t written = 0;
  bool journaled = false;
  for (Work* w : todo) {
    if (!w->group->is_partition() || w->ready.entries.empty()) continue;
    ++written;
    journaled = journaled || dirty_.count(w->group->id()) || checkpointing_.count(w->group->id());
  }
  bool direct = !journaled && written <= static_cast<size_t>(options_.journal_max_direct_groups);
  if (direct) {
    std::lock_guard<std::mutex> l(checkpoint_mu_);
    direct = !checkpoint_failed_;
  }

  // 1. Every log written. Journaled partition writes only reach the page
  //    cache: done here, on the loop thread (waking the pool for each round
  //    costs more than the copies). Direct writes, and the metadata group's
  //    RocksDB write + WAL sync, run on the pool in parallel.
  std::vector<std::function<void()>> jobs;
  for (Work* w : todo) {
    if (w->group->is_partition() && !direct) {
      w->persisted = w->group->storage().WriteReady(w->ready);
      continue;
    }
    // A partition Ready without entries (a new commit index, a snapshot)
    // has no log bytes to sync: earlier entries were synced directly or are
    // in the journal. Syncing anyway cost one fdatasync per group per
    // commit round once a group had journaled entries.
    const bool sync_log = !w->group->is_partition() || !w->ready.entries.empty();
    jobs.push_back([w, sync_log] {
      GroupStorage& s = w->group->storage();
      w->persisted = s.WriteReady(w->ready);
      if (w->persisted.ok() && sync_log) w->persisted = s.SyncReady();
      if (w->persisted.ok()) w->persisted = s.FinishReady(w->ready);
    });
  }
  sync_pool_.RunAll(jobs);
  if (direct) return;
  jobs.clear();
  // 2. The same entries into the journal: one write, one fdatasync.
  std::vector<Work*> partitions;
  for (Work* w : todo) {
    if (!w->group->is_partition() || !w->persisted.ok()) continue;
    partitions.push_back(w);
    if (!w->ready.entries.empty()) {
      journal_->AddEntries(w->group->id(), w->ready.entries);
      dirty_.insert(w->group->id());
    }
  }
  if (journal_->HasPending()) {
    if (absl::Status s = journal_->Sync(); !s.ok()) {
      for (Work* w : partitions) w->persisted = s;
      return;
    }
    ++counters_.journal_syncs;
  }
  // 3. Hard states: a new term or vote rewrites raft-state (three fsyncs),
  //    in parallel on the pool; a new commit alone is only remembered.
  for (Work* w : partitions) {
    if (!w->ready.hard_state) continue;
    const raft::HardState& now = w->group->partition()->hard_state();
    if (w->ready.hard_state->term == now.term && w->ready.hard_state->vote == now.vote) {
      w->persisted = w->group->storage().FinishReady(w->ready);
      continue;
    }
    jobs.push_back([w] { w->persisted = w->group->storage().FinishReady(w->ready); });
  }
  sync_pool_.RunAll(jobs);
}

void Node::MaybeCheckpoint(bool force) {
  if (!journal_ || !options_.sync || options_.sync_mode != SyncMode::kJournal) return;
  if (dirty_.empty()) {
    if (!checkpointing_.empty()) {
      std::lock_guard<std::mutex> l(checkpoint_mu_);
      if (!checkpoint_busy_) checkpointing_.clear();  // done: direct writes allowed again
    }
    return;
  }
  const Clock::time_point now = Clock::now();
  if (!force && journal_->current_file_bytes() < options_.journal_rotate_bytes &&
      now - last_rotation_ < std::chrono::milliseconds(options_.journal_rotate_ms)) {
    return;
  }
  {
    std::lock_guard<std::mutex> l(checkpoint_mu_);
    if (checkpoint_busy_) return;  // the previous one is still syncing
  }
  checkpointing_.clear();  // the previous checkpoint finished
  absl::StatusOr<uint64_t> old = journal_->Rotate();
  if (!old.ok()) {
    LOG(ERROR) << "journal rotation failed: " << old.status();
    return;
  }
  CheckpointJob job;
  job.up_to_sequence = *old;
  for (GroupId id : dirty_) {
    auto it = groups_.find(id);
    if (it != groups_.end()) job.groups.push_back(it->second);
  }
  checkpointing_ = std::move(dirty_);
  dirty_.clear();
  last_rotation_ = now;
  {
    std::lock_guard<std::mutex> l(checkpoint_mu_);
    checkpoint_busy_ = true;
    checkpoint_job_ = std::move(job);
  }
  checkpoint_cv_.notify_one();
}

void Node::CheckpointLoop() {
  while (true) {
    CheckpointJob job;
    {
      std::unique_lock<std::mutex> l(checkpoint_mu_);
      checkpoint_cv_.wait(l, [&] { return checkpoint_stop_ || checkpoint_job_.has_value(); });
      if (!checkpoint_job_) return;  // stopping with nothing to do
      job = std::move(*checkpoint_job_);
      checkpoint_job_.reset();
    }
    // The logs written while the old journal file(s) were current are made
    // durable; only then may those files go.
    absl::Status s;
    for (const std::shared_ptr<RaftGroup>& g : job.groups) {
      absl::Status gs = g->partition()->SyncLog();
      if (!gs.ok()) {
        LOG(ERROR) << "checkpoint: group " << g->id() << ": " << gs
                   << "; journal files kept for replay";
        s = gs;
      }
    }
    if (s.ok()) s = journal_->RemoveFilesUpTo(job.up_to_sequence);
    if (!s.ok()) LOG(ERROR) << "checkpoint: " << s;
    std::lock_guard<std::mutex> l(checkpoint_mu_);
    checkpoint_busy_ = false;
    if (s.ok()) ++checkpoints_done_;
    if (!s.ok()) checkpoint_failed_ = true;
    if (checkpoint_stop_) return;
  }
}

void Node::FailGroup(RaftGroup& g, absl::Status why) {
  LOG(ERROR) << "group " << g.id() << " stopped after a storage error: " << why
             << " (restart the node to recover it from disk)";
  g.Fail(std::move(why));
}

absl::StatusOr<bool> Node::EnsureGroup(GroupId group, std::vector<raft::NodeId> voters) {
  if (group == kMetadataGroup) {
    return absl::InvalidArgumentError("group 0 is the metadata group; it is not created by hand");
  }
  std::sort(voters.begin(), voters.end());
  if (voters.empty() || std::adjacent_find(voters.begin(), voters.end()) != voters.end() ||
      voters.front() == raft::kNoNode) {
    return absl::InvalidArgumentError("voters must be distinct non-zero node ids");
  }
  absl::StatusOr<bool> result = absl::InternalError("not run");
  absl::Status s = RunOnLoop([&] {
    if (groups_.count(group)) {
      result = false;
      return;
    }
    absl::StatusOr<std::shared_ptr<RaftGroup>> g = OpenGroup(group, raft::ConfState{voters, {}});
    if (!g.ok()) {
      result = g.status();
      return;
    }
    std::lock_guard<std::mutex> l(mu_);
    groups_[group] = *std::move(g);
    result = true;
  });
  if (!s.ok()) return s;
  return result;
}

absl::Status Node::RemoveGroup(GroupId group) {
  if (group == kMetadataGroup)
    return absl::InvalidArgumentError("the metadata group cannot be removed");
  absl::Status result = absl::OkStatus();
  absl::Status s = RunOnLoop([&] {
    std::shared_ptr<RaftGroup> g;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = groups_.find(group);
      if (it == groups_.end()) {
        result = absl::NotFoundError(absl::StrFormat("group %d is not hosted here", group));
        return;
      }
      g = std::move(it->second);
      groups_.erase(it);
    }
    g->FailPending(absl::UnavailableError(absl::StrFormat("group %d removed", group)));
    dirty_.erase(group);
    checkpointing_.erase(group);
    std::erase_if(held_, [group](const auto& h) { return h.first.second == group; });
    // Durable before the directory goes, so replay never feeds this
    // incarnation's entries to a later group with the same id.
    journal_->AddGroupRemoved(group);
    if (absl::Status js = journal_->Sync(); !js.ok()) {
      result = js;
      return;
    }
    g.reset();  // Readers elsewhere may hold it a little longer; files go anyway.
    std::error_code ec;
    std::filesystem::remove_all(GroupDir(group), ec);
    if (recovering_groups_.erase(group) > 0) {
      recovering_group_count_.store(recovering_groups_.size());
      std::filesystem::remove(RecoveryMarkerPath(group), ec);  // a deleted replica needs none
    }
    if (ec)
      result =
          absl::InternalError(absl::StrFormat("removing %s: %s", GroupDir(group), ec.message()));
  });
  return s.ok() ? result : s;
}

absl::Status Node::TransferLeader(GroupId group, raft::NodeId to) {
  absl::Status result;
  absl::Status s = RunOnLoop([&] {
    auto it = groups_.find(group);
    if (it == groups_.end()) {
      result = absl::NotFoundError(absl::StrFormat("group %d is not hosted here", group));
      return;
    }
    result = it->second->node().TransferLeadership(to);
  });
  return s.ok() ? result : s;
}

absl::StatusOr<raft::LogIndex> Node::CompactLog(GroupId group, raft::LogIndex index) {
  absl::StatusOr<raft::LogIndex> result = absl::InternalError("not run");
  absl::Status s = RunOnLoop([&] {
    auto it = groups_.find(group);
    if (it == groups_.end()) {
      result = absl::NotFoundError(absl::StrFormat("group %d is not hosted here", group));
      return;
    }
    RaftGroup& g = *it->second;
    const raft::LogIndex applied = g.applied();
    const raft::LogIndex target = index == raft::LogIndex(0) ? applied : index;
    if (target > applied) {
      result = absl::FailedPreconditionError(absl::StrFormat(
          "cannot compact to %d: only %d is applied", target.value(), applied.value()));
      return;
    }
    if (target < g.storage().FirstIndex()) {
      result = g.storage().FirstIndex();
      return;
    }
    if (HasConfChangeIn(g.storage(), target, applied)) {
      result = absl::FailedPreconditionError(absl::StrFormat(
          "cannot compact to %d: a membership change follows it; compact to the applied index %d",
          target.value(), applied.value()));
      return;
    }
    if (absl::Status st = g.storage().Compact(target, g.node().conf_state()); !st.ok()) {
      result = st;
      return;
    }
    result = g.storage().FirstIndex();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<LogChecksum> Node::LogChecksumOf(GroupId group, raft::LogIndex from,
                                                raft::LogIndex to) {
  absl::StatusOr<LogChecksum> result = absl::InternalError("not run");
  absl::Status s = RunOnLoop([&] {
    auto it = groups_.find(group);
    if (it == groups_.end()) {
      result = absl::NotFoundError(absl::StrFormat("group %d is not hosted here", group));
      return;
    }
    RaftGroup& g = *it->second;
    const raft::LogIndex commit = g.node().Status().commit;
    if (to > commit) {
      result = absl::OutOfRangeError(
          absl::StrFormat("range [%d, %d] goes past this replica's commit index %d", from.value(),
                          to.value(), commit.value()));
      return;
    }
    result = ChecksumLogRange(g.storage(), from, to);
  });
  if (!s.ok()) return s;
  return result;
}

GroupStatusInfo Node::StatusOf(RaftGroup& g) {
  GroupStatusInfo info;
  info.group = g.id();
  info.raft = g.node().Status();
  info.first_index = g.storage().FirstIndex();
  info.failure = g.failure().ok() ? "" : std::string(g.failure().message());
  for (const auto& [peer, pr] : info.raft.progress) {
    if (peer == options_.id) continue;
    const uint64_t last = info.raft.last_index.value();
    info.followers.push_back({peer, pr, last > pr.match.value() ? last - pr.match.value() : 0});
  }
  if (const storage::PartitionLog* log = g.partition_log()) {
    info.log_start_offset = log->log_start_offset().value();
    info.log_end_offset = log->next_offset().value();
    info.high_watermark = g.high_watermark();
  }
  return info;
}

absl::StatusOr<std::vector<GroupStatusInfo>> Node::Status(const std::vector<GroupId>& groups) {
  std::vector<GroupStatusInfo> out;
  absl::Status s = RunOnLoop([&] {
    if (groups.empty()) {
      for (auto& [id, g] : groups_) out.push_back(StatusOf(*g));
      std::sort(out.begin(), out.end(), [](const GroupStatusInfo& a, const GroupStatusInfo& b) {
        return a.group < b.group;
      });
      return;
    }
    for (GroupId id : groups) {
      auto it = groups_.find(id);
      if (it != groups_.end()) out.push_back(StatusOf(*it->second));
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Node::Checkpoint() {
  if (!options_.sync || options_.sync_mode != SyncMode::kJournal) return absl::OkStatus();
  const auto idle = [this] {
    std::lock_guard<std::mutex> l(checkpoint_mu_);
    return !checkpoint_busy_;
  };
  // Wait out a checkpoint already running, then start ours and wait for it.
  for (int i = 0; i < 2; ++i) {
    while (!idle()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (i == 0) {
      if (absl::Status s = RunOnLoop([this] { MaybeCheckpoint(/*force=*/true); }); !s.ok())
        return s;
    }
  }
  // Let the loop see that it finished (direct writes allowed again).
  return RunOnLoop([this] { MaybeCheckpoint(); });
}

NodeCounters Node::Counters() {
  NodeCounters c;
  (void)RunOnLoop([&] { c = counters_; });
  std::lock_guard<std::mutex> l(checkpoint_mu_);
  c.checkpoints = checkpoints_done_;
  return c;
}

void Node::Propose(GroupId group, std::vector<std::string> entries, ProposeCallback done,
                   std::chrono::milliseconds timeout) {
  Propose(group, std::move(entries), std::move(done), timeout, nullptr);
}

void Node::Propose(GroupId group, std::vector<std::string> entries, ProposeCallback done,
                   std::chrono::milliseconds timeout, ProposeCallback appended) {
  auto task = [this, group, entries = std::move(entries), done, timeout,
               appended = std::move(appended)]() mutable {
    auto it = groups_.find(group);
    if (it == groups_.end()) {
      done(absl::NotFoundError(
          absl::StrFormat("group %d is not hosted on node %d", group, options_.id.value())));
      return;
    }
    it->second->Propose(std::move(entries), std::move(done), timeout, std::move(appended));
    MarkCandidate(*it->second);
  };
  if (!EnqueueTask(std::move(task), /*group_scoped=*/true)) {
    done(absl::UnavailableError("node is shutting down"));
  }
}

void Node::ReadIndex(GroupId group, ReadIndexCallback done, std::chrono::milliseconds timeout) {
  auto task = [this, group, done, timeout]() mutable {
    auto it = groups_.find(group);
    if (it == groups_.end()) {
      done(absl::NotFoundError(
          absl::StrFormat("group %d is not hosted on node %d", group, options_.id.value())));
      return;
    }
    it->second->ReadIndex(std::move(done), timeout);
    MarkCandidate(*it->second);
  };
  if (!EnqueueTask(std::move(task), /*group_scoped=*/true)) {
    done(absl::UnavailableError("node is shutting down"));
  }
}

bool Node::EnqueueTask(std::function<void()> task, bool group_scoped) {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_ || !started_) return false;
  inbox_.tasks.push_back(std::move(task));
  if (!group_scoped) inbox_.unscoped_task = true;
  cv_.notify_one();
  return true;
}

}  // namespace raftlog::broker
