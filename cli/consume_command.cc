// raftlogctl consume TOPIC: the console consumer.
//
// WHERE IT STARTS: without a group, every partition (or --partition P) is
// assigned by hand and read from the latest offset, or --from-beginning,
// --offset N (one partition) or --from-timestamp MS (the first record at or
// after MS; the end when there is none). With --group G it joins the group
// (partitions assigned by the coordinator) and starts at the group's
// committed offsets, else at the latest (earliest with --from-beginning).
//
// WHEN IT STOPS: after --max-messages N records, after --idle-timeout with
// no record, when stdout is closed (a pipe into `head`), or on SIGINT /
// SIGTERM (a second one kills at once). All of these exit 0; in group mode
// the offsets of the records printed (never of records fetched but not
// printed) are committed first (also every 5 s while following, and before
// a rebalance takes partitions away). A failed final commit exits 1.
//
// OUTPUT: --format text (default) prints each value on its own line (with
// --print-key etc. more fields); --format json prints one JSON object per
// line (cli/output.h: RecordJson; binary bytes as base64 with a marker).
// "Processed a total of N messages" goes to stderr at the end.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "client/admin_client.h"
#include "client/consumer.h"

namespace raftlog::cli {
namespace {

using client::TopicPartition;
using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct ConsumeOpts {
  std::string topic;
  bool from_beginning = false;
  int64_t offset = -1;
  int64_t from_timestamp = -1;
  int32_t partition = -1;
  std::string group;
  int64_t max_messages = -1;
  std::string idle_timeout;
  TextRecordOptions text;
};

// Positions a manually assigned consumer per --offset / --from-timestamp.
absl::Status SeekStart(client::Consumer& consumer, const std::shared_ptr<client::Cluster>& cluster,
                       const std::vector<TopicPartition>& tps, const ConsumeOpts& o) {
  if (o.offset >= 0) return consumer.Seek(tps[0], o.offset);
  if (o.from_timestamp < 0) return absl::OkStatus();
  client::AdminClient admin(cluster);
  absl::StatusOr<std::map<TopicPartition, int64_t>> at =
      admin.ListOffsets(tps, client::OffsetQuery::kTimestamp, o.from_timestamp);
  if (!at.ok()) return at.status();
  for (const TopicPartition& tp : tps) {
    const int64_t offset = at->at(tp);
    absl::Status s = offset < 0 ? consumer.SeekToEnd({tp}) : consumer.Seek(tp, offset);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

int RunConsume(const Env& env, const ConsumeOpts& o) {
  std::chrono::milliseconds idle{0};
  if (!o.idle_timeout.empty()) {
    absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(o.idle_timeout);
    if (!d.ok()) return UsageError("--idle-timeout: " + std::string(d.status().message()));
    idle = *d;
  }
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  absl::StatusOr<std::shared_ptr<const client::ClusterMetadata>> md = (*cluster)->Metadata(true);
  if (!md.ok()) return Fail(md.status());
  const client::TopicInfo* topic = (*md)->Topic(o.topic);
  if (topic == nullptr) return Fail(absl::NotFoundError("unknown topic \"" + o.topic + "\""));
  const int32_t count = static_cast<int32_t>(topic->partitions.size());
  if (o.partition >= count) {
    return Fail(absl::NotFoundError("topic \"" + o.topic + "\" has no partition " +
                                    std::to_string(o.partition) + " (it has " +
                                    std::to_string(count) + ")"));
  }

  client::ConsumerOptions co;
  co.client = (*cluster)->options();
  co.group_id = o.group;
  co.enable_auto_commit = false;  // we commit what we printed, see below
  co.auto_offset_reset =
      o.from_beginning ? client::OffsetReset::kEarliest : client::OffsetReset::kLatest;
  co.fetch_max_wait = std::chrono::milliseconds(500);
  co.heartbeat_interval = std::chrono::milliseconds(1000);
  absl::StatusOr<std::unique_ptr<client::Consumer>> created =
      client::Consumer::Create(*cluster, co);
  if (!created.ok()) return Fail(created.status());
  client::Consumer& consumer = **created;

  // Next offset after the last record printed, per partition: what we commit.
  std::map<TopicPartition, int64_t> printed;
  std::map<TopicPartition, int64_t> committed;
  const auto commit = [&](const std::vector<TopicPartition>* only) -> absl::Status {
    if (o.group.empty()) return absl::OkStatus();
    std::map<TopicPartition, int64_t> todo;
    for (const auto& [tp, next] : printed) {
      if (only != nullptr && std::find(only->begin(), only->end(), tp) == only->end()) continue;
      if (auto it = committed.find(tp); it == committed.end() || it->second != next)
        todo[tp] = next;
    }
    if (todo.empty()) return absl::OkStatus();
    absl::Status s = consumer.CommitSync(todo);
    if (s.ok()) {
      for (const auto& [tp, next] : todo) committed[tp] = next;
    }
    return s;
  };

  if (!o.group.empty()) {
    client::RebalanceListener listener;
    listener.on_revoked = [&](const std::vector<TopicPartition>& revoked) {
      (void)commit(&revoked);  // best effort: the group may already be rebalancing
    };
    if (absl::Status s = consumer.Subscribe({o.topic}, std::move(listener)); !s.ok())
      return Fail(s);
  } else {
    std::vector<TopicPartition> tps;
    for (int32_t p = 0; p < count; ++p) {
      if (o.partition < 0 || o.partition == p) tps.push_back({o.topic, p});
    }
    if (absl::Status s = consumer.Assign(tps); !s.ok()) return Fail(s);
    if (absl::Status s = SeekStart(consumer, *cluster, tps, o); !s.ok()) return Fail(s);
  }

  InstallStopHandlers();
  const bool json = env.format == Format::kJson;
  int64_t total = 0;
  Clock::time_point last_record = Clock::now();
  Clock::time_point last_ok = Clock::now();
  Clock::time_point last_commit = Clock::now();
  absl::Status error;
  bool warned = false;
  while (!g_stop && (o.max_messages < 0 || total < o.max_messages)) {
    absl::StatusOr<std::vector<client::ConsumerRecord>> records =
        consumer.Poll(std::chrono::milliseconds(500));
    const Clock::time_point now = Clock::now();
    if (!records.ok()) {
      // Leader elections and coordinator moves pass; keep trying a while.
      const bool transient =
          absl::IsUnavailable(records.status()) || absl::IsDeadlineExceeded(records.status());
      if (!transient || now - last_ok > std::max(env.timeout, std::chrono::milliseconds(30000))) {
        error = records.status();
        break;
      }
      if (!warned) {
        std::cerr << "raftlogctl: warning: " << records.status().message() << " (retrying)"
                  << std::endl;
        warned = true;
      }
      continue;
    }
    last_ok = now;
    std::string out;
    for (const client::ConsumerRecord& r : *records) {
      if (o.max_messages >= 0 && total >= o.max_messages) break;
      out += json ? RecordJson(r).dump(-1, ' ', false, Json::error_handler_t::replace)
                  : RecordText(r, o.text);
      out += '\n';
      printed[{r.topic, r.partition}] = r.offset + 1;
      ++total;
      last_record = now;
    }
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fflush(stdout);
      if (std::ferror(stdout)) break;  // the reader went away (EPIPE)
    }
    if (now - last_commit >= std::chrono::seconds(5)) {
      (void)commit(nullptr);  // retried at the next interval and at exit
      last_commit = now;
    }
    if (idle.count() > 0 && now - last_record >= idle) break;
  }
  absl::Status committed_at_exit = commit(nullptr);
  consumer.Close();
  std::cerr << "Processed a total of " << total << " messages" << std::endl;
  if (!error.ok()) return Fail(error);
  if (!committed_at_exit.ok()) {
    return Fail(absl::Status(committed_at_exit.code(),
                             "committing offsets of group \"" + o.group +
                                 "\": " + std::string(committed_at_exit.message())));
  }
  return kExitOk;
}

}  // namespace

void AddConsumeCommand(CLI::App& app, Registry& r) {
  auto o = std::make_shared<ConsumeOpts>();
  CLI::App* c = AddLeaf(
      &app, r, "consume", "Print records of a topic; follows new records until interrupted",
      "raftlogctl consume orders --from-beginning --group billing --max-messages 10 --format json",
      [o](const Env& env) { return RunConsume(env, *o); }, {"text", "json", "table"},
      Format::kText);
  c->footer(
      "Examples:\n"
      "  raftlogctl consume orders --from-beginning --group billing --max-messages 10 "
      "--format json\n"
      "  raftlogctl consume orders --partition 2 --offset 1500 --print-key --print-offset\n"
      "  raftlogctl consume orders --format json | jq -r .value\n"
      "JSON: one object per line: topic, partition, offset, timestamp (ms), key, value, "
      "headers ([{key, value}]).\n"
      "Bytes that are not valid UTF-8 are base64, marked by a sibling \"<field>_encoding\": "
      "\"base64\"\n(e.g. value_encoding); a missing key or value is null.\n"
      "Stops after --max-messages, --idle-timeout or SIGINT (exit 0; in a group, what was\n"
      "printed is committed first).");
  c->add_option("topic", o->topic, "topic to read")->required();
  CLI::Option* begin =
      c->add_flag("--from-beginning", o->from_beginning,
                  "start at the earliest offset (with --group: when nothing is committed)");
  CLI::Option* partition = c->add_option("-p,--partition", o->partition, "read only this partition")
                               ->check(CLI::NonNegativeNumber);
  CLI::Option* offset =
      c->add_option("--offset", o->offset, "start at this offset (needs --partition)")
          ->check(CLI::NonNegativeNumber)
          ->needs(partition)
          ->excludes(begin);
  CLI::Option* ts = c->add_option("--from-timestamp", o->from_timestamp,
                                  "start at the first record with timestamp >= MS (ms since epoch)")
                        ->check(CLI::NonNegativeNumber)
                        ->excludes(begin)
                        ->excludes(offset)
                        ->option_text("MS");
  c->add_option("-g,--group", o->group,
                "consume as a member of this consumer group and commit what was printed")
      ->excludes(partition)
      ->excludes(offset)
      ->excludes(ts);
  c->add_option("-n,--max-messages", o->max_messages, "stop after N records")
      ->check(CLI::PositiveNumber);
  c->add_option("--idle-timeout", o->idle_timeout,
                "stop when no record came for this long (e.g. 5s)")
      ->option_text("DURATION");
  c->add_flag("--print-key", o->text.print_key, "text format: print the key before the value");
  c->add_flag("--print-partition", o->text.print_partition, "text format: print the partition");
  c->add_flag("--print-offset", o->text.print_offset, "text format: print the offset");
  c->add_flag("--print-timestamp", o->text.print_timestamp, "text format: print the timestamp");
  c->add_flag("--print-headers", o->text.print_headers, "text format: print the headers");
  c->add_option("--separator", o->text.separator,
                "text format: between printed fields (default tab)");
}

}  // namespace raftlog::cli
