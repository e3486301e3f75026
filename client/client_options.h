// Options and small value types shared by the raftlog C++ client library
// (client/): AdminClient, Producer and Consumer all connect through a
// Cluster (client/cluster.h) built from ClientOptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace raftlog::client {

struct ClientOptions {
  // host:port of one or more brokers; any one that answers is enough (the
  // rest of the cluster is learnt from its metadata).
  std::vector<std::string> bootstrap;
  // Deadline of one RPC.
  std::chrono::milliseconds request_timeout{30000};
  // Deadline of one attempt of an any-broker call (metadata, admin, group;
  // at most request_timeout): a broker silent this long (paused, cut off)
  // is left for the next one. Also how long a Fetch may run past its
  // long-poll wait.
  std::chrono::milliseconds attempt_timeout{5000};
  // How long the whole of a call may go on retrying (no leader yet, leader
  // moving, broker unreachable) before it fails.
  std::chrono::milliseconds retry_timeout{30000};
  std::chrono::milliseconds retry_backoff{100};
  // Cached metadata is refreshed after this long even without errors.
  std::chrono::milliseconds metadata_max_age{300000};
  std::string client_id = "raftlog-cpp";
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

}  // namespace raftlog::client
