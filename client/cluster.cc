// Cluster: channels, metadata cache and any-broker calls.
#include "client/cluster.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace raftlog::client {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

const TopicInfo* ClusterMetadata::Topic(const std::string& name) const {
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : &it->second;
}

absl::StatusOr<std::pair<uint64_t, std::string>> ClusterMetadata::Leader(
    const TopicPartition& tp) const {
  const TopicInfo* t = Topic(tp.topic);
  if (t == nullptr) return absl::NotFoundError(absl::StrFormat("unknown topic \"%s\"", tp.topic));
  if (tp.partition < 0 || tp.partition >= static_cast<int32_t>(t->partitions.size())) {
    return absl::NotFoundError(absl::StrFormat("topic \"%s\" has no partition %d (it has %d)",
                                               tp.topic, tp.partition, t->partitions.size()));
  }
  const uint64_t leader = t->partitions[tp.partition].leader;
  auto it = broker_addresses.find(leader);
  if (leader == 0 || it == broker_addresses.end()) {
    return absl::UnavailableError(absl::StrFormat(
        "%s-%d has no known leader (election in progress?)", tp.topic, tp.partition));
  }
  return std::make_pair(leader, it->second);
}

absl::StatusOr<std::shared_ptr<Cluster>> Cluster::Connect(ClientOptions options) {
  if (options.bootstrap.empty()) {
    return absl::InvalidArgumentError("no bootstrap broker given (host:port,...)");
  }
  for (const std::string& a : options.bootstrap) {
    const size_t colon = a.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == a.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bootstrap broker \"%s\" is not host:port", a));
    }
  }
  std::shared_ptr<Cluster> c(new Cluster(std::move(options)));
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> md = c->Metadata(true);
  if (!md.ok()) return md.status();
  return c;
}

BrokerStubs& Cluster::At(const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  std::unique_ptr<BrokerStubs>& b = stubs_[address];
  if (b == nullptr) {
    b = std::make_unique<BrokerStubs>();
    b->address = address;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    b->channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    b->metadata = mdpb::MetadataService::NewStub(b->channel);
    b->data = apipb::DataService::NewStub(b->channel);
    b->groups = apipb::GroupCoordinator::NewStub(b->channel);
    b->admin = nodepb::NodeAdmin::NewStub(b->channel);
  }
  return *b;
}

std::unique_ptr<grpc::ClientContext> Cluster::NewContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + options_.request_timeout);
  return ctx;
}

std::unique_ptr<grpc::ClientContext> Cluster::NewAttemptContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::min(options_.attempt_timeout, options_.request_timeout));
  return ctx;
}

std::shared_ptr<const ClusterMetadata> Cluster::CachedMetadata() {
  std::lock_guard<std::mutex> l(mu_);
  return metadata_;
}

std::shared_ptr<const ClusterMetadata> Cluster::FreshCachedMetadata() {
  std::lock_guard<std::mutex> l(mu_);
  if (stale_ || metadata_ == nullptr ||
      std::chrono::steady_clock::now() - metadata_->fetched_at >= options_.metadata_max_age) {
    return nullptr;
  }
  return metadata_;
}

void Cluster::MarkSuspect(const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  suspect_until_[address] = std::chrono::steady_clock::now() + std::chrono::seconds(30);
}

void Cluster::MarkAnswered(const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  suspect_until_.erase(address);
}

std::vector<std::string> Cluster::CandidateAddresses() {
  std::vector<std::string> out;
  std::shared_ptr<const ClusterMetadata> md;
  std::set<std::string> suspects;
  {
    std::lock_guard<std::mutex> l(mu_);
    md = metadata_;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [address, until] : suspect_until_) {
      if (until > now) suspects.insert(address);
    }
  }
  const auto add = [&out](const std::string& a) {
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  };
  if (md != nullptr) {
    if (auto it = md->broker_addresses.find(md->metadata_leader);
        it != md->broker_addresses.end()) {
      add(it->second);
    }
    for (const auto& [id, a] : md->broker_addresses) {
      if (!md->fenced.count(id)) add(a);
    }
  }
  for (const std::string& a : options_.bootstrap) add(a);
  // Brokers that recently let an attempt time out go last, in their order.
  std::stable_partition(out.begin(), out.end(),
                        [&suspects](const std::string& a) { return !suspects.count(a); });
  return out;
}

absl::StatusOr<mdpb::GetMetadataResponse> Cluster::FetchMetadata(CallControl control) {
  return CallMetadata(&mdpb::MetadataService::Stub::GetMetadata, mdpb::GetMetadataRequest(),
                      control);
}

void Cluster::InvalidateMetadata() {
  std::lock_guard<std::mutex> l(mu_);
  stale_ = true;
}

absl::StatusOr<std::shared_ptr<const ClusterMetadata>> Cluster::Metadata(bool refresh) {
  return MetadataBefore(refresh, std::chrono::steady_clock::now() + options_.retry_timeout);
}

absl::StatusOr<std::shared_ptr<const ClusterMetadata>> Cluster::MetadataBefore(
    bool refresh, std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!refresh && !stale_ && metadata_ != nullptr &&
        std::chrono::steady_clock::now() - metadata_->fetched_at < options_.metadata_max_age) {
      return metadata_;
    }
  }
  CallControl control;
  control.deadline = deadline;
  absl::StatusOr<mdpb::GetMetadataResponse> resp = FetchMetadata(control);
  if (!resp.ok()) return resp.status();
  auto md = std::make_shared<ClusterMetadata>();
  md->metadata_leader = resp->metadata_leader();
  for (const mdpb::Broker& b : resp->brokers()) {
    if (!b.addresses().empty()) md->broker_addresses[b.node_id()] = b.addresses(0);
    if (b.fenced()) md->fenced.insert(b.node_id());
  }
  for (const mdpb::TopicMetadata& t : resp->topics()) {
    TopicInfo& ti = md->topics[t.name()];
    ti.name = t.name();
    ti.topic_id = t.topic_id();
    for (const mdpb::PartitionMetadata& p : t.partitions()) {
      PartitionInfo pi;
      pi.partition = p.partition();
      pi.group_id = p.group_id();
      pi.replicas.assign(p.replicas().begin(), p.replicas().end());
      pi.leader = p.leader();
      pi.offline_replicas.assign(p.offline_replicas().begin(), p.offline_replicas().end());
      ti.partitions.push_back(std::move(pi));
    }
  }
  md->fetched_at = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> l(mu_);
  metadata_ = md;
  stale_ = false;
  return md;
}

}  // namespace raftlog::client
