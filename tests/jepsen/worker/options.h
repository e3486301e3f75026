// WorkerOptions: jepsen_worker's command line (`jepsen_worker <mode>
// [--flag=value ...]`, the "Worker CLI" section of the jepsen suite spec),
// parsed with CLI11 into one struct; which flags a mode needs is checked
// here too, so a mode never starts with a missing flag.
//
// Flags beyond the spec (all optional, with defaults) tune the client:
// --request-timeout-ms, --retry-timeout-ms, --delivery-timeout-ms,
// --linger-ms, --partitioner, --session-timeout-ms, --heartbeat-ms,
// --rebalance-timeout-ms, --timeout-ms (one-shot node calls).
//
// Parse() never exits the process: it returns the exit code for usage
// errors and --help (2 / 0) with the text to print.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/client_options.h"
#include "client/producer.h"

namespace raftlog::jepsen {

enum class Mode {
  kProduce,
  kConsume,
  kReadAll,
  kOffsets,
  kTopics,
  kStatus,
  kMetadata,
  kChecksum,
  kTransferLeader,
};

struct WorkerOptions {
  Mode mode = Mode::kProduce;
  std::string mode_name;
  // common
  std::vector<std::string> bootstrap;
  int process = 0;
  std::string history = "-";  // "-" = stdout
  std::chrono::milliseconds duration{60000};
  std::chrono::milliseconds drain{10000};
  std::string topic;
  uint64_t seed = 0;  // 0: the process number
  // client tuning
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds retry_timeout{10000};
  std::chrono::milliseconds delivery_timeout{30000};
  // produce / offsets
  int partitions = 0;  // 0: from the topic's metadata
  double rate = 0;     // ops/s; 0 = the mode's default
  bool idempotence = true;
  client::Acks acks = client::Acks::kAll;
  int max_in_flight = 10;
  std::chrono::milliseconds linger{5};
  bool random_partitions = false;  // --partitioner=random (seeded)
  // consume / offsets
  std::string group;  // consumer group name; for checksum/transfer-leader the Raft group id
  bool commit_async = false;
  std::chrono::milliseconds poll{200};
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds rebalance_timeout{15000};
  // status / checksum / transfer-leader
  std::string node;  // host:port
  std::optional<uint64_t> from;
  std::optional<uint64_t> to;  // checksum: last index; transfer-leader: node id
  std::chrono::milliseconds node_timeout{5000};

  // The Raft group id of --group (checksum / transfer-leader).
  uint64_t raft_group() const;
  client::ClientOptions ClientOptions() const;
};

struct ParseResult {
  std::optional<WorkerOptions> options;  // set: run
  int exit_code = 0;                     // when not set: exit with this
  std::string message;                   // ... after printing this (stderr if != 0)
};

ParseResult ParseArgs(int argc, const char* const* argv);

}  // namespace raftlog::jepsen
