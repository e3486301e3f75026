// Consumer: group membership, positions, fetching and commits.
#include "client/consumer.h"

#include <algorithm>
#include <span>
#include <utility>

#include "absl/strings/str_format.h"
#include "client/admin_client.h"
#include "storage/record_batch_header.h"
#include "storage/record_batch_reader.h"

namespace raftlog::client {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(ConsumerOptions options) {
  absl::StatusOr<std::shared_ptr<Cluster>> c = Cluster::Connect(options.client);
  if (!c.ok()) return c.status();
  return Create(*std::move(c), std::move(options));
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(std::shared_ptr<Cluster> cluster,
                                                           ConsumerOptions options) {
  if (options.max_poll_records < 1) {
    return absl::InvalidArgumentError("consumer: max_poll_records must be at least 1");
  }
  if (options.heartbeat_interval >= options.session_timeout) {
    return absl::InvalidArgumentError(
        "consumer: heartbeat_interval must be shorter than session_timeout");
  }
  return std::unique_ptr<Consumer>(new Consumer(std::move(cluster), std::move(options)));
}

Consumer::Consumer(std::shared_ptr<Cluster> cluster, ConsumerOptions options)
    : cluster_(std::move(cluster)), options_(std::move(options)), last_commit_(Clock::now()) {}

Consumer::~Consumer() { Close(); }

absl::Status Consumer::Subscribe(const std::vector<std::string>& topics,
                                 RebalanceListener listener) {
  if (options_.group_id.empty()) {
    return absl::InvalidArgumentError("subscribe needs a group id (or use Assign)");
  }
  if (topics.empty()) return absl::InvalidArgumentError("subscribe: no topics");
  std::lock_guard<std::mutex> l(mu_);
  subscription_ = topics;
  listener_ = std::move(listener);
  group_mode_ = true;
  rejoin_needed_ = true;
  return absl::OkStatus();
}

absl::Status Consumer::Assign(const std::vector<TopicPartition>& partitions) {
  {
    std::lock_guard<std::mutex> l(mu_);
    group_mode_ = false;
    subscription_.clear();
  }
  StopHeartbeat();
  positions_.clear();
  buffered_.clear();
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> md = cluster_->Metadata(true);
  if (!md.ok()) return md.status();
  for (const TopicPartition& tp : partitions) {
    const TopicInfo* t = (*md)->Topic(tp.topic);
    if (t == nullptr) return absl::NotFoundError(absl::StrFormat("unknown topic \"%s\"", tp.topic));
    if (tp.partition < 0 || tp.partition >= static_cast<int32_t>(t->partitions.size())) {
      return absl::NotFoundError(
          absl::StrFormat("topic \"%s\" has no partition %d", tp.topic, tp.partition));
    }
  }
  return InitPositions(partitions);
}

std::vector<TopicPartition> Consumer::Assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, pos] : positions_) out.push_back(tp);
  return out;
}

absl::StatusOr<int64_t> Consumer::ListOffset(const TopicPartition& tp, bool earliest) {
  AdminClient admin(cluster_);
  absl::StatusOr<std::map<TopicPartition, int64_t>> o =
      admin.ListOffsets({tp}, earliest ? OffsetQuery::kEarliest : OffsetQuery::kLatest);
  if (!o.ok()) return o.status();
  return o->at(tp);
}

absl::Status Consumer::ResetPosition(const TopicPartition& tp) {
  if (options_.auto_offset_reset == OffsetReset::kNone) {
    return absl::OutOfRangeError(
        absl::StrFormat("%s-%d: no valid offset to start from and auto_offset_reset is none",
                        tp.topic, tp.partition));
  }
  absl::StatusOr<int64_t> o = ListOffset(tp, options_.auto_offset_reset == OffsetReset::kEarliest);
  if (!o.ok()) return o.status();
  positions_[tp] = *o;
  buffered_.erase(tp);
  return absl::OkStatus();
}

absl::Status Consumer::InitPositions(const std::vector<TopicPartition>& partitions) {
  std::map<TopicPartition, int64_t> committed;
  if (!options_.group_id.empty() && !partitions.empty()) {
    absl::StatusOr<std::map<TopicPartition, int64_t>> c = Committed(partitions);
    if (!c.ok()) return c.status();
    committed = *std::move(c);
  }
  for (const TopicPartition& tp : partitions) {
    if (auto it = committed.find(tp); it != committed.end()) {
      positions_[tp] = it->second;
      continue;
    }
    if (absl::Status s = ResetPosition(tp); !s.ok()) return s;
  }
  last_committed_ = committed;
  return absl::OkStatus();
}

absl::Status Consumer::JoinAndSync() {
  // Give up what we hold first: commit it, tell the application.
  std::vector<TopicPartition> held = Assignment();
  if (!held.empty()) {
    MaybeAutoCommit(/*force=*/true);
    if (listener_.on_revoked) listener_.on_revoked(held);
  }
  positions_.clear();
  buffered_.clear();
  {
    // generation_ >= 0 only while this member holds its generation's
    // assignment: whatever fails below leaves -1, and the next Poll rejoins.
    std::lock_guard<std::mutex> l(mu_);
    generation_ = -1;
  }
  const Clock::time_point deadline =
      Clock::now() + options_.rebalance_timeout + options_.client.retry_timeout;
  while (true) {
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrFormat("group \"%s\": no stable membership within %d ms", options_.group_id,
                          (options_.rebalance_timeout + options_.client.retry_timeout).count()));
    }
    rejoin_needed_ = false;
    apipb::JoinGroupRequest join;
    {
      std::lock_guard<std::mutex> l(mu_);
      join.set_group_id(options_.group_id);
      join.set_member_id(member_id_);
      join.set_client_id(options_.client.client_id);
      for (const std::string& t : subscription_) join.add_topics(t);
    }
    for (const std::string& a : options_.assignors) join.add_assignors(a);
    join.set_session_timeout_ms(static_cast<int32_t>(options_.session_timeout.count()));
    join.set_rebalance_timeout_ms(static_cast<int32_t>(options_.rebalance_timeout.count()));
    const milliseconds join_wait = options_.rebalance_timeout + options_.client.request_timeout;
    absl::StatusOr<apipb::JoinGroupResponse> jr =
        cluster_->CallAny<apipb::JoinGroupRequest, apipb::JoinGroupResponse>(
            [join_wait](BrokerStubs& b, grpc::ClientContext* ctx, const apipb::JoinGroupRequest& r,
                        apipb::JoinGroupResponse* out) {
              ctx->set_deadline(std::chrono::system_clock::now() + join_wait);
              return b.groups->JoinGroup(ctx, r, out);
            },
            join);
    if (!jr.ok()) return jr.status();
    if (jr->error() == apipb::UNKNOWN_MEMBER_ID) {
      std::lock_guard<std::mutex> l(mu_);
      member_id_.clear();
      continue;
    }
    if (jr->error() == apipb::REBALANCE_IN_PROGRESS || jr->error() == apipb::NOT_COORDINATOR) {
      std::this_thread::sleep_for(options_.client.retry_backoff);
      continue;
    }
    if (absl::Status e = ApiError(jr->error(), jr->error_message()); !e.ok()) return e;
    {
      std::lock_guard<std::mutex> l(mu_);
      member_id_ = jr->member_id();
      generation_ = jr->generation();
    }
    // From here until the assignment is in place, a failure leaves this
    // member joined to a generation it holds no partitions of: forget the
    // generation (heartbeats stop) and ask for a rejoin, so that the next
    // Poll joins again instead of polling nothing while the group thinks
    // the partitions are taken. The member id is kept: the coordinator
    // recognises the rejoin.
    const auto abandon = [this](absl::Status s) {
      std::lock_guard<std::mutex> l(mu_);
      generation_ = -1;
      rejoin_needed_ = true;
      positions_.clear();
      buffered_.clear();
      return s;
    };
    apipb::SyncGroupRequest sync;
    sync.set_group_id(options_.group_id);
    sync.set_member_id(jr->member_id());
    sync.set_generation(jr->generation());
    absl::StatusOr<apipb::SyncGroupResponse> sr =
        cluster_->CallGroups(&apipb::GroupCoordinator::Stub::SyncGroup, sync);
    if (!sr.ok()) return abandon(sr.status());
    if (sr->error() == apipb::REBALANCE_IN_PROGRESS || sr->error() == apipb::ILLEGAL_GENERATION ||
        sr->error() == apipb::NOT_COORDINATOR) {
      continue;
    }
    if (sr->error() == apipb::UNKNOWN_MEMBER_ID) {
      std::lock_guard<std::mutex> l(mu_);
      member_id_.clear();
      continue;
    }
    if (absl::Status e = ApiError(sr->error(), sr->error_message()); !e.ok()) return abandon(e);
    std::vector<TopicPartition> assigned;
    for (const apipb::TopicPartitions& t : sr->assignment()) {
      for (int32_t p : t.partitions()) assigned.push_back({t.topic(), p});
    }
    if (absl::Status s = InitPositions(assigned); !s.ok()) return abandon(s);
    if (listener_.on_assigned) listener_.on_assigned(assigned);
    if (heartbeat_stop_) {
      heartbeat_stop_ = false;
      heartbeat_ = std::thread([this] { HeartbeatLoop(); });
    }
    if (!rejoin_needed_) return absl::OkStatus();
  }
}

void Consumer::HeartbeatLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!heartbeat_stop_) {
    heartbeat_cv_.wait_for(l, options_.heartbeat_interval, [&] { return heartbeat_stop_; });
    if (heartbeat_stop_) return;
    if (member_id_.empty() || generation_ < 0) continue;
    apipb::HeartbeatRequest req;
    req.set_group_id(options_.group_id);
    req.set_member_id(member_id_);
    req.set_generation(generation_);
    l.unlock();
    absl::StatusOr<apipb::HeartbeatResponse> r =
        cluster_->CallGroups(&apipb::GroupCoordinator::Stub::Heartbeat, req);
    l.lock();
    if (!r.ok()) continue;  // unreachable for now: the session timeout decides
    switch (r->error()) {
      case apipb::ERROR_NONE:
        break;
      case apipb::UNKNOWN_MEMBER_ID:
        member_id_.clear();
        rejoin_needed_ = true;
        break;
      default:  // rebalance in progress, illegal generation, coordinator moved
        rejoin_needed_ = true;
        break;
    }
  }
}

void Consumer::StopHeartbeat() {
  {
    std::lock_guard<std::mutex> l(mu_);
    heartbeat_stop_ = true;
  }
  heartbeat_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

absl::Status Consumer::FetchOnce(milliseconds max_wait) {
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> md = cluster_->Metadata();
  if (!md.ok()) return md.status();
  std::vector<TopicPartition> order;
  for (const auto& [tp, pos] : positions_) {
    if (buffered_[tp].empty()) order.push_back(tp);
  }
  if (order.empty()) {
    std::this_thread::sleep_for(std::min(max_wait, milliseconds(100)));
    return absl::OkStatus();
  }
  std::rotate(order.begin(), order.begin() + (rotate_++ % order.size()), order.end());
  std::map<std::string, apipb::FetchRequest> by_leader;
  bool missing_leader = false;
  for (const TopicPartition& tp : order) {
    absl::StatusOr<std::pair<uint64_t, std::string>> leader = (*md)->Leader(tp);
    if (!leader.ok()) {
      missing_leader = true;
      continue;
    }
    apipb::FetchRequest& req = by_leader[leader->second];
    apipb::FetchPartition* p = req.add_partitions();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
    p->set_offset(positions_[tp]);
    p->set_partition_max_bytes(options_.partition_max_bytes);
  }
  if (missing_leader) cluster_->InvalidateMetadata();
  if (by_leader.empty()) {
    std::this_thread::sleep_for(options_.client.retry_backoff);
    return absl::OkStatus();
  }
  struct Call {
    grpc::ClientContext ctx;
    apipb::FetchRequest req;
    apipb::FetchResponse resp;
    grpc::Status status;
  };
  // Counts calls that are over: an Ended guard rides in each completion
  // callback and is destroyed with it, after gRPC's last use of the call on
  // its thread. The contexts (calls) are destroyed by this thread, after
  // every guard, so no gRPC work of ours outlives FetchOnce (nor the
  // Consumer, nor its Cluster's channels; see the header).
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    size_t ended = 0;
  };
  struct Ended {
    explicit Ended(std::shared_ptr<Done> d) : done(std::move(d)) {}
    Ended(const Ended&) = delete;
    Ended& operator=(const Ended&) = delete;
    ~Ended() {
      std::lock_guard<std::mutex> l(done->mu);
      ++done->ended;
      done->cv.notify_all();
    }
    const std::shared_ptr<Done> done;
  };
  auto done = std::make_shared<Done>();
  std::vector<std::unique_ptr<Call>> calls;
  for (auto& [address, req] : by_leader) {
    auto call = std::make_unique<Call>();
    call->req = std::move(req);
    call->req.set_max_wait_ms(static_cast<int32_t>(max_wait.count()));
    call->req.set_min_bytes(options_.fetch_min_bytes);
    call->req.set_max_bytes(options_.fetch_max_bytes);
    // A leader that has not answered attempt_timeout after its long-poll
    // wait is taken for gone (paused, cut off): the metadata is refreshed
    // and the next round asks whoever leads then.
    call->ctx.set_deadline(
        std::chrono::system_clock::now() + max_wait +
        std::min(options_.client.request_timeout, options_.client.attempt_timeout));
    Call* c = call.get();
    calls.push_back(std::move(call));
    auto ended = std::make_shared<Ended>(done);
    cluster_->At(address).data->async()->Fetch(
        &c->ctx, &c->req, &c->resp, [c, ended](grpc::Status s) { c->status = std::move(s); });
  }
  {
    std::unique_lock<std::mutex> l(done->mu);
    done->cv.wait(l, [&] { return done->ended == calls.size(); });
  }
  for (const std::unique_ptr<Call>& call : calls) {
    if (!call->status.ok()) {
      cluster_->InvalidateMetadata();
      continue;
    }
    for (const apipb::FetchPartitionResponse& p : call->resp.partitions()) {
      const TopicPartition tp{p.topic(), p.partition()};
      auto pos = positions_.find(tp);
      if (pos == positions_.end()) continue;
      if (p.error() == apipb::OFFSET_OUT_OF_RANGE) {
        if (absl::Status s = ResetPosition(tp); !s.ok()) return s;
        continue;
      }
      if (p.error() != apipb::ERROR_NONE) {
        if (p.error() == apipb::NOT_LEADER || p.error() == apipb::LEADER_NOT_AVAILABLE ||
            p.error() == apipb::UNKNOWN_TOPIC_OR_PARTITION) {
          cluster_->InvalidateMetadata();
        }
        continue;
      }
      const std::string& bytes = p.records();
      std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      std::deque<ConsumerRecord>& out = buffered_[tp];
      int64_t next = pos->second;
      while (!rest.empty()) {
        absl::StatusOr<size_t> size = storage::BatchSize(rest);
        if (!size.ok() || *size > rest.size()) break;  // a partial batch at the end: refetch
        std::span<const uint8_t> batch = rest.first(*size);
        rest = rest.subspan(*size);
        absl::StatusOr<storage::BatchHeader> h = storage::ParseBatchHeader(batch);
        storage::ValidateOptions vo;
        vo.allow_compacted = true;
        absl::StatusOr<std::vector<storage::Record>> records = storage::DecodeBatch(batch, vo);
        if (!h.ok() || !records.ok()) {
          return absl::DataLossError(absl::StrFormat(
              "%s-%d: fetched a damaged batch at offset %d: %s", tp.topic, tp.partition, next,
              (h.ok() ? records.status() : h.status()).message()));
        }
        if (!h->is_control()) {
          for (storage::Record& r : *records) {
            if (r.offset < next) continue;
            out.push_back(ConsumerRecord{tp.topic, tp.partition, r.offset, r.timestamp,
                                         std::move(r.key), std::move(r.value),
                                         std::move(r.headers)});
          }
        }
        next = std::max(next, h->next_offset());
      }
      // Nothing buffered (control or compacted-away records): move past them.
      if (out.empty()) pos->second = next;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ConsumerRecord>> Consumer::Poll(milliseconds timeout) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  bool group_mode;
  {
    std::lock_guard<std::mutex> l(mu_);
    group_mode = group_mode_;
  }
  if (group_mode && (rejoin_needed_ || generation_ < 0)) {
    if (absl::Status s = JoinAndSync(); !s.ok()) return s;
  }
  MaybeAutoCommit(/*force=*/false);
  const Clock::time_point deadline = Clock::now() + timeout;
  std::vector<ConsumerRecord> out;
  while (true) {
    for (auto& [tp, records] : buffered_) {
      while (!records.empty() && static_cast<int>(out.size()) < options_.max_poll_records) {
        positions_[tp] = records.front().offset + 1;
        out.push_back(std::move(records.front()));
        records.pop_front();
      }
    }
    if (!out.empty() || rejoin_needed_) return out;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return out;
    if (absl::Status s = FetchOnce(std::min(left, options_.fetch_max_wait)); !s.ok()) return s;
  }
}

absl::Status Consumer::Seek(const TopicPartition& tp, int64_t offset) {
  auto it = positions_.find(tp);
  if (it == positions_.end()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s-%d is not assigned to this consumer", tp.topic, tp.partition));
  }
  if (offset < 0) return absl::InvalidArgumentError("seek: negative offset");
  it->second = offset;
  buffered_.erase(tp);
  return absl::OkStatus();
}

absl::Status Consumer::SeekToBeginning(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& tp : partitions) {
    absl::StatusOr<int64_t> o = ListOffset(tp, /*earliest=*/true);
    if (!o.ok()) return o.status();
    if (absl::Status s = Seek(tp, *o); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Consumer::SeekToEnd(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& tp : partitions) {
    absl::StatusOr<int64_t> o = ListOffset(tp, /*earliest=*/false);
    if (!o.ok()) return o.status();
    if (absl::Status s = Seek(tp, *o); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Consumer::Position(const TopicPartition& tp) {
  auto it = positions_.find(tp);
  if (it == positions_.end()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s-%d is not assigned to this consumer", tp.topic, tp.partition));
  }
  return it->second;
}

std::map<TopicPartition, int64_t> Consumer::PositionsToCommit() const {
  std::map<TopicPartition, int64_t> out;
  for (const auto& [tp, pos] : positions_) {
    auto it = last_committed_.find(tp);
    if (it == last_committed_.end() || it->second != pos) out[tp] = pos;
  }
  return out;
}

absl::Status Consumer::CommitSync() { return CommitSync(PositionsToCommit()); }

absl::Status Consumer::CommitSync(const std::map<TopicPartition, int64_t>& offsets) {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("commit needs a group id");
  }
  if (offsets.empty()) return absl::OkStatus();
  apipb::OffsetCommitRequest req;
  req.set_group_id(options_.group_id);
  {
    std::lock_guard<std::mutex> l(mu_);
    req.set_member_id(group_mode_ ? member_id_ : "");
    req.set_generation(group_mode_ ? generation_ : -1);
  }
  for (const auto& [tp, offset] : offsets) {
    apipb::OffsetCommitPartition* p = req.add_offsets();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
    p->set_offset(offset);
  }
  absl::StatusOr<apipb::OffsetCommitResponse> r =
      cluster_->CallGroups(&apipb::GroupCoordinator::Stub::OffsetCommit, req);
  if (!r.ok()) return r.status();
  if (r->error() == apipb::ILLEGAL_GENERATION || r->error() == apipb::UNKNOWN_MEMBER_ID ||
      r->error() == apipb::REBALANCE_IN_PROGRESS) {
    rejoin_needed_ = true;
  }
  if (absl::Status e = ApiError(r->error(), r->error_message()); !e.ok()) return e;
  for (const auto& [tp, offset] : offsets) last_committed_[tp] = offset;
  last_commit_ = Clock::now();
  return absl::OkStatus();
}

void Consumer::CommitAsync(std::function<void(absl::Status)> done) {
  absl::Status s = CommitSync();
  if (done) done(s);
}

absl::StatusOr<std::map<TopicPartition, int64_t>> Consumer::Committed(
    const std::vector<TopicPartition>& partitions) {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("committed offsets need a group id");
  }
  absl::StatusOr<std::map<TopicPartition, int64_t>> all =
      AdminClient(cluster_).FetchGroupOffsets(options_.group_id);
  if (!all.ok()) return all.status();
  std::map<TopicPartition, int64_t> out;
  for (const TopicPartition& tp : partitions) {
    if (auto it = all->find(tp); it != all->end()) out[tp] = it->second;
  }
  return out;
}

void Consumer::MaybeAutoCommit(bool force) {
  if (!options_.enable_auto_commit || options_.group_id.empty()) return;
  if (!force && Clock::now() - last_commit_ < options_.auto_commit_interval) return;
  (void)CommitSync();  // a failed auto-commit is retried at the next interval
  last_commit_ = Clock::now();
}

void Consumer::Close() {
  if (closed_) return;
  closed_ = true;
  bool group_mode;
  std::string member;
  {
    std::lock_guard<std::mutex> l(mu_);
    group_mode = group_mode_;
    member = member_id_;
  }
  if (group_mode && generation_ >= 0) MaybeAutoCommit(/*force=*/true);
  StopHeartbeat();
  if (group_mode && !member.empty()) {
    apipb::LeaveGroupRequest req;
    req.set_group_id(options_.group_id);
    req.set_member_id(member);
    (void)cluster_->CallGroups(&apipb::GroupCoordinator::Stub::LeaveGroup, req);
  }
}

}  // namespace raftlog::client
