// Transport::Impl: per-peer sender threads writing MessageBatches on one
// long-lived client stream each, and the RaftTransport service that receives
// the peers' streams. See transport.h for the contract.
//
// Invariants:
//  - Send() only takes the peer's mutex and never calls the sink (the caller
//    may hold its own locks); drops are reported to the sink by the peer's
//    sender thread, at most once per drop episode (an episode ends when a
//    batch is written).
//  - A peer's link is kDialling, kConnected or kBackingOff; while backing off
//    (the peer is known down) Send() drops at once instead of queueing.
//  - queued_bytes == sum of ApproximateWireSize over the peer's queue, and is
//    at most max_queue_bytes.
//  - After Stop() returns, no thread of the transport runs and the sink is
//    never called again (inbound handlers are cancelled and waited for).
//  - PeerStats::reconnects counts dial attempts after the first one.
#include "broker/transport.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "broker/transport_batch_encoder.h"
#include "broker/transport_codec.h"
#include "raftlog/transport/v1/transport.grpc.pb.h"

namespace raftlog::broker {
namespace {

using Clock = std::chrono::steady_clock;
using transport_pb::MessageBatch;
using transport_pb::RaftTransport;
using transport_pb::StreamSummary;

constexpr int kMaxMessageBytes = 64 << 20;
constexpr int kKeepaliveTimeMs = 1000;
constexpr int kKeepaliveTimeoutMs = 2000;
// The server side pings every connection (peers and clients alike) only to
// release the handlers of dead dialling peers; generous, so that a client on
// a loaded machine is not cut off for a late ping ack (the dialling side's
// own 1 s / 2 s keepalive is what detects a dead peer quickly).
constexpr int kServerKeepaliveTimeMs = 10000;
constexpr int kServerKeepaliveTimeoutMs = 10000;
// How long one dial may take before it counts as failed.
constexpr auto kConnectTimeout = std::chrono::milliseconds(2000);
// How often a dialling sender looks at the stop flags.
constexpr auto kPollSlice = std::chrono::milliseconds(50);
// How often an idle sender checks that its connection is still up.
constexpr auto kIdleCheck = std::chrono::milliseconds(250);
// A stream that lived this long resets the back-off when it breaks.
constexpr auto kStableStream = std::chrono::seconds(1);

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  // A fresh channel per dial must not inherit a shared subchannel's own
  // reconnect back-off: ours decides when to retry.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Exponential back-off with "equal jitter": a delay in [d/2, d] where d
// doubles from initial up to max.
class Backoff {
 public:
  Backoff(int initial_ms, int max_ms)
      : initial_ms_(std::max(1, initial_ms)),
        max_ms_(std::max(initial_ms_, max_ms)),
        current_ms_(initial_ms_),
        rng_(std::random_device{}()) {}

  std::chrono::milliseconds Next() {
    const int d = current_ms_;
    current_ms_ = std::min(max_ms_, current_ms_ * 2);
    std::uniform_int_distribution<int> jitter(0, d - d / 2);
    return std::chrono::milliseconds(d / 2 + jitter(rng_));
  }
  void Reset() { current_ms_ = initial_ms_; }

 private:
  const int initial_ms_;
  const int max_ms_;
  int current_ms_;
  std::mt19937 rng_;
};

// RaftTransport.Stream's full name (the generated stub's, which we cannot
// use: it writes MessageBatch objects, serialized by copying their payloads).
constexpr char kStreamMethod[] = "/raftlog.transport.v1.RaftTransport/Stream";

// One dialled stream. Members are destroyed writer first, channel last.
// The writer sends MessageBatches encoded by EncodeMessageBatch (entry
// payloads as slices, no copy); the receiving side parses them as usual.
struct OpenStream {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::ClientContext> context;
  StreamSummary summary;
  std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer;
};

}  // namespace

class Transport::Impl final : public RaftTransport::Service {
 public:
  Impl(TransportOptions options, TransportSink* sink);
  ~Impl() override { Stop(0); }

  void Start();
  void Stop(int flush_ms);
  void Send(raft::NodeId to, std::vector<GroupMessage> messages);
  std::vector<PeerStats> Stats() const;

  grpc::Status Stream(grpc::ServerContext* context, grpc::ServerReader<MessageBatch>* reader,
                      StreamSummary* summary) override;

 private:
  enum class Link { kDialling, kConnected, kBackingOff };
  enum class StreamEnd { kStopped, kBroken };

  struct Peer {
    raft::NodeId id;
    std::string address;
    mutable std::mutex mu;
    std::condition_variable cv;
    // Guarded by mu.
    std::vector<GroupMessage> queue;
    uint64_t queued_bytes = 0;
    Link link = Link::kDialling;
    bool unreachable_pending = false;        // a drop the sink has not heard of
    bool unreachable_reported = false;       // sink told since the last written batch
    bool stopping = false;                   // Stop(): flush, then close
    bool cancelled = false;                  // Stop() after the flush window
    grpc::ClientContext* context = nullptr;  // of the live call, for TryCancel
    PeerStats stats;
    std::thread thread;  // started by Start(), joined by Stop()
  };

  void RunSender(Peer& p);
  absl::StatusOr<std::unique_ptr<OpenStream>> Dial(Peer& p);
  StreamEnd RunStream(Peer& p, OpenStream& s);
  // Sleeps for `delay` unless stopped; false if stopped.
  bool SleepUnlessStopped(Peer& p, std::chrono::milliseconds delay);
  void DropLocked(Peer& p, uint64_t count);
  void DropQueueLocked(Peer& p);
  void NotifyUnreachable(std::unique_lock<std::mutex>& lock, Peer& p);
  grpc::Status ServeStream(grpc::ServerContext* context, grpc::ServerReader<MessageBatch>* reader,
                           StreamSummary* summary);
  bool InboundStopped() const;

  const TransportOptions options_;
  TransportSink* const sink_;
  std::vector<std::unique_ptr<Peer>> peers_;   // fixed after construction
  std::unordered_map<uint64_t, Peer*> by_id_;  // fixed after construction

  mutable std::mutex state_mu_;
  std::condition_variable state_cv_;
  // Guarded by state_mu_.
  bool started_ = false;
  bool stop_called_ = false;
  int running_senders_ = 0;
  std::set<grpc::ServerContext*> inbound_;  // live inbound streams
};

Transport::Impl::Impl(TransportOptions options, TransportSink* sink)
    : options_(std::move(options)), sink_(sink) {
  for (const TransportPeer& tp : options_.peers) {
    if (tp.id == options_.self) continue;
    if (by_id_.contains(tp.id.value())) {
      LOG(WARNING) << "transport: peer " << tp.id << " listed twice; keeping the first address";
      continue;
    }
    auto p = std::make_unique<Peer>();
    p->id = tp.id;
    p->address = tp.address;
    p->stats.id = tp.id;
    p->stats.address = tp.address;
    by_id_[tp.id.value()] = p.get();
    peers_.push_back(std::move(p));
  }
}

void Transport::Impl::Start() {
  std::lock_guard lock(state_mu_);
  if (started_ || stop_called_) return;
  started_ = true;
  running_senders_ = static_cast<int>(peers_.size());
  for (auto& p : peers_) {
    Peer* peer = p.get();
    p->thread = std::thread([this, peer] { RunSender(*peer); });
  }
}

void Transport::Impl::Stop(int flush_ms) {
  {
    std::lock_guard lock(state_mu_);
    if (stop_called_) return;
    stop_called_ = true;
    for (grpc::ServerContext* ctx : inbound_) ctx->TryCancel();
  }
  for (auto& p : peers_) {
    std::lock_guard lock(p->mu);
    p->stopping = true;
    p->cv.notify_all();
  }
  {
    std::unique_lock lock(state_mu_);
    state_cv_.wait_for(lock, std::chrono::milliseconds(std::max(0, flush_ms)),
                       [&] { return running_senders_ == 0; });
  }
  for (auto& p : peers_) {
    std::lock_guard lock(p->mu);
    p->cancelled = true;
    if (p->context != nullptr) p->context->TryCancel();
    p->cv.notify_all();
  }
  for (auto& p : peers_) {
    if (p->thread.joinable()) p->thread.join();
    std::lock_guard lock(p->mu);
    DropQueueLocked(*p);  // Send() before Start() and never started
  }
  std::unique_lock lock(state_mu_);
  state_cv_.wait(lock, [&] { return inbound_.empty(); });
}

void Transport::Impl::Send(raft::NodeId to, std::vector<GroupMessage> messages) {
  if (messages.empty()) return;
  auto it = by_id_.find(to.value());
  if (it == by_id_.end()) {
    LOG_EVERY_N(WARNING, 1000) << "transport: dropping " << messages.size()
                               << " message(s) to unknown peer " << to;
    return;
  }
  Peer& p = *it->second;
  std::lock_guard lock(p.mu);
  if (p.stopping || p.link == Link::kBackingOff) {
    DropLocked(p, messages.size());
    return;
  }
  uint64_t dropped = 0;
  for (GroupMessage& gm : messages) {
    if (gm.message.to != to) {
      LOG_EVERY_N(ERROR, 1000) << "transport: dropping a message of group " << gm.group
                               << " addressed to node " << gm.message.to << " sent to peer " << to;
      ++dropped;
      continue;
    }
    const uint64_t size = ApproximateWireSize(gm.message);
    if (p.queued_bytes + size > options_.max_queue_bytes) {
      ++dropped;
      continue;
    }
    p.queued_bytes += size;
    p.queue.push_back(std::move(gm));
  }
  if (dropped > 0) DropLocked(p, dropped);
  p.cv.notify_all();
}

std::vector<PeerStats> Transport::Impl::Stats() const {
  std::vector<PeerStats> out;
  out.reserve(peers_.size());
  for (const auto& p : peers_) {
    std::lock_guard lock(p->mu);
    out.push_back(p->stats);
  }
  return out;
}

void Transport::Impl::DropLocked(Peer& p, uint64_t count) {
  p.stats.messages_dropped += count;
  if (!p.unreachable_reported && !p.stopping) {
    p.unreachable_pending = true;
    p.cv.notify_all();
  }
}

void Transport::Impl::DropQueueLocked(Peer& p) {
  if (p.queue.empty()) return;
  const uint64_t n = p.queue.size();
  p.queue.clear();
  p.queued_bytes = 0;
  DropLocked(p, n);
}

void Transport::Impl::NotifyUnreachable(std::unique_lock<std::mutex>& lock, Peer& p) {
  if (!p.unreachable_pending) return;
  p.unreachable_pending = false;
  p.unreachable_reported = true;
  const uint64_t dropped = p.stats.messages_dropped;
  lock.unlock();
  LOG(WARNING) << "transport: messages to peer " << p.id << " (" << p.address << ") dropped ("
               << dropped << " in total); reporting it unreachable";
  sink_->PeerUnreachable(p.id);
  lock.lock();
}

bool Transport::Impl::SleepUnlessStopped(Peer& p, std::chrono::milliseconds delay) {
  const auto deadline = Clock::now() + delay;
  std::unique_lock lock(p.mu);
  while (true) {
    const bool woken = p.cv.wait_until(
        lock, deadline, [&] { return p.stopping || p.cancelled || p.unreachable_pending; });
    if (p.stopping || p.cancelled) return false;
    if (!woken) return true;
    NotifyUnreachable(lock, p);
  }
}

void Transport::Impl::RunSender(Peer& p) {
  Backoff backoff(options_.backoff_initial_ms, options_.backoff_max_ms);
  bool first_dial = true;
  bool logged_down = false;
  while (true) {
    {
      std::unique_lock lock(p.mu);
      NotifyUnreachable(lock, p);
      if (p.stopping || p.cancelled) break;
      p.link = Link::kDialling;
      if (!first_dial) ++p.stats.reconnects;
      first_dial = false;
    }
    absl::StatusOr<std::unique_ptr<OpenStream>> dialled = Dial(p);
    if (!dialled.ok()) {
      {
        std::lock_guard lock(p.mu);
        if (p.stopping || p.cancelled) break;
        p.link = Link::kBackingOff;
        DropQueueLocked(p);
      }
      if (!logged_down) {
        LOG(WARNING) << "transport: cannot reach peer " << p.id << " at " << p.address << ": "
                     << dialled.status() << "; retrying with back-off";
        logged_down = true;
      }
      if (!SleepUnlessStopped(p, backoff.Next())) break;
      continue;
    }
    OpenStream& s = **dialled;
    {
      std::lock_guard lock(p.mu);
      p.link = Link::kConnected;
      p.stats.connected = true;
    }
    LOG(INFO) << "transport: stream to peer " << p.id << " at " << p.address << " open";
    logged_down = false;
    const auto opened = Clock::now();
    const StreamEnd end = RunStream(p, s);
    {
      std::lock_guard lock(p.mu);
      p.context = nullptr;
      p.stats.connected = false;
      if (end == StreamEnd::kStopped || p.cancelled) break;
      p.link = Link::kBackingOff;
      DropQueueLocked(p);
    }
    dialled->reset();
    if (Clock::now() - opened >= kStableStream) backoff.Reset();
    if (!SleepUnlessStopped(p, backoff.Next())) break;
  }
  {
    std::lock_guard lock(p.mu);
    p.context = nullptr;
    p.stats.connected = false;
    p.link = Link::kBackingOff;
    DropQueueLocked(p);
  }
  std::lock_guard lock(state_mu_);
  --running_senders_;
  state_cv_.notify_all();
}

absl::StatusOr<std::unique_ptr<OpenStream>> Transport::Impl::Dial(Peer& p) {
  auto s = std::make_unique<OpenStream>();
  s->channel = MakeChannel(p.address);
  const auto deadline = Clock::now() + kConnectTimeout;
  while (true) {
    const grpc_connectivity_state state = s->channel->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY) break;
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      return absl::UnavailableError(absl::StrFormat("connecting to %s failed", p.address));
    }
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "not connected to %s within %d ms", p.address,
          std::chrono::duration_cast<std::chrono::milliseconds>(kConnectTimeout).count()));
    }
    {
      std::lock_guard lock(p.mu);
      if (p.stopping || p.cancelled) return absl::CancelledError("transport stopping");
    }
    // gRPC deadlines are system_clock time points.
    const auto slice = std::min<Clock::duration>(deadline - Clock::now(), kPollSlice);
    s->channel->WaitForStateChange(state, std::chrono::system_clock::now() + slice);
  }
  s->context = std::make_unique<grpc::ClientContext>();
  {
    std::lock_guard lock(p.mu);
    if (p.stopping || p.cancelled) return absl::CancelledError("transport stopping");
    p.context = s->context.get();
  }
  const grpc::internal::RpcMethod method(kStreamMethod, grpc::internal::RpcMethod::CLIENT_STREAMING,
                                         s->channel);
  s->writer.reset(grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(
      s->channel.get(), method, s->context.get(), &s->summary));
  return s;
}

Transport::Impl::StreamEnd Transport::Impl::RunStream(Peer& p, OpenStream& s) {
  const BatchHeader header{options_.cluster_id, options_.self, p.id};
  std::vector<GroupMessage> taken;
  while (true) {
    {
      std::unique_lock lock(p.mu);
      auto has_work = [&] {
        return !p.queue.empty() || p.stopping || p.cancelled || p.unreachable_pending;
      };
      // While idle, notice a lost connection (keepalive) without a write.
      while (!p.cv.wait_for(lock, kIdleCheck, has_work)) {
        lock.unlock();
        const grpc_connectivity_state state = s.channel->GetState(/*try_to_connect=*/false);
        if (state != GRPC_CHANNEL_READY) {
          s.context->TryCancel();  // the call is dead; make Finish() prompt
          s.writer->Finish();
          LOG(WARNING) << "transport: connection to peer " << p.id << " at " << p.address
                       << " lost (channel state " << static_cast<int>(state) << ")";
          return StreamEnd::kBroken;
        }
        lock.lock();
      }
      NotifyUnreachable(lock, p);
      if (p.cancelled) return StreamEnd::kStopped;  // the call is cancelled
      if (p.queue.empty()) {
        if (!p.stopping) continue;
        lock.unlock();
        s.writer->WritesDone();
        const grpc::Status status = s.writer->Finish();
        VLOG(1) << "transport: stream to peer " << p.id << " closed: " << status.error_message();
        return StreamEnd::kStopped;
      }
      taken.swap(p.queue);
      p.queued_bytes = 0;
    }
    std::vector<OutgoingBatch> batches = BuildOutgoingBatches(
        header, std::span<GroupMessage>(taken), options_.max_batch_bytes, kMinSliceBytes);
    taken.clear();
    for (size_t i = 0; i < batches.size(); ++i) {
      const int count = BatchMessageCount(batches[i].batch);
      const grpc::ByteBuffer wire = EncodeMessageBatch(&batches[i]);
      batches[i] = OutgoingBatch();  // `wire` holds the payloads it needs
      if (s.writer->Write(wire)) {
        std::lock_guard lock(p.mu);
        ++p.stats.batches_sent;
        p.stats.messages_sent += count;
        p.unreachable_reported = false;
        continue;
      }
      uint64_t lost = static_cast<uint64_t>(count);
      for (size_t j = i + 1; j < batches.size(); ++j) lost += BatchMessageCount(batches[j].batch);
      {
        std::lock_guard lock(p.mu);
        DropLocked(p, lost);
      }
      const grpc::Status status = s.writer->Finish();
      bool cancelled;
      {
        std::lock_guard lock(p.mu);
        cancelled = p.cancelled;
      }
      if (!cancelled) {
        LOG(WARNING) << "transport: stream to peer " << p.id << " at " << p.address
                     << " broke: status " << static_cast<int>(status.error_code()) << ": "
                     << status.error_message();
      }
      return StreamEnd::kBroken;
    }
  }
}

bool Transport::Impl::InboundStopped() const {
  std::lock_guard lock(state_mu_);
  return stop_called_;
}

grpc::Status Transport::Impl::Stream(grpc::ServerContext* context,
                                     grpc::ServerReader<MessageBatch>* reader,
                                     StreamSummary* summary) {
  {
    std::lock_guard lock(state_mu_);
    if (stop_called_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrFormat("node %d is shutting down", options_.self.value()));
    }
    inbound_.insert(context);
  }
  grpc::Status status = ServeStream(context, reader, summary);
  std::lock_guard lock(state_mu_);
  inbound_.erase(context);
  state_cv_.notify_all();
  return status;
}

grpc::Status Transport::Impl::ServeStream(grpc::ServerContext* context,
                                          grpc::ServerReader<MessageBatch>* reader,
                                          StreamSummary* summary) {
  const uint64_t self = options_.self.value();
  const grpc::Status unavailable(grpc::StatusCode::UNAVAILABLE,
                                 absl::StrFormat("node %d is shutting down", self));
  auto refuse = [&](grpc::StatusCode code, const std::string& message) {
    LOG(WARNING) << "transport: refusing stream from " << context->peer() << ": " << message;
    return grpc::Status(code, message);
  };
  uint64_t from = 0;
  uint64_t received = 0;
  MessageBatch batch;
  while (reader->Read(&batch)) {
    if (InboundStopped()) return unavailable;
    if (batch.cluster_id() != options_.cluster_id) {
      return refuse(
          grpc::StatusCode::FAILED_PRECONDITION,
          absl::StrFormat("cluster id mismatch: node %d sent cluster id \"%s\" but "
                          "node %d belongs to cluster \"%s\"",
                          batch.from_node(), batch.cluster_id(), self, options_.cluster_id));
    }
    if (batch.to_node() != self) {
      return refuse(grpc::StatusCode::FAILED_PRECONDITION,
                    absl::StrFormat("node id mismatch: node %d addressed its batch to node %d "
                                    "but this is node %d",
                                    batch.from_node(), batch.to_node(), self));
    }
    if (batch.from_node() == 0 || batch.from_node() == self) {
      return refuse(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrFormat("invalid from_node %d in a batch to node %d", batch.from_node(), self));
    }
    if (from == 0) {
      from = batch.from_node();
      LOG(INFO) << "transport: inbound stream from node " << from << " (" << context->peer() << ")";
    } else if (batch.from_node() != from) {
      return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                    absl::StrFormat("stream of node %d sent a batch with from_node %d", from,
                                    batch.from_node()));
    }
    absl::StatusOr<std::vector<GroupMessage>> messages = DecodeBatchConsuming(&batch);
    if (!messages.ok()) {
      return refuse(grpc::StatusCode::INVALID_ARGUMENT, std::string(messages.status().message()));
    }
    sink_->Deliver(raft::NodeId(from), *std::move(messages));
    summary->set_batches_received(++received);
  }
  if (InboundStopped()) return unavailable;
  VLOG(1) << "transport: inbound stream from node " << from << " ended after " << received
          << " batch(es)";
  return grpc::Status::OK;
}

Transport::Transport(TransportOptions options, TransportSink* sink)
    : impl_(std::make_unique<Impl>(std::move(options), sink)) {}

Transport::~Transport() { impl_->Stop(0); }

grpc::Service* Transport::service() { return impl_.get(); }

void Transport::Start() { impl_->Start(); }

void Transport::Stop(int flush_ms) { impl_->Stop(flush_ms); }

void Transport::Send(raft::NodeId to, std::vector<GroupMessage> messages) {
  impl_->Send(to, std::move(messages));
}

std::vector<PeerStats> Transport::Stats() const { return impl_->Stats(); }

void ConfigureTransportServer(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kKeepaliveTimeMs / 2);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Notice dead dialling peers too, so their handler threads are released.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kServerKeepaliveTimeMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kServerKeepaliveTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
}

}  // namespace raftlog::broker
