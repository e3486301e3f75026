// Helpers shared by jepsen_worker's workload modes (see modes.h).
#include <cstdio>

#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

void LogLine(const WorkerOptions& o, const std::string& message) {
  std::fprintf(stderr, "jepsen_worker[%d %s]: %s\n", o.process, o.mode_name.c_str(),
               message.c_str());
  std::fflush(stderr);
}

std::shared_ptr<client::Cluster> ConnectUntilStop(const WorkerOptions& o, RunControl& control) {
  std::string last;
  while (!control.Stopping()) {
    absl::StatusOr<std::shared_ptr<client::Cluster>> c =
        client::Cluster::Connect(o.ClientOptions());
    if (c.ok()) return *std::move(c);
    if (ErrorString(c.status()) != last) {
      last = ErrorString(c.status());
      LogLine(o, "connect: " + last + " (retrying)");
    }
    if (absl::IsInvalidArgument(c.status())) return nullptr;  // a bad --bootstrap
    control.SleepFor(std::chrono::milliseconds(200));
  }
  return nullptr;
}

std::optional<int> PartitionCountUntilStop(const WorkerOptions& o, client::Cluster& cluster,
                                           RunControl& control) {
  if (o.partitions > 0) return o.partitions;
  std::string last;
  while (!control.Stopping()) {
    absl::StatusOr<std::shared_ptr<const client::ClusterMetadata>> md = cluster.Metadata(true);
    std::string why;
    if (!md.ok()) {
      why = "metadata: " + ErrorString(md.status());
    } else if (const client::TopicInfo* t = (*md)->Topic(o.topic); t != nullptr) {
      return static_cast<int>(t->partitions.size());
    } else {
      why = "topic \"" + o.topic + "\" is unknown";
    }
    if (why != last) {
      LogLine(o, why + " (retrying)");
      last = why;
    }
    control.SleepFor(std::chrono::milliseconds(200));
  }
  return std::nullopt;
}

}  // namespace raftlog::jepsen
