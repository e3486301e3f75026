// DataService: see data_service.h.
#include "broker/data_service.h"

#include <algorithm>
#include <span>
#include <utility>

#include "absl/strings/str_format.h"
#include "broker/fetch_response_encoder.h"
#include "storage/partition_log.h"
#include "storage/record_batch_header.h"
#include "storage/record_batch_reader.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::api::v1;
using std::chrono::milliseconds;

constexpr int64_t kDefaultPartitionMaxBytes = 1 << 20;
constexpr int64_t kDefaultFetchMaxBytes = 50 << 20;
// Keeps an answer under raftlogd's 64 MiB send limit (but for a first batch
// larger than this, up to max.message.bytes).
constexpr int64_t kMaxFetchBytes = 56 << 20;
constexpr milliseconds kDefaultProduceTimeout{30000};

// Time left before the call's deadline (huge when it has none).
milliseconds TimeLeft(const grpc::CallbackServerContext* ctx) {
  return std::chrono::duration_cast<milliseconds>(ctx->deadline() -
                                                  std::chrono::system_clock::now());
}

grpc::StatusCode GrpcCodeFor(pb::ErrorCode code) {
  switch (code) {
    case pb::NOT_LEADER:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case pb::LEADER_NOT_AVAILABLE:
    case pb::NODE_UNAVAILABLE:
      return grpc::StatusCode::UNAVAILABLE;
    case pb::UNKNOWN_TOPIC_OR_PARTITION:
      return grpc::StatusCode::NOT_FOUND;
    case pb::MESSAGE_TOO_LARGE:
    case pb::CORRUPT_MESSAGE:
    case pb::INVALID_REQUEST:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case pb::REQUEST_TIMED_OUT:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case pb::OFFSET_OUT_OF_RANGE:
    case pb::OUT_OF_ORDER_SEQUENCE_NUMBER:
      return grpc::StatusCode::OUT_OF_RANGE;
    case pb::INVALID_PRODUCER_EPOCH:
      return grpc::StatusCode::PERMISSION_DENIED;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

}  // namespace

struct DataService::FetchCall {
  grpc::CallbackServerContext* ctx;
  pb::FetchRequest req;
  grpc::ByteBuffer* resp;  // an encoded FetchResponse
  grpc::ServerUnaryReactor* reactor;
  FetchWaiters::Clock::time_point deadline;
};

DataService::DataService(Node* node, FetchWaiters* waiters, MetadataStateMachine* state,
                         DataServiceOptions options)
    : node_(node), waiters_(waiters), options_(std::move(options)), resolver_(state) {}

DataService::Route DataService::RouteTo(const std::string& topic, int32_t partition) {
  Route r;
  absl::StatusOr<PartitionTarget> target = resolver_.Resolve(topic, partition);
  if (!target.ok()) {
    r.message = std::string(target.status().message());
    if (absl::IsNotFound(target.status())) {
      r.error = pb::UNKNOWN_TOPIC_OR_PARTITION;
    } else if (absl::IsUnavailable(target.status())) {
      r.error = pb::NODE_UNAVAILABLE;
    } else {
      r.error = pb::STORAGE_ERROR;
      r.message = "reading the metadata failed: " + r.message;
    }
    return r;
  }
  r.max_message_bytes = target->max_message_bytes;
  std::shared_ptr<RaftGroup> g = node_->FindGroup(target->group);
  if (g == nullptr || g->partition_log() == nullptr) {
    // Not a replica here (or not created yet): the client must ask the
    // metadata who leads.
    r.error = pb::NOT_LEADER;
    r.message = absl::StrFormat("node %d holds no replica of %s-%d; leader unknown here",
                                node_->id().value(), topic, partition);
    return r;
  }
  if (!g->is_leader()) {
    r.leader = g->leader();
    if (r.leader == raft::kNoNode) {
      r.error = pb::LEADER_NOT_AVAILABLE;
      r.message =
          absl::StrFormat("%s-%d has no leader right now (election); retry", topic, partition);
    } else {
      r.error = pb::NOT_LEADER;
      r.message =
          absl::StrFormat("not leader of %s-%d; leader is %d", topic, partition, r.leader.value());
    }
    return r;
  }
  r.group = std::move(g);
  return r;
}

std::string DataService::AddressOf(raft::NodeId node, bool may_read_metadata) const {
  if (node == raft::kNoNode) return "";
  auto it = options_.peer_addresses.find(node);
  if (it != options_.peer_addresses.end()) return it->second;
  MetadataStateMachine* state = resolver_.state();
  if (may_read_metadata && state != nullptr) {
    if (absl::StatusOr<std::vector<mdpb::Broker>> brokers = state->ListBrokers(); brokers.ok()) {
      std::lock_guard<std::mutex> l(addresses_mu_);
      for (const mdpb::Broker& b : *brokers) {
        if (b.addresses_size() > 0) registered_addresses_[b.node_id()] = b.addresses(0);
      }
    }
  }
  std::lock_guard<std::mutex> l(addresses_mu_);
  auto known = registered_addresses_.find(node.value());
  return known == registered_addresses_.end() ? "" : known->second;
}

grpc::Status DataService::ProduceError(grpc::CallbackServerContext* ctx, pb::ErrorCode code,
                                       const std::string& message, raft::NodeId leader,
                                       bool on_loop) {
  ctx->AddTrailingMetadata("raftlog-error-code", pb::ErrorCode_Name(code));
  if (leader != raft::kNoNode) {
    ctx->AddTrailingMetadata("raftlog-leader-id", std::to_string(leader.value()));
    if (std::string address = AddressOf(leader, !on_loop); !address.empty()) {
      ctx->AddTrailingMetadata("raftlog-leader-address", address);
    }
  }
  return grpc::Status(GrpcCodeFor(code), message);
}

grpc::Status DataService::ProposeError(grpc::CallbackServerContext* ctx, const RaftGroup& group,
                                       const absl::Status& s) {
  const std::string message(s.message());
  switch (s.code()) {
    case absl::StatusCode::kFailedPrecondition:
      if (std::optional<raft::NodeId> leader = raft::LeaderHint(s)) {
        return ProduceError(ctx, pb::NOT_LEADER, message, *leader, true);
      }
      return ProduceError(ctx, pb::LEADER_NOT_AVAILABLE, message, raft::kNoNode, true);
    case absl::StatusCode::kAborted:
      // Definitely not stored: another leader's entry took its place.
      return ProduceError(ctx, pb::NOT_LEADER, message, group.leader(), true);
    case absl::StatusCode::kNotFound:
      return ProduceError(ctx, pb::NOT_LEADER, message, raft::kNoNode, true);
    case absl::StatusCode::kInvalidArgument:
      return ProduceError(ctx, pb::CORRUPT_MESSAGE, message, raft::kNoNode, true);
    case absl::StatusCode::kDeadlineExceeded:
      return ProduceError(ctx, pb::REQUEST_TIMED_OUT, message, raft::kNoNode, true);
    case absl::StatusCode::kUnavailable:
      return ProduceError(ctx, pb::NODE_UNAVAILABLE, message, raft::kNoNode, true);
    case absl::StatusCode::kOutOfRange:  // broker/idempotence.h's rejections
      return ProduceError(ctx, pb::OUT_OF_ORDER_SEQUENCE_NUMBER, message, raft::kNoNode, true);
    case absl::StatusCode::kPermissionDenied:
      return ProduceError(ctx, pb::INVALID_PRODUCER_EPOCH, message, raft::kNoNode, true);
    default:
      return ProduceError(ctx, pb::STORAGE_ERROR, message, raft::kNoNode, true);
  }
}

// ------------------------------ Produce ------------------------------

grpc::ServerUnaryReactor* DataService::Produce(grpc::CallbackServerContext* ctx,
                                               const pb::ProduceRequest* req,
                                               pb::ProduceResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto fail = [&](pb::ErrorCode code, const std::string& message,
                  raft::NodeId leader = raft::kNoNode) {
    reactor->Finish(ProduceError(ctx, code, message, leader));
    return reactor;
  };
  if (draining_.load()) {
    return fail(pb::NODE_UNAVAILABLE, "node is shutting down; retry on the new leader");
  }
  if (req->batches().empty()) return fail(pb::INVALID_REQUEST, "produce: no batches");
  Route route = RouteTo(req->topic(), req->partition());
  if (route.error != pb::ERROR_NONE) return fail(route.error, route.message, route.leader);
  for (int i = 0; i < req->batches_size(); ++i) {
    const int64_t size = static_cast<int64_t>(req->batches(i).size());
    if (size > route.max_message_bytes) {
      return fail(pb::MESSAGE_TOO_LARGE,
                  absl::StrFormat("batch %d has %d bytes; topic %s allows at most %d "
                                  "(max.message.bytes)",
                                  i, size, req->topic(), route.max_message_bytes));
    }
  }
  milliseconds timeout =
      req->timeout_ms() > 0 ? milliseconds(req->timeout_ms()) : kDefaultProduceTimeout;
  timeout = std::clamp(std::min({timeout, options_.max_produce_timeout, TimeLeft(ctx)}),
                       milliseconds(1), std::max(milliseconds(1), options_.max_produce_timeout));
  // The request object is gRPC's, not const itself, and nothing reads it
  // after this: move the batches into the proposal instead of copying them.
  auto* mutable_req = const_cast<pb::ProduceRequest*>(req);
  std::vector<std::string> entries;
  entries.reserve(req->batches_size());
  for (std::string& b : *mutable_req->mutable_batches()) entries.push_back(std::move(b));
  std::shared_ptr<RaftGroup> group = route.group;
  const GroupId id = group->id();
  const int64_t log_start = group->partition_log()->log_start_offset().value();

  auto answer = [this, ctx, reactor, resp, group, log_start](absl::StatusOr<ProposeResult> r) {
    // On the node's loop thread; Finish only queues the answer.
    if (!r.ok()) {
      reactor->Finish(ProposeError(ctx, *group, r.status()));
      return;
    }
    for (int64_t o : r->base_offsets) resp->add_base_offsets(o);
    resp->set_log_start_offset(log_start);
    reactor->Finish(grpc::Status::OK);
  };
  switch (req->acks()) {
    case pb::ACKS_NONE:
      node_->Propose(
          id, std::move(entries), [](absl::StatusOr<ProposeResult>) {}, timeout);
      resp->set_log_start_offset(-1);
      reactor->Finish(grpc::Status::OK);
      break;
    case pb::ACKS_LEADER: {
      // `appended` answers; `done` only answers a failure met before that.
      // Both run on the node's loop thread, so the flag needs no lock.
      auto once = [answer,
                   answered = std::make_shared<bool>(false)](absl::StatusOr<ProposeResult> r) {
        if (*answered) return;
        *answered = true;
        answer(std::move(r));
      };
      node_->Propose(id, std::move(entries), once, timeout, once);
      break;
    }
    default:  // ACKS_ALL (and values this server does not know: the safest)
      node_->Propose(id, std::move(entries), answer, timeout);
      break;
  }
  return reactor;
}

// ------------------------------ Fetch ------------------------------

grpc::ServerUnaryReactor* DataService::Fetch(grpc::CallbackServerContext* ctx,
                                             const grpc::ByteBuffer* raw_req,
                                             grpc::ByteBuffer* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto call = std::make_shared<FetchCall>(FetchCall{ctx, {}, resp, reactor, {}});
  grpc::ByteBuffer req_bytes(*raw_req);  // shares the slices; parsing consumes it
  if (grpc::Status s =
          grpc::SerializationTraits<pb::FetchRequest>::Deserialize(&req_bytes, &call->req);
      !s.ok()) {
    ctx->AddTrailingMetadata("raftlog-error-code", pb::ErrorCode_Name(pb::INVALID_REQUEST));
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "fetch: the request is not a FetchRequest: " + s.error_message()));
    return reactor;
  }
  const pb::FetchRequest* req = &call->req;
  if (req->max_wait_ms() < 0 || req->min_bytes() < 0 || req->max_bytes() < 0) {
    ctx->AddTrailingMetadata("raftlog-error-code", pb::ErrorCode_Name(pb::INVALID_REQUEST));
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "fetch: max_wait_ms, min_bytes and max_bytes must be >= 0"));
    return reactor;
  }
  const milliseconds wait = std::max(
      milliseconds(0),
      std::min({milliseconds(req->max_wait_ms()), options_.max_fetch_wait, TimeLeft(ctx)}));
  call->deadline = FetchWaiters::Clock::now() + wait;
  RunFetch(std::move(call));
  return reactor;
}

void DataService::RunFetch(std::shared_ptr<FetchCall> call) {
  if (call->ctx->IsCancelled()) {  // the client gave up while it waited
    call->reactor->Finish(grpc::Status::CANCELLED);
    return;
  }
  const uint64_t ticket = waiters_->Ticket();  // before any high watermark is read
  const pb::FetchRequest& req = call->req;
  FetchResponseEncoder resp;
  const int64_t max_bytes = std::min<int64_t>(
      req.max_bytes() > 0 ? req.max_bytes() : kDefaultFetchMaxBytes, kMaxFetchBytes);
  int64_t used = 0;
  bool any_error = false;
  std::vector<GroupId> groups;
  for (const pb::FetchPartition& p : req.partitions()) {
    pb::FetchPartitionResponse* out = resp.AddPartition();
    out->set_topic(p.topic());
    out->set_partition(p.partition());
    out->set_high_watermark(-1);
    out->set_last_stable_offset(-1);
    out->set_log_start_offset(-1);
    auto fail = [&](pb::ErrorCode code, std::string message, raft::NodeId leader) {
      any_error = true;
      out->set_error(code);
      out->set_error_message(std::move(message));
      if (leader != raft::kNoNode) {
        out->set_leader_id(leader.value());
        out->set_leader_address(AddressOf(leader));
      }
    };
    Route route = RouteTo(p.topic(), p.partition());
    if (route.error != pb::ERROR_NONE) {
      fail(route.error, route.message, route.leader);
      continue;
    }
    const storage::PartitionLog* log = route.group->partition_log();
    const int64_t hw = route.group->high_watermark();
    const int64_t start = log->log_start_offset().value();
    const int64_t end = log->next_offset().value();
    out->set_high_watermark(hw);
    out->set_last_stable_offset(hw);
    out->set_log_start_offset(start);
    if (p.offset() < start || p.offset() > end) {
      fail(pb::OFFSET_OUT_OF_RANGE,
           absl::StrFormat("offset %d is out of range for %s-%d; log start %d, high watermark %d",
                           p.offset(), p.topic(), p.partition(), start, hw),
           raft::kNoNode);
      continue;
    }
    groups.push_back(route.group->id());
    if (p.offset() >= hw || used >= max_bytes) continue;  // nothing committed to give
    const int64_t partition_max =
        p.partition_max_bytes() > 0 ? p.partition_max_bytes() : kDefaultPartitionMaxBytes;
    const int64_t budget = std::min(partition_max, max_bytes - used);
    storage::ReadOptions o;
    o.max_bytes = static_cast<size_t>(budget);
    o.max_offset = storage::Offset(hw);
    absl::StatusOr<storage::BatchView> v = log->ReadView(storage::Offset(p.offset()), o);
    if (!v.ok()) {
      if (absl::IsOutOfRange(v.status())) {  // retention moved the start meanwhile
        out->set_log_start_offset(log->log_start_offset().value());
        fail(pb::OFFSET_OUT_OF_RANGE, std::string(v.status().message()), raft::kNoNode);
      } else {
        fail(pb::STORAGE_ERROR, std::string(v.status().message()), raft::kNoNode);
      }
      continue;
    }
    // Only the first partition with data may exceed its budget (one whole
    // batch, so a consumer always progresses); later ones stay within it.
    if (used > 0 && static_cast<int64_t>(v->batches_bytes) > budget) continue;
    used += static_cast<int64_t>(v->batches_bytes);
    resp.SetRecords(*std::move(v));  // no copy: the answer owns the read buffer
  }
  const bool done = any_error || used >= req.min_bytes() || groups.empty() ||
                    FetchWaiters::Clock::now() >= call->deadline;
  if (done || !waiters_->Wait(ticket, groups, call->deadline, [this, call] { RunFetch(call); })) {
    *call->resp = resp.Finish();
    call->reactor->Finish(grpc::Status::OK);
  }
}

// ------------------------------ ListOffsets ------------------------------

grpc::ServerUnaryReactor* DataService::ListOffsets(grpc::CallbackServerContext* ctx,
                                                   const pb::ListOffsetsRequest* req,
                                                   pb::ListOffsetsResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  for (const pb::ListOffsetsPartition& p : req->partitions()) {
    pb::ListOffsetsPartitionResponse* out = resp->add_partitions();
    out->set_topic(p.topic());
    out->set_partition(p.partition());
    out->set_offset(-1);
    out->set_timestamp(-1);
    auto fail = [&](pb::ErrorCode code, std::string message, raft::NodeId leader) {
      out->set_error(code);
      out->set_error_message(std::move(message));
      if (leader != raft::kNoNode) {
        out->set_leader_id(leader.value());
        out->set_leader_address(AddressOf(leader));
      }
    };
    Route route = RouteTo(p.topic(), p.partition());
    if (route.error != pb::ERROR_NONE) {
      fail(route.error, route.message, route.leader);
      continue;
    }
    const storage::PartitionLog* log = route.group->partition_log();
    const int64_t hw = route.group->high_watermark();
    switch (p.spec()) {
      case pb::OFFSET_EARLIEST:
        out->set_offset(log->log_start_offset().value());
        continue;
      case pb::OFFSET_LATEST:
        out->set_offset(hw);
        continue;
      case pb::OFFSET_TIMESTAMP:
        break;
      default:
        fail(pb::INVALID_REQUEST, absl::StrFormat("unknown offset spec %d", p.spec()),
             raft::kNoNode);
        continue;
    }
    // The batch holding the first record at or after the time, then that
    // record inside it; only committed records count.
    absl::StatusOr<std::optional<storage::Offset>> at = log->OffsetForTimestamp(p.timestamp_ms());
    if (!at.ok()) {
      fail(pb::STORAGE_ERROR, std::string(at.status().message()), raft::kNoNode);
      continue;
    }
    if (!at->has_value() || (*at)->value() >= hw) continue;  // none: -1, -1
    storage::ReadOptions o;
    o.max_bytes = 1;  // just the first batch
    o.max_offset = storage::Offset(hw);
    absl::StatusOr<storage::BatchView> v = log->ReadView(**at, o);
    if (!v.ok() || v->batches.empty()) {
      fail(pb::STORAGE_ERROR, v.ok() ? "batch vanished" : std::string(v.status().message()),
           raft::kNoNode);
      continue;
    }
    const int64_t from = (*at)->value();
    absl::StatusOr<storage::BatchHeader> h = storage::ParseBatchHeader(v->batches[0]);
    if (!h.ok()) {
      fail(pb::STORAGE_ERROR, std::string(h.status().message()), raft::kNoNode);
      continue;
    }
    if (h->timestamp_type() == storage::TimestampType::kLogAppendTime) {
      // Every record carries the batch's time.
      out->set_offset(std::max(from, h->base_offset));
      out->set_timestamp(h->max_timestamp);
      continue;
    }
    storage::ValidateOptions vo;
    vo.allow_compacted = true;
    absl::StatusOr<std::vector<storage::Record>> records = storage::DecodeBatch(v->batches[0], vo);
    if (!records.ok()) {
      fail(pb::STORAGE_ERROR, std::string(records.status().message()), raft::kNoNode);
      continue;
    }
    for (const storage::Record& r : *records) {
      if (r.offset >= from && r.timestamp >= p.timestamp_ms()) {
        out->set_offset(r.offset);
        out->set_timestamp(r.timestamp);
        break;
      }
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace raftlog::broker
