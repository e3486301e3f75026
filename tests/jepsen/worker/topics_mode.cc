// jepsen_worker topics: topic creates, deletes and lists, mixed, at --rate
// (default 5/s: every create makes a Raft group on each replica).
//   create  "jt-<process>-<n>", 1 partition, replication factor 3 (n counts
//           up, so a name is never created twice by this process);
//   delete  one of this process's topics whose create was ok and that it has
//           not tried to delete yet (30% of ops when there is one);
//   list    every topic name, sorted (25% of ops).
//
// HISTORY: "create-topic" / "delete-topic" value: the name; classified as
// retried calls (outcome.h): ALREADY_EXISTS on a create, NOT_FOUND on a
// delete are "info", since an earlier attempt of the same call (CallAny
// retries after UNAVAILABLE) may have done it. "list-topics" invoke null,
// ok value: sorted names; errors "fail".
#include <algorithm>
#include <random>

#include "client/admin_client.h"
#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

int RunTopics(const WorkerOptions& o, History& history, RunControl& control) {
  std::shared_ptr<client::Cluster> cluster = ConnectUntilStop(o, control);
  if (cluster == nullptr) return 1;
  client::AdminClient admin(cluster);
  std::mt19937_64 rng(o.seed);
  std::vector<std::string> deletable;  // created ok, no delete tried yet
  int64_t n = 0;
  Pacer pacer(o.rate);
  while (pacer.Wait(control)) {
    const uint64_t dice = rng() % 100;
    if (dice < 25) {
      const int64_t op = history.Invoke("list-topics", nullptr);
      absl::StatusOr<std::vector<client::mdpb::Topic>> r = admin.ListTopics();
      if (!r.ok()) {
        history.Complete(op, Classify(Path::kRead, r.status()));
        continue;
      }
      std::vector<std::string> names;
      for (const client::mdpb::Topic& t : *r) names.push_back(t.name());
      std::sort(names.begin(), names.end());
      history.Complete(op, OpType::kOk, Json(names));
    } else if (dice < 55 && !deletable.empty()) {
      const size_t i = rng() % deletable.size();
      const std::string name = deletable[i];
      deletable.erase(deletable.begin() + static_cast<std::ptrdiff_t>(i));
      const int64_t op = history.Invoke("delete-topic", name);
      history.Complete(op, Classify(Path::kRetriedCall, admin.DeleteTopic(name)));
    } else {
      const std::string name = "jt-" + std::to_string(o.process) + "-" + std::to_string(n++);
      const int64_t op = history.Invoke("create-topic", name);
      absl::StatusOr<client::mdpb::TopicDescription> r = admin.CreateTopic(name, 1, 3);
      history.Complete(op, Classify(Path::kRetriedCall, r.status()));
      if (r.ok()) deletable.push_back(name);
    }
  }
  return 0;
}

}  // namespace raftlog::jepsen
