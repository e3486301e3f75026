// raftlogctl produce TOPIC: the console producer. Reads stdin, one record
// per line (the '\n' is not part of the value; a last line without '\n'
// still counts), optionally split into key and value at the first
// --key-separator. Every record gets the --header pairs.
//
// OUTCOME: waits for every record's acknowledgement (acks=0: for it to be
// sent), each for at most --timeout (retries across leader changes
// included). Exit 0 only when every record was acknowledged; otherwise exit 1
// with the count of failed records and the first error on stderr. A line
// without the key separator fails (it is not sent). Table format: a summary
// on stderr; JSON format: a summary object on stdout.
#include <unistd.h>

#include <condition_variable>
#include <iostream>
#include <mutex>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "client/producer.h"

namespace raftlog::cli {
namespace {

struct ProduceOpts {
  std::string topic;
  std::string key_separator;
  std::string acks = "all";
  int32_t partition = -1;
  std::vector<std::string> headers;
  std::string compression = "none";
};

// Tallies acknowledgements from the producer's threads. Producer::Flush
// returns once nothing is pending, which can be just before the last
// callbacks have run, so the outcome is read only after WaitForCallbacks.
class Outcome {
 public:
  void Done(const absl::StatusOr<client::RecordMetadata>& r) {
    std::lock_guard<std::mutex> l(mu_);
    if (r.ok()) {
      ++acked_;
    } else {
      FailLocked(r.status());
    }
    ++completed_;
    cv_.notify_all();
  }
  // A record that was never sent (bad line).
  void NotSent(const absl::Status& s) {
    std::lock_guard<std::mutex> l(mu_);
    FailLocked(s);
  }
  // Waits until `sent` callbacks have run; false after `timeout`.
  bool WaitForCallbacks(int64_t sent, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return completed_ >= sent; });
  }
  int64_t acked() const {
    std::lock_guard<std::mutex> l(mu_);
    return acked_;
  }
  absl::Status first_error() const {
    std::lock_guard<std::mutex> l(mu_);
    return first_error_;
  }

 private:
  void FailLocked(const absl::Status& s) {
    if (first_error_.ok()) first_error_ = s;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t acked_ = 0;
  int64_t completed_ = 0;
  absl::Status first_error_;
};

int RunProduce(const Env& env, const ProduceOpts& o) {
  client::ProducerOptions po;
  if (o.acks == "all" || o.acks == "-1") {
    po.acks = client::Acks::kAll;
  } else if (o.acks == "1") {
    po.acks = client::Acks::kLeader;
  } else {
    po.acks = client::Acks::kNone;
  }
  if (o.compression == "lz4") po.compression = storage::Compression::kLz4;
  if (o.compression == "zstd") po.compression = storage::Compression::kZstd;
  std::vector<storage::RecordHeader> headers;
  for (const std::string& h : o.headers) {
    absl::StatusOr<std::pair<std::string, std::string>> kv = ParseKeyValue(h);
    if (!kv.ok()) return UsageError("--header: " + std::string(kv.status().message()));
    headers.push_back({kv->first, kv->second});
  }

  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  // An unknown topic or partition fails at once rather than per record.
  absl::StatusOr<std::shared_ptr<const client::ClusterMetadata>> md = (*cluster)->Metadata(true);
  if (!md.ok()) return Fail(md.status());
  const client::TopicInfo* topic = (*md)->Topic(o.topic);
  if (topic == nullptr) return Fail(absl::NotFoundError("unknown topic \"" + o.topic + "\""));
  if (o.partition >= static_cast<int32_t>(topic->partitions.size())) {
    return Fail(absl::NotFoundError("topic \"" + o.topic + "\" has no partition " +
                                    std::to_string(o.partition) + " (it has " +
                                    std::to_string(topic->partitions.size()) + ")"));
  }
  po.client = (*cluster)->options();
  // --timeout bounds each record's delivery (retries included) and how long
  // a line may wait for buffer space or metadata: a dead partition leader or
  // cluster makes produce give up after about --timeout, not minutes.
  po.delivery_timeout = env.timeout;
  po.max_block = env.timeout;
  absl::StatusOr<std::unique_ptr<client::Producer>> producer =
      client::Producer::Create(*cluster, po);
  if (!producer.ok()) return Fail(producer.status());

  // Shared with the callbacks, which may in theory outlive this frame.
  auto outcome_ptr = std::make_shared<Outcome>();
  Outcome& outcome = *outcome_ptr;
  Progress progress;
  if (::isatty(STDIN_FILENO) == 1) {
    std::cerr << "Reading records for " << o.topic << " from stdin, one per line; end with Ctrl-D."
              << std::endl;
  }
  int64_t lines = 0;
  int64_t sent = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    ++lines;
    client::ProducerRecord rec;
    rec.topic = o.topic;
    if (o.partition >= 0) rec.partition = o.partition;
    rec.headers = headers;
    if (o.key_separator.empty()) {
      rec.value = std::move(line);
    } else {
      const size_t at = line.find(o.key_separator);
      if (at == std::string::npos) {
        outcome.NotSent(absl::InvalidArgumentError(
            "line " + std::to_string(lines) + ": no key separator \"" + o.key_separator + "\""));
        continue;
      }
      rec.key = line.substr(0, at);
      rec.value = line.substr(at + o.key_separator.size());
    }
    ++sent;
    (*producer)->Send(std::move(rec), [outcome_ptr](absl::StatusOr<client::RecordMetadata> r) {
      outcome_ptr->Done(r);
    });
    progress.Update("sent " + std::to_string(lines) + ", acknowledged " +
                    std::to_string(outcome.acked()));
  }
  absl::Status flushed = (*producer)->Flush(po.delivery_timeout + std::chrono::seconds(5));
  (*producer)->Close(std::chrono::seconds(5));  // fails what is still pending
  if (!outcome.WaitForCallbacks(sent, std::chrono::seconds(10)) && flushed.ok()) {
    flushed = absl::DeadlineExceededError("some records were never acknowledged nor failed");
  }
  progress.Clear();
  const int64_t failed = lines - outcome.acked();
  absl::Status first = outcome.first_error();
  if (first.ok() && failed > 0)
    first = flushed.ok() ? absl::UnknownError("not acknowledged") : flushed;

  if (env.format == Format::kJson) {
    Json j;
    j["topic"] = o.topic;
    j["records"] = lines;
    j["acknowledged"] = outcome.acked();
    j["failed"] = failed;
    j["first_error"] = first.ok() ? Json(nullptr) : Json(std::string(first.message()));
    std::cout << j.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
  }
  if (failed > 0) {
    std::cerr << "raftlogctl: error: " << failed << " of " << lines
              << " record(s) failed; first error: " << first.message() << std::endl;
    return kExitFailure;
  }
  if (env.format != Format::kJson) {
    std::cerr << lines << " record(s) "
              << (po.acks == client::Acks::kNone ? "sent" : "acknowledged") << std::endl;
  }
  return kExitOk;
}

}  // namespace

void AddProduceCommand(CLI::App& app, Registry& r) {
  auto o = std::make_shared<ProduceOpts>();
  CLI::App* p = AddLeaf(&app, r, "produce", "Produce records read from stdin, one per line",
                        "printf 'k1:hello\\nk2:world\\n' | raftlogctl produce orders "
                        "--key-separator : --acks all --header source=cli",
                        [o](const Env& env) { return RunProduce(env, *o); });
  p->add_option("topic", o->topic, "topic to produce to")->required();
  p->add_option("--key-separator", o->key_separator,
                "split each line into key and value at the first SEP (no key without it)")
      ->option_text("SEP");
  p->add_option("--acks", o->acks, "all (committed on a majority; default), 1 (leader), 0 (none)")
      ->check(CLI::IsMember({"all", "-1", "1", "0"}));
  p->add_option("--partition", o->partition, "send every record to this partition")
      ->check(CLI::NonNegativeNumber);
  p->add_option("-H,--header", o->headers, "header key=value on every record (repeatable)")
      ->allow_extra_args(false);
  p->add_option("--compression", o->compression, "none|lz4|zstd")
      ->check(CLI::IsMember({"none", "lz4", "zstd"}));
}

}  // namespace raftlog::cli
