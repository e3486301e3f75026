// Consumer: group membership, positions, fetching and commits.
#include "client/consumer.h"

#include <algorithm>
#include <atomic>
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
    : cluster_(std::move(cluster)),
      options_(std::move(options)),
      fetch_done_(std::make_shared<FetchDone>()),
      last_commit_(Clock::now()) {}

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
  DropAllPartitions();
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
  Invalidate(tp);
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
      Invalidate(tp);
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
  DropAllPartitions();
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
      {
        std::lock_guard<std::mutex> l(mu_);
        generation_ = -1;
        rejoin_needed_ = true;
      }
      DropAllPartitions();
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

// A Fetch to one leader, in flight or ended and not yet taken in. The
// completion callback only stores the status; an Ended guard riding in it
// queues the call on FetchDone when destroyed, after gRPC's last use of the
// call on its thread. Calls are taken in and destroyed by the consumer's
// thread (CollectFetches, CancelAllFetches), so no gRPC work of ours
// outlives the Consumer, nor its Cluster's channels (see the header).
struct Consumer::FetchCall {
  std::string address;
  grpc::ClientContext ctx;
  apipb::FetchRequest req;
  apipb::FetchResponse resp;
  grpc::Status status;
  std::vector<std::pair<TopicPartition, uint64_t>> epochs;  // as sent
  bool cancelled = false;
};

struct Consumer::FetchDone {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<FetchCall*> ended;  // not yet taken in
};

void Consumer::Invalidate(const TopicPartition& tp) {
  epochs_[tp] = ++last_epoch_;
  if (buffered_.erase(tp) > 0) {
    ready_.erase(std::remove(ready_.begin(), ready_.end(), tp), ready_.end());
  }
  // A Fetch in flight for it would answer for the old position: cancel it
  // (it may be long-polling) so the next one can go to that leader at once.
  if (auto it = fetching_.find(tp); it != fetching_.end() && !it->second->cancelled) {
    it->second->cancelled = true;
    it->second->ctx.TryCancel();
  }
}

void Consumer::DropAllPartitions() {
  for (const auto& [tp, pos] : positions_) Invalidate(tp);
  positions_.clear();
  epochs_.clear();  // last_epoch_ keeps rising: a partition assigned again gets a new epoch
  buffered_.clear();
  ready_.clear();
}

absl::Status Consumer::SendFetches(milliseconds max_wait) {
  std::vector<TopicPartition> order;
  for (const auto& [tp, pos] : positions_) {
    if (!buffered_.contains(tp) && !fetching_.contains(tp)) order.push_back(tp);
  }
  if (order.empty()) return absl::OkStatus();
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> md = cluster_->Metadata();
  if (!md.ok()) return md.status();
  std::rotate(order.begin(), order.begin() + (rotate_++ % order.size()), order.end());
  std::map<std::string, std::unique_ptr<FetchCall>> calls;
  bool missing_leader = false;
  for (const TopicPartition& tp : order) {
    absl::StatusOr<std::pair<uint64_t, std::string>> leader = (*md)->Leader(tp);
    if (!leader.ok()) {
      missing_leader = true;
      continue;
    }
    if (in_flight_.contains(leader->second)) continue;  // one Fetch per leader at a time
    std::unique_ptr<FetchCall>& call = calls[leader->second];
    if (call == nullptr) call = std::make_unique<FetchCall>();
    apipb::FetchPartition* p = call->req.add_partitions();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
    p->set_offset(positions_[tp]);
    p->set_partition_max_bytes(options_.partition_max_bytes);
    call->epochs.emplace_back(tp, epochs_[tp]);
    // The response is parsed into the message given here, and a bytes field
    // keeps its string's capacity: hand it a used-up buffer, so a 1 MB
    // answer lands in memory already mapped (no page faults, no munmap).
    // Only a buffer no handed-out record still views can be reused.
    auto spare =
        std::find_if(spare_bytes_.begin(), spare_bytes_.end(),
                     [](const std::shared_ptr<std::string>& b) { return b.use_count() == 1; });
    if (spare != spare_bytes_.end()) {
      // use_count() reads the count relaxed: this fence orders our reuse
      // after the reads of whichever thread dropped the last other reference.
      std::atomic_thread_fence(std::memory_order_acquire);
      (*spare)->clear();
      call->resp.add_partitions()->mutable_records()->swap(**spare);
      spare_bytes_.erase(spare);
    }
  }
  if (missing_leader) cluster_->InvalidateMetadata();
  // Long-poll only when there is nothing left to hand out: a Fetch that
  // waits at the broker for data of a caught-up partition would otherwise
  // hold its leader's slot while this consumer runs dry on its other
  // partitions there. With max_wait 0 it answers at once; a Fetch sent with
  // nothing buffered covers every partition of its leader, so any new data
  // there ends the wait.
  if (!buffered_.empty()) max_wait = milliseconds(0);
  struct Ended {
    Ended(std::shared_ptr<FetchDone> d, FetchCall* c) : done(std::move(d)), call(c) {}
    Ended(const Ended&) = delete;
    Ended& operator=(const Ended&) = delete;
    ~Ended() {
      std::lock_guard<std::mutex> l(done->mu);
      done->ended.push_back(call);
      done->cv.notify_all();
    }
    const std::shared_ptr<FetchDone> done;
    FetchCall* const call;
  };
  for (auto& [address, call] : calls) {
    FetchCall* c = call.get();
    c->address = address;
    c->req.set_max_wait_ms(static_cast<int32_t>(max_wait.count()));
    c->req.set_min_bytes(options_.fetch_min_bytes);
    c->req.set_max_bytes(options_.fetch_max_bytes);
    // A leader that has not answered attempt_timeout after its long-poll
    // wait is taken for gone (paused, cut off): the metadata is refreshed
    // and the next round asks whoever leads then.
    c->ctx.set_deadline(std::chrono::system_clock::now() + max_wait +
                        std::min(options_.client.request_timeout, options_.client.attempt_timeout));
    for (const auto& [tp, epoch] : c->epochs) fetching_[tp] = c;
    in_flight_[address] = std::move(call);
    auto ended = std::make_shared<Ended>(fetch_done_, c);
    cluster_->At(address).data->async()->Fetch(
        &c->ctx, &c->req, &c->resp, [c, ended](grpc::Status s) { c->status = std::move(s); });
  }
  return absl::OkStatus();
}

absl::Status Consumer::CollectFetches(std::optional<Clock::time_point> until) {
  std::vector<FetchCall*> ended;
  {
    std::unique_lock<std::mutex> l(fetch_done_->mu);
    if (until) fetch_done_->cv.wait_until(l, *until, [&] { return !fetch_done_->ended.empty(); });
    ended.swap(fetch_done_->ended);
  }
  absl::Status first;
  for (FetchCall* c : ended) {
    auto it = in_flight_.find(c->address);
    std::unique_ptr<FetchCall> call = std::move(it->second);
    in_flight_.erase(it);
    for (const auto& [tp, epoch] : call->epochs) fetching_.erase(tp);
    if (absl::Status s = HandleFetched(*call); !s.ok() && first.ok()) first = s;
  }
  return first;
}

absl::Status Consumer::HandleFetched(FetchCall& call) {
  if (!call.status.ok()) {
    if (!call.cancelled) cluster_->InvalidateMetadata();
    return absl::OkStatus();
  }
  for (apipb::FetchPartitionResponse& p : *call.resp.mutable_partitions()) {
    const TopicPartition tp{p.topic(), p.partition()};
    auto pos = positions_.find(tp);
    auto epoch = epochs_.find(tp);
    auto sent = std::find_if(call.epochs.begin(), call.epochs.end(),
                             [&](const auto& e) { return e.first == tp; });
    // Not assigned any more, or moved since the Fetch was sent: stale.
    if (pos == positions_.end() || epoch == epochs_.end() || sent == call.epochs.end() ||
        sent->second != epoch->second) {
      continue;
    }
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
    if (p.records().empty()) continue;
    Buffer& buf = buffered_[tp];
    buf.bytes = std::make_shared<std::string>(std::move(*p.mutable_records()));
    buf.batch_next_offset = pos->second;
    ready_.push_back(tp);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Consumer::Drain(const TopicPartition& tp, Buffer& buf,
                                     std::vector<ConsumerRecord>& out) {
  const size_t max = static_cast<size_t>(options_.max_poll_records);
  int64_t& position = positions_[tp];
  const auto share = [&buf](const std::optional<std::string_view>& v) -> std::optional<Bytes> {
    if (!v) return std::nullopt;
    return Bytes(buf.pending_owner, *v);
  };
  std::vector<storage::RecordView>& pending = buf.pending.records;
  while (true) {
    while (buf.pending_next < pending.size() && out.size() < max) {
      storage::RecordView& r = pending[buf.pending_next++];
      if (r.offset < position) continue;  // before the fetch offset, in its batch
      position = r.offset + 1;
      if (out.capacity() == 0) out.reserve(max);
      out.push_back(ConsumerRecord{tp.topic, tp.partition, r.offset, r.timestamp, share(r.key),
                                   share(r.value), std::move(r.headers)});
    }
    if (buf.pending_next < pending.size()) return false;  // max_poll_records reached
    // The decoded batch is used up: move past it (control records, and
    // records compaction removed at its end).
    position = std::max(position, buf.batch_next_offset);
    pending.clear();
    buf.pending_next = 0;
    buf.pending_owner.reset();
    if (buf.pos >= buf.bytes->size()) return true;
    if (out.size() >= max) return false;
    std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(buf.bytes->data()) + buf.pos,
                                  buf.bytes->size() - buf.pos);
    absl::StatusOr<size_t> size = storage::BatchSize(rest);
    if (!size.ok() || *size > rest.size()) return true;  // a partial batch at the end: refetch
    storage::ValidateOptions vo;
    vo.allow_compacted = true;
    // One pass: header, CRC and every record, with views into the batch.
    if (absl::Status s = storage::DecodeBatchViews(rest.first(*size), vo, buf.pending); !s.ok()) {
      // Left in place: the next Poll that reaches it reports it again.
      return absl::DataLossError(absl::StrFormat("%s-%d: fetched a damaged batch at offset %d: %s",
                                                 tp.topic, tp.partition, position, s.message()));
    }
    buf.pos += *size;
    buf.batch_next_offset = buf.pending.header.next_offset();
    if (buf.pending.header.is_control()) {
      pending.clear();
    } else if (!buf.pending.decompressed.empty()) {
      // Compressed: the views point into the decompressed records, which
      // the records handed out now share (moving the vector keeps them).
      buf.pending_owner =
          std::make_shared<const std::vector<uint8_t>>(std::move(buf.pending.decompressed));
      buf.pending.decompressed.clear();
    } else {
      buf.pending_owner = buf.bytes;
    }
  }
}

void Consumer::CancelAllFetches() {
  for (auto& [address, call] : in_flight_) {
    if (!call->cancelled) {
      call->cancelled = true;
      call->ctx.TryCancel();
    }
  }
  {
    std::unique_lock<std::mutex> l(fetch_done_->mu);
    fetch_done_->cv.wait(l, [&] { return fetch_done_->ended.size() == in_flight_.size(); });
    fetch_done_->ended.clear();
  }
  fetching_.clear();
  in_flight_.clear();
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
    if (absl::Status s = CollectFetches(std::nullopt); !s.ok()) return s;
    // Partitions in the order their data arrived; one that stops at
    // max_poll_records stays first for the next Poll.
    while (!ready_.empty() && out.size() < static_cast<size_t>(options_.max_poll_records)) {
      const TopicPartition tp = ready_.front();
      absl::StatusOr<bool> used_up = Drain(tp, buffered_.at(tp), out);
      if (!used_up.ok()) {
        if (out.empty()) return used_up.status();
        break;  // return what came before the damaged batch first
      }
      if (!*used_up) break;
      auto used = buffered_.find(tp);
      if (spare_bytes_.size() < positions_.size()) {
        spare_bytes_.push_back(std::move(used->second.bytes));
      }
      buffered_.erase(used);
      ready_.pop_front();
    }
    if (rejoin_needed_) return out;
    // Prefetch: the next batches travel while these are handled.
    absl::Status sent = SendFetches(options_.fetch_max_wait);
    if (!out.empty()) return out;  // a failed send is retried by the next Poll
    if (!sent.ok()) return sent;
    const Clock::duration left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return out;
    if (in_flight_.empty()) {  // nothing assigned, or no leader known
      std::this_thread::sleep_for(
          std::min<Clock::duration>(left, positions_.empty() ? Clock::duration(milliseconds(100))
                                                             : options_.client.retry_backoff));
      continue;
    }
    if (absl::Status s = CollectFetches(deadline); !s.ok()) return s;
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
  Invalidate(tp);
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
  CancelAllFetches();
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
