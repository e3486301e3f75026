// jepsen_worker consume: a group consumer (Consumer::Subscribe to --topic in
// --group, auto-commit off, starting from the earliest offset when the group
// has no commit) that polls every --poll-ms and, after each poll that
// returned records, commits (--commit=sync: CommitSync of the polled
// partitions' next offsets; async: CommitAsync of every assigned position).
//
// HISTORY
//  - "assign" / "revoke" (type ok, no op): written from the rebalance
//    callbacks, which run inside Poll; value: sorted partitions of --topic.
//  - "poll": invoke null; ok value [[partition, offset, value], ...] in the
//    order Poll returned them; an error is "fail" (a poll changes nothing:
//    Poll only moves positions past records it returns).
//  - "commit": invoke value {"<partition>": next offset} and "group";
//    classified as a retried call (outcome.h): a rejection is "info" unless
//    it is INVALID_ARGUMENT, because CallAny may have retried after an
//    attempt that was applied.
//
// WORKAROUND (client/consumer.cc): when JoinAndSync fails part way (JoinGroup
// after the revocation, SyncGroup, or the committed-offset fetch failing),
// Poll returns the error but the consumer keeps a generation >= 0 with
// positions for none or only some of its partitions, and never rejoins by
// itself. After every failed poll this mode calls Subscribe again, which
// forces a rejoin (and a revoke/assign pair in the history).
#include <map>
#include <set>

#include "client/consumer.h"
#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

namespace {

Json SortedPartitions(const std::vector<client::TopicPartition>& tps, const std::string& topic) {
  std::set<int32_t> ps;
  for (const client::TopicPartition& tp : tps) {
    if (tp.topic == topic) ps.insert(tp.partition);
  }
  Json out = Json::array();
  for (int32_t p : ps) out.push_back(p);
  return out;
}

Json OffsetsJson(const std::map<client::TopicPartition, int64_t>& offsets) {
  Json out = Json::object();
  for (const auto& [tp, off] : offsets) out[std::to_string(tp.partition)] = off;
  return out;
}

}  // namespace

int RunConsume(const WorkerOptions& o, History& history, RunControl& control) {
  std::shared_ptr<client::Cluster> cluster = ConnectUntilStop(o, control);
  if (cluster == nullptr) return 1;
  client::ConsumerOptions co;
  co.client = o.ClientOptions();
  co.group_id = o.group;
  co.enable_auto_commit = false;
  co.auto_offset_reset = client::OffsetReset::kEarliest;
  co.session_timeout = o.session_timeout;
  co.heartbeat_interval = o.heartbeat;
  co.rebalance_timeout = o.rebalance_timeout;
  absl::StatusOr<std::unique_ptr<client::Consumer>> created = client::Consumer::Create(cluster, co);
  if (!created.ok()) {
    LogLine(o, "creating the consumer: " + ErrorString(created.status()));
    return 1;
  }
  std::unique_ptr<client::Consumer> consumer = *std::move(created);

  client::RebalanceListener listener;
  listener.on_revoked = [&](const std::vector<client::TopicPartition>& tps) {
    history.Event("revoke", SortedPartitions(tps, o.topic));
  };
  listener.on_assigned = [&](const std::vector<client::TopicPartition>& tps) {
    history.Event("assign", SortedPartitions(tps, o.topic));
  };
  const auto subscribe = [&] {
    if (absl::Status s = consumer->Subscribe({o.topic}, listener); !s.ok()) {
      LogLine(o, "subscribe: " + ErrorString(s));
      return false;
    }
    return true;
  };
  if (!subscribe()) return 1;

  while (!control.Stopping()) {
    if (Clock::now() >= control.stop_at()) {
      control.RequestStop("duration elapsed");
      break;
    }
    const int64_t op = history.Invoke("poll", nullptr);
    absl::StatusOr<std::vector<client::ConsumerRecord>> records = consumer->Poll(o.poll);
    if (!records.ok()) {
      history.Complete(op, Classify(Path::kRead, records.status()));
      LogLine(o, "poll: " + ErrorString(records.status()) + " (subscribing again)");
      subscribe();
      control.SleepFor(std::chrono::milliseconds(100));
      continue;
    }
    Json value = Json::array();
    std::map<client::TopicPartition, int64_t> next;
    for (const client::ConsumerRecord& r : *records) {
      value.push_back(
          Json::array({r.partition, r.offset, r.value ? Json(*r.value) : Json(nullptr)}));
      int64_t& n = next[{r.topic, r.partition}];
      n = std::max(n, r.offset + 1);
    }
    history.Complete(op, OpType::kOk, std::move(value));
    if (records->empty()) continue;

    if (o.commit_async) {
      std::map<client::TopicPartition, int64_t> positions;
      for (const client::TopicPartition& tp : consumer->Assignment()) {
        if (absl::StatusOr<int64_t> pos = consumer->Position(tp); pos.ok()) positions[tp] = *pos;
      }
      const int64_t cop =
          history.Invoke("commit", OffsetsJson(positions), Json{{"group", o.group}});
      consumer->CommitAsync([&history, cop](absl::Status s) {
        history.Complete(cop, Classify(Path::kRetriedCall, s));
      });
    } else {
      const int64_t cop = history.Invoke("commit", OffsetsJson(next), Json{{"group", o.group}});
      history.Complete(cop, Classify(Path::kRetriedCall, consumer->CommitSync(next)));
    }
  }
  consumer->Close();  // leaves the group (no commit: auto-commit is off)
  consumer.reset();
  return 0;
}

}  // namespace raftlog::jepsen
