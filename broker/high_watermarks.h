// High watermarks of partitions for consumer-group lag (DescribeGroup), on
// the node serving the request: a partition this node leads answers from
// its replica; any other is asked of its leader (GetMetadata names it) with
// DataService.ListOffsets(LATEST). Partitions whose leader cannot be reached
// are left out (the coordinator reports their lag as unknown).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/group_coordinator_service.h"
#include "broker/metadata_service.h"
#include "broker/node.h"
#include "raftlog/api/v1/data.grpc.pb.h"

namespace raftlog::broker {

class HighWatermarkLookup {
 public:
  // All must outlive this object.
  HighWatermarkLookup(Node* node, MetadataService* metadata) : node_(node), metadata_(metadata) {}

  absl::StatusOr<std::map<PartitionKey, int64_t>> Lookup(
      const std::vector<PartitionKey>& partitions, Deadline deadline);

 private:
  raftlog::api::v1::DataService::Stub& StubFor(const std::string& address);

  Node* const node_;
  MetadataService* const metadata_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<raftlog::api::v1::DataService::Stub>> stubs_;
};

}  // namespace raftlog::broker
