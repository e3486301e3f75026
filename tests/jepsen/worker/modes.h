// The modes of jepsen_worker, one file each:
//   produce_mode.cc   send unique values, asynchronous, bounded in flight
//   consume_mode.cc   group consumer: assign/revoke, poll, commit
//   read_all_mode.cc  final reader: every partition, log start to high watermark
//   offsets_mode.cc   simple commits and fetches of group offsets
//   topics_mode.cc    create / delete / list topics
//   node_modes.cc     status, checksum, transfer-leader (NodeAdmin on one node),
//                     metadata (the topic's partitions and the brokers)
// plus the helpers they share (workload_common.cc).
//
// A workload mode runs on its own thread until `control` says stop, then
// drains what it has outstanding until control.drain_deadline(); main()
// writes "info" for anything still outstanding after that. Its return value
// is the exit code (0, or 1 when the mode failed as a whole: read-all with
// a partition unread, no cluster reachable at all).
// One-shot modes print one JSON object on stdout and return 0, or print the
// error on stderr and return 1.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "client/cluster.h"
#include "tests/jepsen/worker/history.h"
#include "tests/jepsen/worker/options.h"
#include "tests/jepsen/worker/run_control.h"

namespace raftlog::jepsen {

int RunProduce(const WorkerOptions& o, History& history, RunControl& control);
int RunConsume(const WorkerOptions& o, History& history, RunControl& control);
int RunReadAll(const WorkerOptions& o, History& history, RunControl& control);
int RunOffsets(const WorkerOptions& o, History& history, RunControl& control);
int RunTopics(const WorkerOptions& o, History& history, RunControl& control);

int RunStatus(const WorkerOptions& o);
int RunChecksum(const WorkerOptions& o);
int RunTransferLeader(const WorkerOptions& o);
int RunMetadata(const WorkerOptions& o);

// ---- shared helpers (workload_common.cc) ----

// Cluster::Connect, retried (with the retry backoff) until it succeeds or
// the run stops; the last error goes to stderr. nullptr when stopped.
std::shared_ptr<client::Cluster> ConnectUntilStop(const WorkerOptions& o, RunControl& control);

// --partitions when given, else the partition count of --topic from
// (refreshed) metadata, retried until known or the run stops (an unknown
// topic is logged once).
std::optional<int> PartitionCountUntilStop(const WorkerOptions& o, client::Cluster& cluster,
                                           RunControl& control);

// Logs "jepsen_worker[<process> <mode>]: <message>" on stderr.
void LogLine(const WorkerOptions& o, const std::string& message);

}  // namespace raftlog::jepsen
