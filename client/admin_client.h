// AdminClient: what operators and raftlogctl need: topics (create, delete,
// list, describe with per-partition leader, replicas, in-sync replicas and
// offsets, configs, partitions), brokers and cluster metadata, offsets by
// time, and consumer groups (list, describe, delete, reset offsets).
//
// Every call goes through the Cluster: metadata and group requests to any
// broker (forwarded to the metadata leader), ListOffsets to each
// partition's leader (following NOT_LEADER with a metadata refresh). Errors
// carry the server's reason. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cluster.h"

namespace raftlog::client {

struct PartitionDetails {
  int32_t partition = 0;
  uint64_t leader = 0;  // 0 = none known
  std::vector<uint64_t> replicas;
  // Replicas the leader reports fully caught up and recently active (the
  // leader itself included); empty when the leader could not be asked.
  std::vector<uint64_t> in_sync;
  int64_t earliest_offset = -1;  // log start; -1 = unknown
  int64_t latest_offset = -1;    // high watermark; -1 = unknown
};

struct TopicDetails {
  mdpb::TopicDescription description;  // record + effective configs
  std::vector<PartitionDetails> partitions;
};

enum class OffsetQuery { kEarliest, kLatest, kTimestamp };

class AdminClient {
 public:
  explicit AdminClient(std::shared_ptr<Cluster> cluster) : cluster_(std::move(cluster)) {}

  absl::StatusOr<mdpb::TopicDescription> CreateTopic(
      const std::string& name, int32_t partitions, int32_t replication_factor,
      const std::map<std::string, std::string>& configs = {});
  absl::Status DeleteTopic(const std::string& name);
  absl::StatusOr<std::vector<mdpb::Topic>> ListTopics();
  absl::StatusOr<TopicDetails> DescribeTopic(const std::string& name);
  absl::StatusOr<mdpb::TopicDescription> AlterTopicConfig(
      const std::string& name, const std::map<std::string, std::string>& set,
      const std::vector<std::string>& delete_keys);
  absl::StatusOr<mdpb::TopicDescription> CreatePartitions(const std::string& name,
                                                          int32_t new_total);

  absl::StatusOr<mdpb::ListBrokersResponse> ListBrokers();
  absl::StatusOr<mdpb::GetMetadataResponse> GetMetadata(
      const std::vector<std::string>& topics = {});

  // Offsets of many partitions: earliest (log start), latest (high
  // watermark) or the first offset with timestamp >= timestamp_ms (-1 if
  // none). Per-partition failures fail the call, naming the partition.
  absl::StatusOr<std::map<TopicPartition, int64_t>> ListOffsets(
      const std::vector<TopicPartition>& partitions, OffsetQuery query, int64_t timestamp_ms = 0);

  absl::StatusOr<apipb::ListGroupsResponse> ListGroups();
  absl::StatusOr<apipb::DescribeGroupResponse> DescribeGroup(const std::string& group);
  absl::Status DeleteGroup(const std::string& group);
  // Commits `offsets` for `group` as a simple consumer (the group must have
  // no active members, as in Kafka's reset-offsets).
  absl::Status CommitGroupOffsets(const std::string& group,
                                  const std::map<TopicPartition, int64_t>& offsets);
  absl::StatusOr<std::map<TopicPartition, int64_t>> FetchGroupOffsets(const std::string& group);

  Cluster& cluster() { return *cluster_; }

 private:
  // The topic's record and configs (one DescribeTopic call, no partitions).
  absl::StatusOr<mdpb::TopicDescription> DescribeTopicRecord(const std::string& name);

  std::shared_ptr<Cluster> cluster_;
};

// An api ErrorCode carried in a response body, as a status (OK for
// ERROR_NONE), with `message` and the code's name.
absl::Status ApiError(apipb::ErrorCode code, const std::string& message);

}  // namespace raftlog::client
