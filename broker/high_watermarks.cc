// HighWatermarkLookup: local replica first, else the partition's leader.
#include "broker/high_watermarks.h"

#include <set>

#include "grpcpp/grpcpp.h"

namespace raftlog::broker {

namespace apipb = ::raftlog::api::v1;

apipb::DataService::Stub& HighWatermarkLookup::StubFor(const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  std::unique_ptr<apipb::DataService::Stub>& s = stubs_[address];
  if (s == nullptr) {
    s = apipb::DataService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  return *s;
}

absl::StatusOr<std::map<PartitionKey, int64_t>> HighWatermarkLookup::Lookup(
    const std::vector<PartitionKey>& partitions, Deadline deadline) {
  std::map<PartitionKey, int64_t> out;
  if (partitions.empty()) return out;
  std::set<std::string> topics;
  for (const PartitionKey& p : partitions) topics.insert(p.first);
  mdpb::GetMetadataRequest req;
  for (const std::string& t : topics) req.add_topics(t);
  MetadataCallOptions opts;
  opts.deadline = deadline;
  absl::StatusOr<mdpb::GetMetadataResponse> md = metadata_->GetMetadata(req, opts);
  if (!md.ok()) return md.status();
  std::map<uint64_t, std::string> addresses;
  for (const mdpb::Broker& b : md->brokers()) {
    if (!b.addresses().empty()) addresses[b.node_id()] = b.addresses(0);
  }
  std::map<PartitionKey, const mdpb::PartitionMetadata*> meta;
  for (const mdpb::TopicMetadata& t : md->topics()) {
    for (const mdpb::PartitionMetadata& p : t.partitions()) meta[{t.name(), p.partition()}] = &p;
  }
  std::map<std::string, apipb::ListOffsetsRequest> remote;  // by leader address
  for (const PartitionKey& key : partitions) {
    auto it = meta.find(key);
    if (it == meta.end()) continue;
    std::shared_ptr<RaftGroup> g = node_->FindGroup(it->second->group_id());
    if (g != nullptr && g->is_leader()) {
      out[key] = g->high_watermark();
      continue;
    }
    auto a = addresses.find(it->second->leader());
    if (a == addresses.end()) continue;
    apipb::ListOffsetsPartition* p = remote[a->second].add_partitions();
    p->set_topic(key.first);
    p->set_partition(key.second);
    p->set_spec(apipb::OFFSET_LATEST);
  }
  for (const auto& [address, request] : remote) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    apipb::ListOffsetsResponse resp;
    if (!StubFor(address).ListOffsets(&ctx, request, &resp).ok()) continue;
    for (const apipb::ListOffsetsPartitionResponse& p : resp.partitions()) {
      if (p.error() == apipb::ERROR_NONE) out[{p.topic(), p.partition()}] = p.offset();
    }
  }
  return out;
}

}  // namespace raftlog::broker
