// jepsen_worker offsets: group offsets without membership ("simple
// consumer" commits, AdminClient::CommitGroupOffsets with generation -1, as
// Kafka allows for a group with no members) mixed half and half with
// fetches (AdminClient::FetchGroupOffsets), at --rate.
//
// Each commit goes to a random partition of --topic (0..--partitions-1) with
// a value strictly above every value this process tried for that partition
// before (previous + 1..5, starting from 0), whatever the earlier commits'
// outcomes, so every commit value of a process is unique.
//
// HISTORY: "commit" invoke {"<p>": offset} + "group", classified as a retried
// call (outcome.h: only INVALID_ARGUMENT is "fail"); "fetch-offsets" invoke
// null + "group", ok value {"<p>": committed offset} for the partitions of
// --topic the group has a commit for (absent = none); errors "fail".
#include <random>

#include "client/admin_client.h"
#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

int RunOffsets(const WorkerOptions& o, History& history, RunControl& control) {
  std::shared_ptr<client::Cluster> cluster = ConnectUntilStop(o, control);
  if (cluster == nullptr) return 1;
  const std::optional<int> known = PartitionCountUntilStop(o, *cluster, control);
  if (!known) return 1;
  const int partitions = *known;
  client::AdminClient admin(cluster);
  std::mt19937_64 rng(o.seed);
  std::vector<int64_t> last(static_cast<size_t>(partitions), 0);
  const Json group{{"group", o.group}};
  Pacer pacer(o.rate);
  while (pacer.Wait(control)) {
    if (rng() % 2 == 0) {
      const int32_t p = static_cast<int32_t>(rng() % static_cast<uint64_t>(partitions));
      const int64_t offset = last[static_cast<size_t>(p)] += 1 + static_cast<int64_t>(rng() % 5);
      const int64_t op = history.Invoke("commit", Json{{std::to_string(p), offset}}, group);
      absl::Status s = admin.CommitGroupOffsets(o.group, {{{o.topic, p}, offset}});
      history.Complete(op, Classify(Path::kRetriedCall, s));
    } else {
      const int64_t op = history.Invoke("fetch-offsets", nullptr, group);
      absl::StatusOr<std::map<client::TopicPartition, int64_t>> r =
          admin.FetchGroupOffsets(o.group);
      if (!r.ok()) {
        history.Complete(op, Classify(Path::kRead, r.status()));
        continue;
      }
      Json value = Json::object();
      for (const auto& [tp, off] : *r) {
        if (tp.topic == o.topic) value[std::to_string(tp.partition)] = off;
      }
      history.Complete(op, OpType::kOk, std::move(value));
    }
  }
  return 0;
}

}  // namespace raftlog::jepsen
