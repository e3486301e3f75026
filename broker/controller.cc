// Controller: see controller.h.
#include "broker/controller.h"

#include <algorithm>
#include <any>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"

namespace raftlog::broker {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kNotLeaderMessage[] = "not the metadata leader";
// How long past its deadline a caller waits for the node's own answer (the
// node fails a proposal or read at its timeout; this only covers a node that
// stopped answering).
constexpr milliseconds kWaitGrace{2000};
// Longest wait the liveness thread allows one fence proposal.
constexpr milliseconds kMaxFenceWait{5000};
// Slice of a cancellable wait.
constexpr milliseconds kWaitSlice{50};

// One answer handed from the node's loop thread to a waiting caller. Shared,
// so a caller that gave up leaves the callback a live object to fill.
template <typename T>
class OneShot {
 public:
  void Set(T value) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (value_) return;
      value_.emplace(std::move(value));
    }
    cv_.notify_all();
  }
  // The value, or nullopt if none came by `until` or `cancel` turned true.
  std::optional<T> Wait(SteadyClock::time_point until, const std::atomic<bool>* cancel) {
    std::unique_lock<std::mutex> l(mu_);
    while (!value_) {
      if (cancel != nullptr && cancel->load()) return std::nullopt;
      const SteadyClock::time_point now = SteadyClock::now();
      if (now >= until) return std::nullopt;
      cv_.wait_until(l, cancel == nullptr ? until : std::min(until, now + kWaitSlice));
    }
    return std::move(value_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

// The node-side timeout for an operation that must end by `deadline`.
milliseconds TimeoutUntil(Deadline deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::system_clock::now());
  return std::clamp(left, milliseconds(1), milliseconds(60000));
}

SteadyClock::time_point WaitUntil(milliseconds timeout) {
  return SteadyClock::now() + timeout + kWaitGrace;
}

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// 16 random bytes, not all zero.
std::string RandomTopicId() {
  std::random_device rd;
  std::string id(kTopicIdBytes, '\0');
  for (int attempt = 0; attempt < 8; ++attempt) {
    for (size_t i = 0; i < id.size(); i += 4) {
      const uint32_t r = rd();
      for (size_t j = 0; j < 4 && i + j < id.size(); ++j)
        id[i + j] = static_cast<char>(r >> (8 * j));
    }
    if (id != std::string(kTopicIdBytes, '\0')) return id;
  }
  id[0] = 1;  // never reached in practice; keeps the id valid regardless
  return id;
}

// A Propose/ReadIndex failure as the caller should see it.
absl::Status NodeFailure(const absl::Status& s, absl::string_view what) {
  // Not leading (nothing was proposed): FailedPrecondition from Propose,
  // Unavailable "no leader to confirm a read" from ReadIndex.
  if (s.code() == absl::StatusCode::kFailedPrecondition) return NotLeaderError();
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, " did not complete within the deadline: ", s.message()));
  }
  return s;
}

mdpb::TopicDescription Describe(mdpb::Topic topic) {
  mdpb::TopicDescription d;
  for (const auto& [k, v] : EffectiveTopicConfigs(topic)) (*d.mutable_effective_configs())[k] = v;
  *d.mutable_topic() = std::move(topic);
  return d;
}

absl::Status ValidateConfigs(const google::protobuf::Map<std::string, std::string>& configs) {
  // Sorted, so the first bad key reported is deterministic.
  std::map<std::string, std::string> sorted(configs.begin(), configs.end());
  for (const auto& [k, v] : sorted) {
    if (absl::Status s = ValidateTopicConfig(k, v); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RfTooLarge(int32_t rf, size_t live) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "replication factor %d is larger than the %d live broker%s", rf, live, live == 1 ? "" : "s"));
}

}  // namespace

absl::Status NotLeaderError() { return absl::UnavailableError(kNotLeaderMessage); }

bool IsNotLeaderError(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable && s.message() == kNotLeaderMessage;
}

Controller::Controller(Node* node, MetadataStateMachine* state, ControllerOptions options)
    : node_(node), state_(state), options_(std::move(options)) {
  liveness_ = std::thread([this] { LivenessLoop(); });
}

Controller::~Controller() {
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    stopping_.store(true);
  }
  stop_cv_.notify_all();
  liveness_.join();
}

bool Controller::IsLeader() const {
  std::shared_ptr<RaftGroup> g = node_->FindGroup(kMetadataGroup);
  return g != nullptr && g->is_leader();
}

absl::StatusOr<MetadataStateMachine*> Controller::State() const {
  MetadataStateMachine* s = state_.load(std::memory_order_acquire);
  if (s == nullptr) {
    return absl::UnavailableError("the metadata state is not open yet on this node (starting?)");
  }
  return s;
}

absl::StatusOr<ApplyResult> Controller::Commit(const mdpb::MetadataCommand& cmd, Deadline deadline,
                                               const std::atomic<bool>* cancel) {
  if (!IsLeader()) return NotLeaderError();
  auto answer = std::make_shared<OneShot<absl::StatusOr<ProposeResult>>>();
  const milliseconds timeout = TimeoutUntil(deadline);
  std::vector<std::string> entries;
  entries.push_back(cmd.SerializeAsString());
  node_->Propose(
      kMetadataGroup, std::move(entries),
      [answer](absl::StatusOr<ProposeResult> r) { answer->Set(std::move(r)); }, timeout);
  std::optional<absl::StatusOr<ProposeResult>> r = answer->Wait(WaitUntil(timeout), cancel);
  if (!r) {
    return absl::DeadlineExceededError(
        "metadata write not answered within the deadline; its outcome is unknown");
  }
  if (!r->ok()) return NodeFailure(r->status(), "metadata write (outcome unknown)");
  const ProposeResult& pr = **r;
  const ApplyResult* applied =
      pr.outcomes.size() == 1 ? std::any_cast<ApplyResult>(&pr.outcomes[0]) : nullptr;
  if (applied == nullptr) {
    return absl::InternalError("metadata write committed but its apply outcome is missing");
  }
  if (!applied->status.ok()) return applied->status;
  return *applied;
}

absl::StatusOr<MetadataStateMachine*> Controller::Barrier(Deadline deadline) {
  absl::StatusOr<MetadataStateMachine*> state = State();
  if (!state.ok()) return state.status();
  if (!IsLeader()) return NotLeaderError();
  auto answer = std::make_shared<OneShot<absl::StatusOr<raft::LogIndex>>>();
  const milliseconds timeout = TimeoutUntil(deadline);
  node_->ReadIndex(
      kMetadataGroup, [answer](absl::StatusOr<raft::LogIndex> r) { answer->Set(std::move(r)); },
      timeout);
  std::optional<absl::StatusOr<raft::LogIndex>> r = answer->Wait(WaitUntil(timeout), nullptr);
  if (!r) return absl::DeadlineExceededError("metadata read not confirmed within the deadline");
  if (!r->ok()) {
    // ReadIndex answers Unavailable when this replica knows no leader to
    // confirm with; as long as we do not lead, let the caller forward.
    if (r->status().code() == absl::StatusCode::kUnavailable && !IsLeader()) {
      return NotLeaderError();
    }
    return NodeFailure(r->status(), "metadata read");
  }
  return *state;
}

std::vector<uint64_t> Controller::LiveBrokers(const std::vector<mdpb::Broker>& brokers) {
  std::vector<uint64_t> live;
  for (const mdpb::Broker& b : brokers) {
    if (!b.fenced()) live.push_back(b.node_id());
  }
  std::sort(live.begin(), live.end());
  return live;
}

void Controller::RecordHeartbeat(uint64_t node_id) {
  std::lock_guard<std::mutex> l(mu_);
  last_heartbeat_[node_id] = SteadyClock::now();
}

void Controller::RecordLeadership(const mdpb::BrokerHeartbeatRequest& req) {
  std::set<uint64_t> reported;
  std::lock_guard<std::mutex> l(mu_);
  for (const mdpb::LedPartition& p : req.leading()) {
    reported.insert(p.group_id());
    Leadership& cur = leaders_[p.group_id()];
    if (p.term() >= cur.term) cur = Leadership{req.node_id(), p.term()};
  }
  for (auto it = leaders_.begin(); it != leaders_.end();) {
    if (it->second.node == req.node_id() && !reported.count(it->first)) {
      it = leaders_.erase(it);
    } else {
      ++it;
    }
  }
}

// ------------------------------------------------------------------ brokers

absl::StatusOr<mdpb::RegisterBrokerResponse> Controller::RegisterBroker(
    const mdpb::RegisterBrokerRequest& req, Deadline deadline) {
  mdpb::MetadataCommand cmd;
  mdpb::RegisterBroker* c = cmd.mutable_register_broker();
  c->set_node_id(req.node_id());
  *c->mutable_addresses() = req.addresses();
  c->set_time_ms(NowMs());
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  RecordHeartbeat(req.node_id());
  mdpb::RegisterBrokerResponse resp;
  if (r->broker) *resp.mutable_broker() = *r->broker;
  return resp;
}

absl::StatusOr<mdpb::BrokerHeartbeatResponse> Controller::BrokerHeartbeat(
    const mdpb::BrokerHeartbeatRequest& req, Deadline deadline) {
  absl::StatusOr<MetadataStateMachine*> state = State();
  if (!state.ok()) return state.status();
  if (!IsLeader()) return NotLeaderError();
  auto find = [&](MetadataStateMachine* s) -> absl::StatusOr<std::optional<mdpb::Broker>> {
    absl::StatusOr<std::vector<mdpb::Broker>> brokers = s->ListBrokers();
    if (!brokers.ok()) return brokers.status();
    for (mdpb::Broker& b : *brokers) {
      if (b.node_id() == req.node_id()) return std::move(b);
    }
    return std::nullopt;
  };
  auto usual = [&](const std::optional<mdpb::Broker>& b) {
    return b && !b->fenced() && (req.broker_epoch() == 0 || req.broker_epoch() == b->epoch());
  };
  absl::StatusOr<std::optional<mdpb::Broker>> broker = find(*state);
  if (!broker.ok()) return broker.status();
  if (!usual(*broker)) {
    // Anything but the usual answer is decided on linearizable state (this
    // replica may not have applied everything yet, e.g. just elected).
    state = Barrier(deadline);
    if (!state.ok()) return state.status();
    broker = find(*state);
    if (!broker.ok()) return broker.status();
  }
  if (!broker->has_value()) {
    return absl::NotFoundError(absl::StrFormat(
        "broker %d is not registered: register it (RegisterBroker) first", req.node_id()));
  }
  mdpb::Broker& b = **broker;
  if (req.broker_epoch() != 0 && req.broker_epoch() != b.epoch()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("stale broker epoch %d for broker %d (current %d): register again",
                        req.broker_epoch(), req.node_id(), b.epoch()));
  }
  RecordHeartbeat(req.node_id());
  RecordLeadership(req);
  mdpb::BrokerHeartbeatResponse resp;
  if (b.fenced()) {
    mdpb::MetadataCommand cmd;
    cmd.mutable_broker_heartbeat()->set_node_id(b.node_id());
    cmd.mutable_broker_heartbeat()->set_time_ms(NowMs());
    cmd.mutable_broker_heartbeat()->set_broker_epoch(b.epoch());
    absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
    if (!r.ok()) return r.status();
    if (r->broker) b = *r->broker;
    resp.set_unfenced(true);
    LOG(INFO) << "metadata controller: broker " << b.node_id() << " unfenced by its heartbeat";
  }
  *resp.mutable_broker() = std::move(b);
  resp.set_session_timeout_ms(options_.session_timeout.count());
  resp.set_metadata_leader(node_->id().value());
  return resp;
}

absl::StatusOr<mdpb::ListBrokersResponse> Controller::ListBrokers(const mdpb::ListBrokersRequest&,
                                                                  Deadline deadline) {
  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  absl::StatusOr<std::vector<mdpb::Broker>> brokers = (*state)->ListBrokers();
  if (!brokers.ok()) return brokers.status();
  mdpb::ListBrokersResponse resp;
  for (mdpb::Broker& b : *brokers) *resp.add_brokers() = std::move(b);
  resp.set_metadata_leader(node_->id().value());
  resp.set_session_timeout_ms(options_.session_timeout.count());
  const SteadyClock::time_point now = SteadyClock::now();
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [id, at] : last_heartbeat_) {
    (*resp.mutable_heartbeat_age_ms())[id] =
        std::chrono::duration_cast<milliseconds>(now - at).count();
  }
  return resp;
}

absl::StatusOr<mdpb::GetMetadataResponse> Controller::GetMetadata(
    const mdpb::GetMetadataRequest& req, Deadline deadline) {
  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  absl::StatusOr<std::vector<mdpb::Broker>> brokers = (*state)->ListBrokers();
  if (!brokers.ok()) return brokers.status();
  std::vector<mdpb::Topic> topics;
  if (req.topics().empty()) {
    absl::StatusOr<std::vector<mdpb::Topic>> all = (*state)->ListTopics();
    if (!all.ok()) return all.status();
    topics = *std::move(all);
  } else {
    for (const std::string& name :
         std::set<std::string>(req.topics().begin(), req.topics().end())) {
      absl::StatusOr<mdpb::Topic> t = (*state)->GetTopic(name);
      if (!t.ok()) return t.status();
      topics.push_back(*std::move(t));
    }
  }
  std::set<uint64_t> live;
  for (uint64_t id : LiveBrokers(*brokers)) live.insert(id);
  mdpb::GetMetadataResponse resp;
  resp.set_metadata_leader(node_->id().value());
  for (mdpb::Broker& b : *brokers) *resp.add_brokers() = std::move(b);
  std::lock_guard<std::mutex> l(mu_);
  for (const mdpb::Topic& t : topics) {
    mdpb::TopicMetadata* tm = resp.add_topics();
    tm->set_name(t.name());
    tm->set_topic_id(t.topic_id());
    for (const mdpb::Partition& p : t.partitions()) {
      mdpb::PartitionMetadata* pm = tm->add_partitions();
      pm->set_partition(p.partition());
      pm->set_group_id(p.group_id());
      *pm->mutable_replicas() = p.replicas();
      for (uint64_t r : p.replicas()) {
        if (!live.count(r)) pm->add_offline_replicas(r);
      }
      // This node's own replica knows its leader first-hand; otherwise
      // the latest heartbeat that reported one.
      Leadership known;
      if (auto it = leaders_.find(p.group_id()); it != leaders_.end()) known = it->second;
      if (std::shared_ptr<RaftGroup> g = node_->FindGroup(p.group_id()); g != nullptr) {
        const raft::NodeId local = g->leader();
        if (local != raft::kNoNode && g->term() >= known.term) {
          known = Leadership{local.value(), g->term()};
        }
      }
      if (known.node != 0 && live.count(known.node)) {
        pm->set_leader(known.node);
        pm->set_leader_term(known.term);
      }
    }
  }
  return resp;
}

// ------------------------------------------------------------------- topics

absl::StatusOr<mdpb::CreateTopicResponse> Controller::CreateTopic(
    const mdpb::CreateTopicRequest& req, Deadline deadline) {
  // Early, clear validation (apply validates again).
  if (absl::Status s = ValidateTopicName(req.name()); !s.ok()) return s;
  const int32_t partitions = req.partitions() == 0 ? 1 : req.partitions();
  if (partitions < 1 || partitions > kMaxPartitionsPerTopic) {
    return absl::InvalidArgumentError(
        absl::StrFormat("topic \"%s\": partitions must be in 1..%d, got %d", req.name(),
                        kMaxPartitionsPerTopic, req.partitions()));
  }
  if (req.replication_factor() < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("topic \"%s\": replication factor must be >= 1, got %d", req.name(),
                        req.replication_factor()));
  }
  if (absl::Status s = ValidateConfigs(req.configs()); !s.ok()) return s;

  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  absl::StatusOr<mdpb::Topic> existing = (*state)->GetTopic(req.name());
  if (existing.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("topic \"", req.name(), "\" already exists"));
  }
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  absl::StatusOr<std::vector<mdpb::Broker>> brokers = (*state)->ListBrokers();
  if (!brokers.ok()) return brokers.status();
  const std::vector<uint64_t> live = LiveBrokers(*brokers);
  const int32_t rf = req.replication_factor() != 0
                         ? req.replication_factor()
                         : std::max<int32_t>(1, std::min<int32_t>(3, live.size()));
  if (static_cast<size_t>(rf) > live.size()) return RfTooLarge(rf, live.size());
  absl::StatusOr<std::map<uint64_t, int64_t>> counts = (*state)->ReplicaCountsByBroker();
  if (!counts.ok()) return counts.status();
  absl::StatusOr<std::vector<mdpb::PartitionAssignment>> assignment =
      AssignReplicas(partitions, rf, live, *counts);
  if (!assignment.ok()) return assignment.status();

  mdpb::MetadataCommand cmd;
  mdpb::CreateTopic* c = cmd.mutable_create_topic();
  c->set_name(req.name());
  c->set_topic_id(RandomTopicId());
  c->set_partitions(partitions);
  c->set_replication_factor(rf);
  *c->mutable_configs() = req.configs();
  for (mdpb::PartitionAssignment& a : *assignment) *c->add_assignment() = std::move(a);
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  if (!r->topic) return absl::InternalError("topic created but its record is missing");
  LOG(INFO) << absl::StrFormat("metadata controller: created topic %s (%d partitions, rf %d)",
                               req.name(), partitions, rf);
  mdpb::CreateTopicResponse resp;
  *resp.mutable_topic() = Describe(*std::move(r->topic));
  return resp;
}

absl::StatusOr<mdpb::DeleteTopicResponse> Controller::DeleteTopic(
    const mdpb::DeleteTopicRequest& req, Deadline deadline) {
  if (absl::Status s = ValidateTopicName(req.name()); !s.ok()) return s;
  mdpb::MetadataCommand cmd;
  cmd.mutable_delete_topic()->set_name(req.name());
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  LOG(INFO) << "metadata controller: deleted topic " << req.name();
  return mdpb::DeleteTopicResponse();
}

absl::StatusOr<mdpb::ListTopicsResponse> Controller::ListTopics(const mdpb::ListTopicsRequest&,
                                                                Deadline deadline) {
  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  absl::StatusOr<std::vector<mdpb::Topic>> topics = (*state)->ListTopics();
  if (!topics.ok()) return topics.status();
  mdpb::ListTopicsResponse resp;
  for (mdpb::Topic& t : *topics) *resp.add_topics() = std::move(t);
  return resp;
}

absl::StatusOr<mdpb::DescribeTopicResponse> Controller::DescribeTopic(
    const mdpb::DescribeTopicRequest& req, Deadline deadline) {
  if (absl::Status s = ValidateTopicName(req.name()); !s.ok()) return s;
  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  absl::StatusOr<mdpb::Topic> topic = (*state)->GetTopic(req.name());
  if (!topic.ok()) return topic.status();
  mdpb::DescribeTopicResponse resp;
  *resp.mutable_topic() = Describe(*std::move(topic));
  return resp;
}

absl::StatusOr<mdpb::AlterTopicConfigResponse> Controller::AlterTopicConfig(
    const mdpb::AlterTopicConfigRequest& req, Deadline deadline) {
  if (absl::Status s = ValidateTopicName(req.name()); !s.ok()) return s;
  if (absl::Status s = ValidateConfigs(req.set()); !s.ok()) return s;
  for (const std::string& key : req.delete_keys()) {
    if (DefaultTopicConfigs().count(key) == 0) {
      // ValidateTopicConfig words the unknown-key error (with the known keys).
      return ValidateTopicConfig(key, DefaultTopicConfigs().begin()->second);
    }
    if (req.set().count(key) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("config key \"", key, "\" is both set and deleted"));
    }
  }
  if (req.set().empty() && req.delete_keys().empty()) {
    return absl::InvalidArgumentError("alter config: nothing to set or delete");
  }
  mdpb::MetadataCommand cmd;
  mdpb::AlterTopicConfig* c = cmd.mutable_alter_topic_config();
  c->set_name(req.name());
  *c->mutable_set() = req.set();
  *c->mutable_delete_keys() = req.delete_keys();
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  if (!r->topic) return absl::InternalError("topic altered but its record is missing");
  mdpb::AlterTopicConfigResponse resp;
  *resp.mutable_topic() = Describe(*std::move(r->topic));
  return resp;
}

absl::StatusOr<mdpb::CreatePartitionsResponse> Controller::CreatePartitions(
    const mdpb::CreatePartitionsRequest& req, Deadline deadline) {
  if (absl::Status s = ValidateTopicName(req.name()); !s.ok()) return s;
  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  absl::StatusOr<mdpb::Topic> topic = (*state)->GetTopic(req.name());
  if (!topic.ok()) return topic.status();
  const int32_t current = topic->partition_count();
  if (req.new_total() <= current) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "topic \"%s\" has %d partitions; the new count %d must be greater (partitions are "
        "never removed)",
        req.name(), current, req.new_total()));
  }
  if (req.new_total() > kMaxPartitionsPerTopic) {
    return absl::InvalidArgumentError(
        absl::StrFormat("topic \"%s\": new partition count %d exceeds the maximum %d", req.name(),
                        req.new_total(), kMaxPartitionsPerTopic));
  }
  absl::StatusOr<std::vector<mdpb::Broker>> brokers = (*state)->ListBrokers();
  if (!brokers.ok()) return brokers.status();
  const std::vector<uint64_t> live = LiveBrokers(*brokers);
  const int32_t rf = topic->replication_factor();
  if (static_cast<size_t>(rf) > live.size()) return RfTooLarge(rf, live.size());
  absl::StatusOr<std::map<uint64_t, int64_t>> counts = (*state)->ReplicaCountsByBroker();
  if (!counts.ok()) return counts.status();
  absl::StatusOr<std::vector<mdpb::PartitionAssignment>> assignment =
      AssignReplicas(req.new_total() - current, rf, live, *counts, current);
  if (!assignment.ok()) return assignment.status();

  mdpb::MetadataCommand cmd;
  mdpb::CreatePartitions* c = cmd.mutable_create_partitions();
  c->set_name(req.name());
  c->set_new_total(req.new_total());
  for (mdpb::PartitionAssignment& a : *assignment) *c->add_assignment() = std::move(a);
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  if (!r->topic) return absl::InternalError("partitions created but the topic record is missing");
  mdpb::CreatePartitionsResponse resp;
  *resp.mutable_topic() = Describe(*std::move(r->topic));
  return resp;
}

// ------------------------------------------------- consumer groups, producers

absl::StatusOr<mdpb::CommitOffsetsResponse> Controller::CommitOffsets(
    const mdpb::CommitOffsetsRequest& req, Deadline deadline) {
  mdpb::MetadataCommand cmd;
  mdpb::CommitOffsets* c = cmd.mutable_commit_offsets();
  c->set_group(req.group());
  c->set_generation(req.generation());
  *c->mutable_entries() = req.entries();
  c->set_time_ms(NowMs());
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  return mdpb::CommitOffsetsResponse();
}

absl::StatusOr<mdpb::FetchOffsetsResponse> Controller::FetchOffsets(
    const mdpb::FetchOffsetsRequest& req, Deadline deadline) {
  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  absl::StatusOr<std::vector<mdpb::CommittedOffset>> offsets =
      (*state)->GetCommittedOffsets(req.group());
  if (!offsets.ok()) return offsets.status();
  const std::set<std::string> topics(req.topics().begin(), req.topics().end());
  mdpb::FetchOffsetsResponse resp;
  for (mdpb::CommittedOffset& o : *offsets) {
    if (topics.empty() || topics.count(o.topic()) > 0) *resp.add_offsets() = std::move(o);
  }
  return resp;
}

absl::StatusOr<int64_t> Controller::DeleteGroupOffsets(const std::string& group,
                                                       Deadline deadline) {
  mdpb::MetadataCommand cmd;
  cmd.mutable_delete_group_offsets()->set_group(group);
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  if (!r->deleted_offsets) {
    return absl::InternalError("group offsets deleted but the apply outcome is missing");
  }
  LOG(INFO) << "metadata controller: deleted " << *r->deleted_offsets
            << " committed offset(s) of group " << group;
  return *r->deleted_offsets;
}

absl::StatusOr<std::vector<CommittedGroup>> Controller::ListCommittedGroups(Deadline deadline) {
  absl::StatusOr<MetadataStateMachine*> state = Barrier(deadline);
  if (!state.ok()) return state.status();
  return (*state)->ListCommittedGroups();
}

absl::StatusOr<mdpb::AllocateProducerIdsResponse> Controller::AllocateProducerIds(
    const mdpb::AllocateProducerIdsRequest& req, Deadline deadline) {
  if (req.count() < 1 || req.count() > kMaxProducerIdBlock) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "producer id block size must be in 1..%d, got %d", kMaxProducerIdBlock, req.count()));
  }
  mdpb::MetadataCommand cmd;
  cmd.mutable_allocate_producer_ids()->set_count(req.count());
  absl::StatusOr<ApplyResult> r = Commit(cmd, deadline);
  if (!r.ok()) return r.status();
  if (!r->producer_ids)
    return absl::InternalError("producer ids allocated but the block is missing");
  mdpb::AllocateProducerIdsResponse resp;
  *resp.mutable_block() = *r->producer_ids;
  return resp;
}

// ----------------------------------------------------------------- liveness

void Controller::CheckLiveness() {
  absl::StatusOr<MetadataStateMachine*> state = State();
  if (!state.ok()) return;
  if (!IsLeader()) {
    std::lock_guard<std::mutex> l(mu_);
    leader_term_ = 0;
    return;
  }
  absl::StatusOr<std::vector<GroupStatusInfo>> status = node_->Status({kMetadataGroup});
  if (!status.ok() || status->size() != 1 || (*status)[0].raft.role != raft::Role::kLeader) return;
  const uint64_t term = (*status)[0].raft.term.value();
  const SteadyClock::time_point now = SteadyClock::now();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (term != leader_term_) {
      // Newly leader: what the previous leader heard is lost; everyone gets
      // a full session of grace from now.
      leader_term_ = term;
      leader_since_ = now;
      last_heartbeat_.clear();
      LOG(INFO) << "metadata controller: leading in term " << term << "; brokers get "
                << options_.session_timeout.count() << " ms of grace";
    }
  }
  absl::StatusOr<std::vector<mdpb::Broker>> brokers = (*state)->ListBrokers();
  if (!brokers.ok()) {
    LOG(WARNING) << "metadata controller: cannot list brokers: " << brokers.status();
    return;
  }
  for (const mdpb::Broker& b : *brokers) {
    if (b.fenced() || stopping_.load()) continue;
    SteadyClock::time_point last;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = last_heartbeat_.find(b.node_id());
      last = it == last_heartbeat_.end() ? leader_since_ : std::max(leader_since_, it->second);
    }
    const auto silent = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - last);
    if (silent <= options_.session_timeout) continue;
    mdpb::MetadataCommand cmd;
    cmd.mutable_fence_broker()->set_node_id(b.node_id());
    cmd.mutable_fence_broker()->set_broker_epoch(b.epoch());
    const Deadline deadline =
        std::chrono::system_clock::now() + std::min(options_.session_timeout, kMaxFenceWait);
    absl::StatusOr<ApplyResult> r = Commit(cmd, deadline, &stopping_);
    if (r.ok()) {
      LOG(WARNING) << absl::StrFormat(
          "metadata controller: fenced broker %d (no heartbeat for %d ms, session timeout %d ms)",
          b.node_id(), silent.count(), options_.session_timeout.count());
    } else if (!IsNotLeaderError(r.status())) {
      // A stale epoch means it re-registered meanwhile: nothing to do.
      VLOG(1) << "metadata controller: fencing broker " << b.node_id() << ": " << r.status();
    }
  }
}

void Controller::LivenessLoop() {
  milliseconds period = options_.check_period;
  if (period <= milliseconds(0)) {
    period = std::clamp(options_.session_timeout / 4, milliseconds(10), milliseconds(2000));
  }
  std::unique_lock<std::mutex> l(stop_mu_);
  while (!stopping_.load()) {
    stop_cv_.wait_for(l, period, [this] { return stopping_.load(); });
    if (stopping_.load()) break;
    l.unlock();
    CheckLiveness();
    l.lock();
  }
}

}  // namespace raftlog::broker
