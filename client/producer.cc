// Producer: accumulator, sender thread and asynchronous Produce calls.
#include "client/producer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "client/partitioner.h"
#include "client/producer_request_encoder.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/client_callback.h"
#include "storage/record_batch_builder.h"

namespace raftlog::client {

using Clock = std::chrono::steady_clock;

namespace {

// DataService.Produce's full name (the generated stub would take a
// ProduceRequest object and copy the batches into it and out of it).
constexpr char kProduceMethod[] = "/raftlog.api.v1.DataService/Produce";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

size_t RecordBytes(const ProducerRecord& r) {
  size_t n = 24 + (r.key ? r.key->size() : 0) + (r.value ? r.value->size() : 0);
  for (const storage::RecordHeader& h : r.headers) {
    n += 8 + h.key.size() + (h.value ? h.value->size() : 0);
  }
  return n;
}

apipb::Acks ToProto(Acks a) {
  switch (a) {
    case Acks::kLeader:
      return apipb::ACKS_LEADER;
    case Acks::kNone:
      return apipb::ACKS_NONE;
    case Acks::kAll:
      break;
  }
  return apipb::ACKS_ALL;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(ProducerOptions options) {
  absl::StatusOr<std::shared_ptr<Cluster>> c = Cluster::Connect(options.client);
  if (!c.ok()) return c.status();
  return Create(*std::move(c), std::move(options));
}

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(std::shared_ptr<Cluster> cluster,
                                                           ProducerOptions options) {
  if (options.batch_size == 0 || options.max_request_size == 0 || options.buffer_memory == 0) {
    return absl::InvalidArgumentError(
        "producer: batch_size, max_request_size and buffer_memory must be positive");
  }
  int64_t producer_id = -1;
  if (options.idempotence && options.acks == Acks::kAll) {
    mdpb::AllocateProducerIdsRequest req;
    req.set_count(1);
    absl::StatusOr<mdpb::AllocateProducerIdsResponse> r =
        cluster->CallMetadata(&mdpb::MetadataService::Stub::AllocateProducerIds, req);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrFormat("producer: allocating a producer id for idempotence: %s",
                                          r.status().message()));
    }
    producer_id = r->block().first();
  }
  return std::unique_ptr<Producer>(
      new Producer(std::move(cluster), std::move(options), producer_id));
}

Producer::Producer(std::shared_ptr<Cluster> cluster, ProducerOptions options, int64_t producer_id)
    : cluster_(std::move(cluster)),
      options_(std::move(options)),
      producer_id_(producer_id),
      rng_state_(static_cast<uint64_t>(NowMs()) * 0x9E3779B97F4A7C15ull + 1) {
  sender_ = std::thread([this] { SenderLoop(); });
}

Producer::~Producer() { Close(options_.delivery_timeout); }

std::future<absl::StatusOr<RecordMetadata>> Producer::Send(ProducerRecord record) {
  auto p = std::make_shared<std::promise<absl::StatusOr<RecordMetadata>>>();
  std::future<absl::StatusOr<RecordMetadata>> f = p->get_future();
  Send(std::move(record), [p](absl::StatusOr<RecordMetadata> r) { p->set_value(std::move(r)); });
  return f;
}

absl::StatusOr<int32_t> Producer::ChoosePartition(const ProducerRecord& record,
                                                  Clock::time_point give_up) {
  // A topic in the cache needs no round trip (the sender refreshes stale
  // metadata); an unknown one waits for a refresh, at most until give_up.
  std::shared_ptr<const ClusterMetadata> md = cluster_->CachedMetadata();
  const TopicInfo* t = md != nullptr ? md->Topic(record.topic) : nullptr;
  if (t == nullptr) {
    absl::StatusOr<std::shared_ptr<const ClusterMetadata>> fresh =
        cluster_->MetadataBefore(/*refresh=*/true, give_up);
    if (!fresh.ok()) {
      return absl::Status(
          fresh.status().code(),
          absl::StrFormat("metadata for topic \"%s\" not available within max_block (%d ms): %s",
                          record.topic, options_.max_block.count(), fresh.status().message()));
    }
    md = *std::move(fresh);
    t = md->Topic(record.topic);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrFormat("unknown topic \"%s\"", record.topic));
    }
  }
  const int32_t n = static_cast<int32_t>(t->partitions.size());
  if (record.partition) {
    if (*record.partition < 0 || *record.partition >= n) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "topic \"%s\" has no partition %d (it has %d)", record.topic, *record.partition, n));
    }
    return *record.partition;
  }
  if (record.key) return PartitionForKey(*record.key, n);
  // Sticky: keep the partition while its open batch has room.
  std::lock_guard<std::mutex> l(mu_);
  auto it = sticky_.find(record.topic);
  if (it != sticky_.end() && it->second < n) {
    auto q = queues_.find({record.topic, it->second});
    if (q != queues_.end() && !q->second.batches.empty() &&
        !q->second.batches.back()->is_encoded() &&
        q->second.batches.back()->bytes < options_.batch_size) {
      return it->second;
    }
  }
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  int32_t p = static_cast<int32_t>(rng_state_ % static_cast<uint64_t>(n));
  if (n > 1 && it != sticky_.end() && p == it->second) p = (p + 1) % n;
  sticky_[record.topic] = p;
  return p;
}

void Producer::Send(ProducerRecord record, SendCallback done) {
  const size_t bytes = RecordBytes(record);
  if (bytes > options_.max_request_size) {
    done(absl::InvalidArgumentError(
        absl::StrFormat("MESSAGE_TOO_LARGE: record of about %d bytes exceeds max_request_size %d",
                        bytes, options_.max_request_size)));
    return;
  }
  // Kafka's max.block.ms: metadata and buffer space together.
  const Clock::time_point give_up = Clock::now() + options_.max_block;
  absl::StatusOr<int32_t> partition = ChoosePartition(record, give_up);
  if (!partition.ok()) {
    done(partition.status());
    return;
  }
  const int64_t ts = record.timestamp_ms.value_or(NowMs());
  std::unique_lock<std::mutex> l(mu_);
  if (closing_) {
    l.unlock();
    done(absl::FailedPreconditionError("producer is closed"));
    return;
  }
  if (!done_cv_.wait_until(l, give_up, [&] {
        return closing_ || buffered_bytes_ + bytes <= options_.buffer_memory ||
               buffered_bytes_ == 0;
      })) {
    l.unlock();
    done(absl::ResourceExhaustedError(absl::StrFormat("producer buffer full (%d bytes) for %d ms",
                                                      options_.buffer_memory,
                                                      options_.max_block.count())));
    return;
  }
  const TopicPartition tp{record.topic, *partition};
  PartitionQueue& q = queues_[tp];
  const bool new_batch = q.batches.empty() || q.batches.back()->is_encoded() ||
                         q.batches.back()->bytes + bytes > options_.batch_size;
  if (new_batch) {
    auto b = std::make_unique<Batch>();
    b->tp = tp;
    b->builder = std::make_unique<storage::BatchBuilder>();
    b->builder->set_compression(options_.compression);
    b->created = Clock::now();
    q.batches.push_back(std::move(b));
  }
  Batch& b = *q.batches.back();
  std::optional<std::string_view> key, value;
  if (record.key) key = *record.key;
  if (record.value) value = *record.value;
  b.builder->Add(key, value, ts, record.headers);
  b.records.push_back(Pending{std::move(done), ts});
  b.bytes += bytes;
  buffered_bytes_ += bytes;
  ++pending_records_;
  // Without linger, a record for an idle partition is sent from here: one
  // thread hand-off less on the path of a closed-loop producer (the sender
  // takes over for retries and queued batches).
  const bool send_here = options_.linger.count() <= 0 && !q.in_flight && q.batches.size() == 1 &&
                         Clock::now() >= q.retry_after && !closing_;
  // A new batch's linger deadline may come before the sender's next wake-up
  // (it sleeps up to 100 ms when idle): wake it to recompute.
  const bool wake = new_batch || b.bytes >= options_.batch_size;
  l.unlock();
  if (send_here && cluster_->FreshCachedMetadata() != nullptr) {
    SendPartition(tp);
    l.lock();
    // Not sent (the leader is unknown: retry after the back-off): the
    // sender's business now.
    const PartitionQueue& after = queues_[tp];
    const bool left = !after.in_flight && !after.batches.empty();
    l.unlock();
    if (left) cv_.notify_one();
    return;
  }
  if (wake) cv_.notify_one();
}

std::vector<TopicPartition> Producer::ReadyPartitions(Clock::time_point now,
                                                      Clock::time_point& next_wake) {
  std::vector<TopicPartition> ready;
  next_wake = now + std::chrono::milliseconds(100);
  for (auto& [tp, q] : queues_) {
    if (q.in_flight || q.batches.empty()) continue;
    const Batch& front = *q.batches.front();
    if (now < q.retry_after) {
      next_wake = std::min(next_wake, q.retry_after);
      continue;
    }
    const Clock::time_point linger_end = front.created + options_.linger;
    if (flushing_ > 0 || closing_ || q.batches.size() > 1 || front.is_encoded() ||
        front.bytes >= options_.batch_size || now >= linger_end) {
      ready.push_back(tp);
    } else {
      next_wake = std::min(next_wake, linger_end);
    }
  }
  return ready;
}

void Producer::SenderLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    if (!finished_calls_.empty()) {
      // Ended calls: their contexts are destroyed here, not on gRPC threads.
      std::vector<std::shared_ptr<ProduceCall>> ended;
      ended.swap(finished_calls_);
      l.unlock();
      ended.clear();
      l.lock();
      continue;
    }
    if (stopped_) return;
    Clock::time_point next_wake;
    std::vector<TopicPartition> ready = ReadyPartitions(Clock::now(), next_wake);
    // Calls unanswered for leader_check_after: check their leader (at most
    // once a second).
    const Clock::time_point now = Clock::now();
    bool stalled = false;
    for (const auto& [tp, q] : queues_) {
      if (q.call == nullptr) continue;
      Clock::time_point check = q.call->sent_at + options_.leader_check_after;
      if (check <= now) {
        stalled = true;
        check = last_leader_check_ + std::chrono::seconds(1);
      }
      next_wake = std::min(next_wake, check);
    }
    if (stalled && now - last_leader_check_ >= std::chrono::seconds(1)) {
      last_leader_check_ = Clock::now();
      l.unlock();
      CheckStalledCalls();
      l.lock();
      continue;
    }
    if (ready.empty()) {
      cv_.wait_until(l, std::max(next_wake, Clock::now() + std::chrono::milliseconds(1)));
      continue;
    }
    l.unlock();
    for (const TopicPartition& tp : ready) SendPartition(tp);
    l.lock();
  }
}

void Producer::CheckStalledCalls() {
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> md =
      cluster_->MetadataBefore(/*refresh=*/true, Clock::now() + options_.client.attempt_timeout);
  if (!md.ok()) return;
  std::vector<std::shared_ptr<ProduceCall>> moved;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [tp, q] : queues_) {
      if (q.call == nullptr || Clock::now() - q.call->sent_at < options_.leader_check_after) {
        continue;
      }
      absl::StatusOr<std::pair<uint64_t, std::string>> leader = (*md)->Leader(tp);
      if (leader.ok() && leader->first != q.call->leader) moved.push_back(q.call);
    }
  }
  // The partition has a new leader: the old one may never answer. The
  // cancelled call is retried there (same batches, same sequence numbers).
  for (const std::shared_ptr<ProduceCall>& call : moved) call->ctx.TryCancel();
}

absl::Status Producer::EncodeLocked(Batch& batch, PartitionQueue& queue) {
  if (batch.is_encoded()) return absl::OkStatus();
  if (producer_id_ >= 0) {
    batch.builder->set_producer(producer_id_, queue.epoch, queue.next_sequence);
    const int64_t next = int64_t{queue.next_sequence} + static_cast<int64_t>(batch.records.size());
    queue.next_sequence = static_cast<int32_t>(next > INT32_MAX ? next - INT32_MAX - 1 : next);
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = batch.builder->Build();
  if (!bytes.ok()) return bytes.status();
  batch.encoded = SliceOwning(*std::move(bytes));  // the built buffer itself
  batch.builder.reset();
  return absl::OkStatus();
}

void Producer::SendPartition(const TopicPartition& tp) {
  auto call = std::make_shared<ProduceCall>();
  std::vector<std::function<void()>> callbacks;
  size_t count = 0;
  Clock::time_point expires{};
  {
    std::lock_guard<std::mutex> l(mu_);
    PartitionQueue& q = queues_[tp];
    if (q.in_flight || q.batches.empty()) return;
    size_t total = 0;
    for (auto& b : q.batches) {
      if (absl::Status s = EncodeLocked(*b, q); !s.ok()) {
        if (count == 0) FailOrRetryLocked(tp, 1, s, /*retry=*/false, callbacks);
        break;
      }
      if (count > 0 && total + b->encoded.size() > options_.max_request_size) break;
      total += b->encoded.size();
      call->batches.push_back(b->encoded);  // a reference, not a copy
      ++count;
    }
    if (count > 0) {
      q.in_flight = true;
      ++calls_in_flight_;  // from here until the call has ended or the failure below
      expires = q.batches.front()->created + options_.delivery_timeout;
    }
  }
  RunCallbacks(callbacks);
  if (count == 0) return;

  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> md = cluster_->MetadataBefore(
      /*refresh=*/false, std::max(std::min(Clock::now() + options_.client.retry_timeout, expires),
                                  Clock::now() + std::chrono::milliseconds(100)));
  absl::StatusOr<std::pair<uint64_t, std::string>> leader =
      md.ok() ? (*md)->Leader(tp) : absl::StatusOr<std::pair<uint64_t, std::string>>(md.status());
  if (!leader.ok()) {
    cluster_->InvalidateMetadata();
    std::lock_guard<std::mutex> l(mu_);
    queues_[tp].in_flight = false;
    --calls_in_flight_;
    FailOrRetryLocked(tp, count, leader.status(), /*retry=*/true, callbacks);
    done_cv_.notify_all();
  } else {
    call->req.set_topic(tp.topic);
    call->req.set_partition(tp.partition);
    call->req.set_acks(ToProto(options_.acks));
    call->req.set_timeout_ms(static_cast<int32_t>(options_.client.request_timeout.count()));
    // Never past the first batch's delivery timeout (at least 100 ms).
    const Clock::time_point now = Clock::now();
    const Clock::time_point until =
        std::max(std::min(now + options_.client.request_timeout + std::chrono::seconds(1), expires),
                 now + std::chrono::milliseconds(100));
    call->ctx.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(until - now));
    call->leader = leader->first;
    call->sent_at = now;
    {
      std::lock_guard<std::mutex> l(mu_);
      PartitionQueue& q = queues_[tp];
      q.call = call;
      if (options_.acks == Acks::kNone) {
        // Fire and forget: complete now; the answer only unblocks the queue.
        for (size_t i = 0; i < count && i < q.batches.size(); ++i) {
          for (Pending& p : q.batches[i]->records) {
            if (!p.done) continue;
            SendCallback done = std::move(p.done);
            p.done = nullptr;
            DeferLocked(callbacks, [done, tp, ts = p.timestamp_ms] {
              done(RecordMetadata{tp.topic, tp.partition, -1, ts});
            });
          }
        }
      }
    }
    // Destroyed with the completion callback, after gRPC's last use of the
    // call on its thread: only then is the call over for Close (SHUTDOWN).
    struct Ended {
      Ended(Producer* p, std::shared_ptr<ProduceCall> c) : producer(p), call(std::move(c)) {}
      Ended(const Ended&) = delete;
      Ended& operator=(const Ended&) = delete;
      Producer* const producer;
      std::shared_ptr<ProduceCall> call;
      ~Ended() {
        std::lock_guard<std::mutex> l(producer->mu_);
        producer->finished_calls_.push_back(std::move(call));
        --producer->calls_in_flight_;
        // The sender destroys the context on its next wake-up (at most
        // 100 ms away; Close does it last): no thread switch per call.
        producer->done_cv_.notify_all();
      }
    };
    auto ended = std::make_shared<Ended>(this, call);
    ProduceCall* c = call.get();
    call.reset();
    // DataService.Produce with the request encoded here: the batches go out
    // as the slices the queue holds, no copy (producer_request_encoder.h).
    c->req_bytes = EncodeProduceRequest(c->req, c->batches);
    const std::shared_ptr<grpc::Channel>& channel = cluster_->At(leader->second).channel;
    const grpc::internal::RpcMethod method(kProduceMethod, grpc::internal::RpcMethod::NORMAL_RPC,
                                           channel);
    grpc::internal::CallbackUnaryCall<grpc::ByteBuffer, apipb::ProduceResponse>(
        channel.get(), method, &c->ctx, &c->req_bytes, &c->resp,
        [this, c, tp, count, ended](grpc::Status s) {
          std::string code;
          const auto& trailers = c->ctx.GetServerTrailingMetadata();
          if (auto it = trailers.find("raftlog-error-code"); it != trailers.end()) {
            code.assign(it->second.data(), it->second.size());
          }
          OnProduced(tp, count, s, c->resp, code);
        });
  }
  RunCallbacks(callbacks);
}

void Producer::OnProduced(const TopicPartition& tp, size_t count, const grpc::Status& status,
                          const apipb::ProduceResponse& resp, const std::string& error_code) {
  std::vector<std::function<void()>> callbacks;
  bool wake_sender = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    PartitionQueue& q = queues_[tp];
    q.in_flight = false;
    q.call.reset();  // the Ended guard keeps it until the call is over
    if (status.ok() || options_.acks == Acks::kNone) {
      for (size_t i = 0; i < count && !q.batches.empty(); ++i) {
        std::unique_ptr<Batch> b = std::move(q.batches.front());
        q.batches.pop_front();
        const int64_t base =
            i < static_cast<size_t>(resp.base_offsets_size()) ? resp.base_offsets(i) : -1;
        for (size_t j = 0; j < b->records.size(); ++j) {
          Pending& p = b->records[j];
          if (!p.done) continue;
          const int64_t offset = base < 0 ? -1 : base + static_cast<int64_t>(j);
          if (!status.ok()) {
            continue;  // acks=0: already completed
          }
          DeferLocked(callbacks, [done = std::move(p.done), tp, offset, ts = p.timestamp_ms] {
            done(RecordMetadata{tp.topic, tp.partition, offset, ts});
          });
        }
        buffered_bytes_ -= b->bytes;
        pending_records_ -= b->records.size();
      }
    } else {
      absl::Status err = FromGrpc(status);
      if (!error_code.empty()) {
        err = absl::Status(err.code(), absl::StrFormat("%s: %s", error_code, err.message()));
      }
      // Bad batches are not retried; everything else (not leader, no
      // leader, unreachable, unknown topic while metadata lags, timeouts)
      // is, after a metadata refresh.
      const bool retry = !absl::IsInvalidArgument(err);
      if (retry) cluster_->InvalidateMetadata();
      FailOrRetryLocked(tp, count, err, retry, callbacks);
    }
    wake_sender = !q.batches.empty() || flushing_ > 0 || closing_;
  }
  // The sender only has work if more batches wait (or a retry); otherwise
  // waking it would cost a thread switch before the callbacks run.
  if (wake_sender) cv_.notify_all();
  RunCallbacks(callbacks);
  done_cv_.notify_all();
}

void Producer::FailOrRetryLocked(const TopicPartition& tp, size_t count, const absl::Status& error,
                                 bool retry, std::vector<std::function<void()>>& callbacks) {
  PartitionQueue& q = queues_[tp];
  const Clock::time_point now = Clock::now();
  q.retry_after = now + options_.client.retry_backoff;
  // Front batches fail when not retried or past their delivery timeout;
  // the rest stay queued, in order.
  size_t failed = 0;
  bool sent_batch_expired = false;
  for (size_t i = 0; i < count && failed < q.batches.size(); ++i) {
    Batch& b = *q.batches[failed];
    const bool expired = now - b.created >= options_.delivery_timeout;
    if (retry && !expired) break;
    if (expired && b.is_encoded()) sent_batch_expired = true;
    for (Pending& p : b.records) {
      if (!p.done) continue;
      absl::Status why =
          expired && retry
              ? absl::DeadlineExceededError(absl::StrFormat(
                    "%s-%d: not acknowledged within the delivery timeout (%d ms); "
                    "last error: %s",
                    tp.topic, tp.partition, options_.delivery_timeout.count(), error.message()))
              : error;
      DeferLocked(callbacks, [done = std::move(p.done), why] { done(why); });
    }
    buffered_bytes_ -= b.bytes;
    pending_records_ -= b.records.size();
    ++failed;
  }
  q.batches.erase(q.batches.begin(), q.batches.begin() + failed);
  if (sent_batch_expired && producer_id_ >= 0) {
    // The expired batch's sequence numbers may or may not be stored, so the
    // ones after it can never line up again (the partition would refuse
    // every later batch as out of order). The batches already numbered
    // after it share that doubt: they fail as well (resending them under
    // new numbers could store them twice). The rest start a new epoch at
    // sequence 0, which the partition accepts (broker/producer_state.h).
    size_t numbered = 0;
    while (numbered < q.batches.size() && q.batches[numbered]->is_encoded()) ++numbered;
    const absl::Status why = absl::DeadlineExceededError(absl::StrFormat(
        "%s-%d: an earlier batch expired with its outcome unknown; this one was already "
        "numbered after it (last error: %s)",
        tp.topic, tp.partition, error.message()));
    for (size_t i = 0; i < numbered; ++i) {
      Batch& b = *q.batches[i];
      for (Pending& p : b.records) {
        if (p.done) DeferLocked(callbacks, [done = std::move(p.done), why] { done(why); });
      }
      buffered_bytes_ -= b.bytes;
      pending_records_ -= b.records.size();
    }
    q.batches.erase(q.batches.begin(), q.batches.begin() + numbered);
    if (q.epoch < std::numeric_limits<int16_t>::max()) ++q.epoch;
    q.next_sequence = 0;
  }
  done_cv_.notify_all();
}

void Producer::DeferLocked(std::vector<std::function<void()>>& callbacks,
                           std::function<void()> callback) {
  callbacks.push_back(std::move(callback));
  ++callbacks_running_;
}

void Producer::RunCallbacks(std::vector<std::function<void()>>& callbacks) {
  if (callbacks.empty()) return;
  for (auto& cb : callbacks) cb();
  {
    std::lock_guard<std::mutex> l(mu_);
    callbacks_running_ -= callbacks.size();
  }
  done_cv_.notify_all();
  callbacks.clear();
}

absl::Status Producer::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  ++flushing_;
  cv_.notify_all();
  // Done once every record is answered AND its callback has returned.
  const bool done = done_cv_.wait_for(
      l, timeout, [&] { return pending_records_ == 0 && callbacks_running_ == 0; });
  --flushing_;
  if (!done) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "flush: %d record(s) still unacknowledged after %d ms", pending_records_, timeout.count()));
  }
  return absl::OkStatus();
}

void Producer::Close(std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
  }
  (void)Flush(timeout);
  std::vector<std::function<void()>> callbacks;
  {
    std::unique_lock<std::mutex> l(mu_);
    closing_ = true;
    // In-flight calls end by their deadline; their callbacks use `this`.
    done_cv_.wait(l, [&] { return calls_in_flight_ == 0; });
    for (auto& [tp, q] : queues_) {
      FailOrRetryLocked(tp, q.batches.size(), absl::CancelledError("producer closed"),
                        /*retry=*/false, callbacks);
    }
    stopped_ = true;
  }
  cv_.notify_all();
  done_cv_.notify_all();
  if (sender_.joinable()) sender_.join();
  finished_calls_.clear();  // no call is running any more: no lock needed
  RunCallbacks(callbacks);
}

}  // namespace raftlog::client
