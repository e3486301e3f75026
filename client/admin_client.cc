// AdminClient: topics, brokers, offsets and groups for operators.
#include "client/admin_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_format.h"

namespace raftlog::client {

absl::Status ApiError(apipb::ErrorCode code, const std::string& message) {
  if (code == apipb::ERROR_NONE) return absl::OkStatus();
  absl::StatusCode c = absl::StatusCode::kFailedPrecondition;
  switch (code) {
    case apipb::UNKNOWN_TOPIC_OR_PARTITION:
    case apipb::GROUP_ID_NOT_FOUND:
      c = absl::StatusCode::kNotFound;
      break;
    case apipb::NOT_LEADER:
    case apipb::LEADER_NOT_AVAILABLE:
    case apipb::NODE_UNAVAILABLE:
    case apipb::NOT_COORDINATOR:
    case apipb::REBALANCE_IN_PROGRESS:
      c = absl::StatusCode::kUnavailable;
      break;
    case apipb::MESSAGE_TOO_LARGE:
    case apipb::CORRUPT_MESSAGE:
    case apipb::INVALID_REQUEST:
    case apipb::INVALID_GROUP_ID:
    case apipb::INVALID_SESSION_TIMEOUT:
      c = absl::StatusCode::kInvalidArgument;
      break;
    case apipb::OFFSET_OUT_OF_RANGE:
      c = absl::StatusCode::kOutOfRange;
      break;
    case apipb::REQUEST_TIMED_OUT:
      c = absl::StatusCode::kDeadlineExceeded;
      break;
    case apipb::STORAGE_ERROR:
      c = absl::StatusCode::kInternal;
      break;
    default:
      break;
  }
  return absl::Status(c, absl::StrFormat("%s: %s", apipb::ErrorCode_Name(code), message));
}

absl::StatusOr<mdpb::TopicDescription> AdminClient::CreateTopic(
    const std::string& name, int32_t partitions, int32_t replication_factor,
    const std::map<std::string, std::string>& configs) {
  mdpb::CreateTopicRequest req;
  req.set_name(name);
  req.set_partitions(partitions);
  req.set_replication_factor(replication_factor);
  for (const auto& [k, v] : configs) (*req.mutable_configs())[k] = v;
  bool outcome_unknown = false;
  absl::StatusOr<mdpb::CreateTopicResponse> r = cluster_->CallMetadata(
      &mdpb::MetadataService::Stub::CreateTopic, req, CallControl::Tracking(&outcome_unknown));
  cluster_->InvalidateMetadata();
  if (absl::IsAlreadyExists(r.status()) && outcome_unknown) {
    // An earlier attempt timed out and may have created it: if the topic
    // that exists is the one asked for, that attempt did (or someone made
    // the same one); either way the caller has what it asked for.
    absl::StatusOr<mdpb::TopicDescription> d = DescribeTopicRecord(name);
    if (d.ok() && d->topic().partition_count() == std::max(partitions, 1) &&
        (replication_factor == 0 || d->topic().replication_factor() == replication_factor)) {
      return d;
    }
  }
  if (!r.ok()) return r.status();
  return r->topic();
}

absl::Status AdminClient::DeleteTopic(const std::string& name) {
  mdpb::DeleteTopicRequest req;
  req.set_name(name);
  bool outcome_unknown = false;
  absl::StatusOr<mdpb::DeleteTopicResponse> r = cluster_->CallMetadata(
      &mdpb::MetadataService::Stub::DeleteTopic, req, CallControl::Tracking(&outcome_unknown));
  cluster_->InvalidateMetadata();
  // NOT_FOUND after an attempt that timed out: that attempt deleted it.
  if (absl::IsNotFound(r.status()) && outcome_unknown) return absl::OkStatus();
  return r.status();
}

absl::StatusOr<std::vector<mdpb::Topic>> AdminClient::ListTopics() {
  absl::StatusOr<mdpb::ListTopicsResponse> r =
      cluster_->CallMetadata(&mdpb::MetadataService::Stub::ListTopics, mdpb::ListTopicsRequest());
  if (!r.ok()) return r.status();
  return std::vector<mdpb::Topic>(r->topics().begin(), r->topics().end());
}

absl::StatusOr<mdpb::TopicDescription> AdminClient::DescribeTopicRecord(const std::string& name) {
  mdpb::DescribeTopicRequest req;
  req.set_name(name);
  absl::StatusOr<mdpb::DescribeTopicResponse> d =
      cluster_->CallMetadata(&mdpb::MetadataService::Stub::DescribeTopic, req);
  if (!d.ok()) return d.status();
  return d->topic();
}

absl::StatusOr<TopicDetails> AdminClient::DescribeTopic(const std::string& name) {
  absl::StatusOr<mdpb::TopicDescription> d = DescribeTopicRecord(name);
  if (!d.ok()) return d.status();
  TopicDetails out;
  out.description = *std::move(d);
  absl::StatusOr<mdpb::GetMetadataResponse> md = GetMetadata({name});
  if (!md.ok()) return md.status();
  std::vector<TopicPartition> tps;
  std::map<uint64_t, std::string> addresses;
  for (const mdpb::Broker& b : md->brokers()) {
    if (!b.addresses().empty()) addresses[b.node_id()] = b.addresses(0);
  }
  for (const mdpb::PartitionMetadata& p : md->topics(0).partitions()) {
    PartitionDetails pd;
    pd.partition = p.partition();
    pd.leader = p.leader();
    pd.replicas.assign(p.replicas().begin(), p.replicas().end());
    // In-sync as the leader sees it: caught up and recently active.
    if (auto it = addresses.find(p.leader()); it != addresses.end()) {
      nodepb::StatusRequest sreq;
      sreq.add_groups(p.group_id());
      nodepb::StatusResponse sresp;
      auto ctx = cluster_->NewAttemptContext();
      if (cluster_->At(it->second).admin->Status(ctx.get(), sreq, &sresp).ok() &&
          sresp.groups_size() == 1 && sresp.groups(0).role() == nodepb::ROLE_LEADER) {
        pd.in_sync.push_back(p.leader());
        for (const nodepb::FollowerProgress& f : sresp.groups(0).followers()) {
          if (f.lag() == 0 && f.recent_active()) pd.in_sync.push_back(f.node());
        }
        std::sort(pd.in_sync.begin(), pd.in_sync.end());
      }
    }
    out.partitions.push_back(std::move(pd));
    tps.push_back({name, p.partition()});
  }
  // Offsets are best effort: a partition without a leader shows -1.
  for (OffsetQuery q : {OffsetQuery::kEarliest, OffsetQuery::kLatest}) {
    for (const TopicPartition& tp : tps) {
      absl::StatusOr<std::map<TopicPartition, int64_t>> o = ListOffsets({tp}, q);
      if (!o.ok()) continue;
      int64_t& field = q == OffsetQuery::kEarliest ? out.partitions[tp.partition].earliest_offset
                                                   : out.partitions[tp.partition].latest_offset;
      field = o->at(tp);
    }
  }
  return out;
}

absl::StatusOr<mdpb::TopicDescription> AdminClient::AlterTopicConfig(
    const std::string& name, const std::map<std::string, std::string>& set,
    const std::vector<std::string>& delete_keys) {
  mdpb::AlterTopicConfigRequest req;
  req.set_name(name);
  for (const auto& [k, v] : set) (*req.mutable_set())[k] = v;
  for (const std::string& k : delete_keys) req.add_delete_keys(k);
  absl::StatusOr<mdpb::AlterTopicConfigResponse> r =
      cluster_->CallMetadata(&mdpb::MetadataService::Stub::AlterTopicConfig, req);
  if (!r.ok()) return r.status();
  return r->topic();
}

absl::StatusOr<mdpb::TopicDescription> AdminClient::CreatePartitions(const std::string& name,
                                                                     int32_t new_total) {
  mdpb::CreatePartitionsRequest req;
  req.set_name(name);
  req.set_new_total(new_total);
  bool outcome_unknown = false;
  absl::StatusOr<mdpb::CreatePartitionsResponse> r = cluster_->CallMetadata(
      &mdpb::MetadataService::Stub::CreatePartitions, req, CallControl::Tracking(&outcome_unknown));
  cluster_->InvalidateMetadata();
  if (!r.ok() && outcome_unknown && !absl::IsUnavailable(r.status()) &&
      !absl::IsDeadlineExceeded(r.status())) {
    // Refused after an attempt that timed out (e.g. "already has N
    // partitions"): that attempt may have grown the topic to new_total.
    absl::StatusOr<mdpb::TopicDescription> d = DescribeTopicRecord(name);
    if (d.ok() && d->topic().partition_count() == new_total) return d;
  }
  if (!r.ok()) return r.status();
  return r->topic();
}

absl::StatusOr<mdpb::ListBrokersResponse> AdminClient::ListBrokers() {
  return cluster_->CallMetadata(&mdpb::MetadataService::Stub::ListBrokers,
                                mdpb::ListBrokersRequest());
}

absl::StatusOr<mdpb::GetMetadataResponse> AdminClient::GetMetadata(
    const std::vector<std::string>& topics) {
  mdpb::GetMetadataRequest req;
  for (const std::string& t : topics) req.add_topics(t);
  return cluster_->CallMetadata(&mdpb::MetadataService::Stub::GetMetadata, req);
}

absl::StatusOr<std::map<TopicPartition, int64_t>> AdminClient::ListOffsets(
    const std::vector<TopicPartition>& partitions, OffsetQuery query, int64_t timestamp_ms) {
  std::map<TopicPartition, int64_t> out;
  std::vector<TopicPartition> todo = partitions;
  const auto deadline = std::chrono::steady_clock::now() + cluster_->options().retry_timeout;
  absl::Status last;
  bool refresh = false;
  while (!todo.empty()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::UnavailableError(absl::StrFormat("offsets of %s-%d: %s", todo[0].topic,
                                                    todo[0].partition, last.message()));
    }
    absl::StatusOr<std::shared_ptr<const ClusterMetadata>> md = cluster_->Metadata(refresh);
    if (!md.ok()) return md.status();
    refresh = false;
    std::map<std::string, apipb::ListOffsetsRequest> by_leader;
    std::vector<TopicPartition> retry;
    for (const TopicPartition& tp : todo) {
      absl::StatusOr<std::pair<uint64_t, std::string>> leader = (*md)->Leader(tp);
      if (absl::IsNotFound(leader.status())) return leader.status();
      if (!leader.ok()) {
        last = leader.status();
        retry.push_back(tp);
        continue;
      }
      apipb::ListOffsetsPartition* p = by_leader[leader->second].add_partitions();
      p->set_topic(tp.topic);
      p->set_partition(tp.partition);
      p->set_spec(query == OffsetQuery::kEarliest ? apipb::OFFSET_EARLIEST
                  : query == OffsetQuery::kLatest ? apipb::OFFSET_LATEST
                                                  : apipb::OFFSET_TIMESTAMP);
      p->set_timestamp_ms(timestamp_ms);
    }
    for (auto& [address, req] : by_leader) {
      apipb::ListOffsetsResponse resp;
      auto ctx = cluster_->NewAttemptContext();
      grpc::Status s = cluster_->At(address).data->ListOffsets(ctx.get(), req, &resp);
      if (!s.ok()) {
        last = FromGrpc(s);
        for (const auto& p : req.partitions()) retry.push_back({p.topic(), p.partition()});
        continue;
      }
      for (const apipb::ListOffsetsPartitionResponse& p : resp.partitions()) {
        const TopicPartition tp{p.topic(), p.partition()};
        absl::Status e = ApiError(p.error(), p.error_message());
        if (e.ok()) {
          out[tp] = p.offset();
        } else if (absl::IsUnavailable(e)) {
          last = e;
          retry.push_back(tp);
        } else {
          return absl::Status(e.code(),
                              absl::StrFormat("%s-%d: %s", tp.topic, tp.partition, e.message()));
        }
      }
    }
    todo = std::move(retry);
    if (!todo.empty()) {
      refresh = true;
      std::this_thread::sleep_for(cluster_->options().retry_backoff);
    }
  }
  return out;
}

absl::StatusOr<apipb::ListGroupsResponse> AdminClient::ListGroups() {
  return cluster_->CallGroups(&apipb::GroupCoordinator::Stub::ListGroups,
                              apipb::ListGroupsRequest());
}

absl::StatusOr<apipb::DescribeGroupResponse> AdminClient::DescribeGroup(const std::string& group) {
  apipb::DescribeGroupRequest req;
  req.set_group_id(group);
  absl::StatusOr<apipb::DescribeGroupResponse> r =
      cluster_->CallGroups(&apipb::GroupCoordinator::Stub::DescribeGroup, req);
  if (!r.ok()) return r.status();
  if (absl::Status e = ApiError(r->error(), r->error_message()); !e.ok()) return e;
  return r;
}

absl::Status AdminClient::DeleteGroup(const std::string& group) {
  apipb::DeleteGroupRequest req;
  req.set_group_id(group);
  bool outcome_unknown = false;
  absl::StatusOr<apipb::DeleteGroupResponse> r = cluster_->CallGroups(
      &apipb::GroupCoordinator::Stub::DeleteGroup, req, CallControl::Tracking(&outcome_unknown));
  if (!r.ok()) return r.status();
  // Not found after an attempt that timed out: that attempt deleted it.
  if (r->error() == apipb::GROUP_ID_NOT_FOUND && outcome_unknown) return absl::OkStatus();
  return ApiError(r->error(), r->error_message());
}

absl::Status AdminClient::CommitGroupOffsets(const std::string& group,
                                             const std::map<TopicPartition, int64_t>& offsets) {
  apipb::OffsetCommitRequest req;
  req.set_group_id(group);
  req.set_generation(-1);  // simple consumer: allowed while the group has no members
  for (const auto& [tp, offset] : offsets) {
    apipb::OffsetCommitPartition* p = req.add_offsets();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
    p->set_offset(offset);
  }
  absl::StatusOr<apipb::OffsetCommitResponse> r =
      cluster_->CallGroups(&apipb::GroupCoordinator::Stub::OffsetCommit, req);
  if (!r.ok()) return r.status();
  return ApiError(r->error(), r->error_message());
}

absl::StatusOr<std::map<TopicPartition, int64_t>> AdminClient::FetchGroupOffsets(
    const std::string& group) {
  apipb::OffsetFetchRequest req;
  req.set_group_id(group);
  absl::StatusOr<apipb::OffsetFetchResponse> r =
      cluster_->CallGroups(&apipb::GroupCoordinator::Stub::OffsetFetch, req);
  if (!r.ok()) return r.status();
  if (absl::Status e = ApiError(r->error(), r->error_message()); !e.ok()) return e;
  std::map<TopicPartition, int64_t> out;
  for (const apipb::CommittedPartitionOffset& o : r->offsets()) {
    out[{o.topic(), o.partition()}] = o.offset();
  }
  return out;
}

}  // namespace raftlog::client
