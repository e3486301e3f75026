// Partition assignors of the consumer-group coordinator (server-side
// assignment): given the members (id, subscribed topics, partitions they
// held in the previous generation) and the partition count of every topic,
// decide which member reads which partition.
//
//   "range"       Kafka's RangeAssignor: for each topic, its subscribed
//                 members sorted by id get consecutive ranges; the first
//                 (partitions % members) get one extra.
//   "roundrobin"  Kafka's RoundRobinAssignor: every partition of every
//                 subscribed topic, in (topic, partition) order, is dealt to
//                 the members sorted by id, skipping members not subscribed
//                 to that partition's topic.
//   "sticky"      Balanced (member counts differ by at most one when all
//                 subscribe to the same topics), keeping every member's
//                 previous partitions as far as balance allows; the rest are
//                 dealt to the least-loaded subscribed member (ties: lowest id).
//
// INVARIANTS (every assignor): deterministic (same input, same output; input
// order does not matter); every partition of a topic with at least one
// subscriber is assigned to exactly one member subscribed to it; no partition
// of an unsubscribed or unknown topic is assigned; every member appears in the
// result (possibly with nothing).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace raftlog::broker {

inline constexpr char kRangeAssignor[] = "range";
inline constexpr char kRoundRobinAssignor[] = "roundrobin";
inline constexpr char kStickyAssignor[] = "sticky";

// topic -> partitions (ascending).
using TopicAssignment = std::map<std::string, std::vector<int32_t>>;
// member id -> its partitions.
using GroupAssignment = std::map<std::string, TopicAssignment>;

struct AssignorMember {
  std::string member_id;
  std::vector<std::string> topics;  // subscription
  TopicAssignment owned;            // held in the previous generation (sticky only)
};

// True for the names above.
bool IsKnownAssignor(const std::string& name);

// The assignment by `assignor`. `partition_counts`: topic -> count (topics
// missing or with count <= 0 get nothing). InvalidArgument for an unknown
// assignor or duplicate member ids.
absl::StatusOr<GroupAssignment> Assign(const std::string& assignor,
                                       const std::vector<AssignorMember>& members,
                                       const std::map<std::string, int32_t>& partition_counts);

}  // namespace raftlog::broker
