// jepsen_worker read-all: the final reader. For each partition of --topic in
// turn, one "read" op: the high watermark (ListOffsets latest) and log start
// (ListOffsets earliest) are taken at the op's start, then a Consumer in
// assign mode (no group) reads from the log start until its position reaches
// that high watermark.
//
// Everything is retried until the run stops (--duration-ms, or a signal):
// ListOffsets, Assign, and Poll errors (re-Assign and Seek back to the next
// offset wanted). Records below the next offset wanted are skipped (a
// consumer reset by OFFSET_OUT_OF_RANGE to the earliest offset, e.g. by a new
// leader whose high watermark still lags, re-reads them), records at or above
// the high watermark are not part of the op.
//
// HISTORY: "read" invoke {"value":null,"partition":p}; ok value
// [[offset, value], ...] in offset order plus "log_start" and
// "high_watermark"; "fail" (reads change nothing) when the run stopped
// first. Exit code 0 only if every partition's read completed ok.
#include "client/admin_client.h"
#include "client/consumer.h"
#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

namespace {

struct PartitionRead {
  int64_t log_start = -1;
  int64_t high_watermark = -1;
  Json records = Json::array();  // [[offset, value], ...]
};

// ListOffsets of one partition, retried until it answers or the run stops.
std::optional<int64_t> OffsetUntilStop(client::AdminClient& admin, const client::TopicPartition& tp,
                                       client::OffsetQuery q, RunControl& control,
                                       std::string& last_error) {
  while (!control.Stopping()) {
    absl::StatusOr<std::map<client::TopicPartition, int64_t>> r = admin.ListOffsets({tp}, q);
    if (r.ok() && r->count(tp) > 0) return r->at(tp);
    if (!r.ok()) last_error = "list offsets: " + ErrorString(r.status());
    if (!control.SleepFor(std::chrono::milliseconds(200))) break;
  }
  return std::nullopt;
}

absl::StatusOr<PartitionRead> ReadPartition(client::AdminClient& admin, client::Consumer& consumer,
                                            const client::TopicPartition& tp, RunControl& control) {
  std::string last_error = "none";
  const auto stopped = [&](const std::string& what) {
    return absl::DeadlineExceededError("run stopped before " + what +
                                       "; last error: " + last_error);
  };
  PartitionRead out;
  std::optional<int64_t> hw =
      OffsetUntilStop(admin, tp, client::OffsetQuery::kLatest, control, last_error);
  if (!hw) return stopped("the high watermark was known");
  std::optional<int64_t> start =
      OffsetUntilStop(admin, tp, client::OffsetQuery::kEarliest, control, last_error);
  if (!start) return stopped("the log start was known");
  out.high_watermark = *hw;
  out.log_start = *start;
  int64_t next = *start;
  bool assigned = false;
  while (next < *hw) {
    if (control.Stopping() || Clock::now() >= control.stop_at()) {
      return stopped("offset " + std::to_string(next) + " of [" + std::to_string(*start) + ", " +
                     std::to_string(*hw) + ") was read");
    }
    if (!assigned) {
      absl::Status s = consumer.Assign({tp});
      if (s.ok()) s = consumer.Seek(tp, next);
      if (!s.ok()) {
        last_error = "assign: " + ErrorString(s);
        control.SleepFor(std::chrono::milliseconds(200));
        continue;
      }
      assigned = true;
    }
    absl::StatusOr<std::vector<client::ConsumerRecord>> records =
        consumer.Poll(std::chrono::milliseconds(500));
    if (!records.ok()) {
      last_error = "poll: " + ErrorString(records.status());
      assigned = false;
      control.SleepFor(std::chrono::milliseconds(100));
      continue;
    }
    for (const client::ConsumerRecord& r : *records) {
      if (r.partition != tp.partition || r.offset < next || r.offset >= *hw) continue;
      out.records.push_back(Json::array({r.offset, r.value ? Json(*r.value) : Json(nullptr)}));
      next = r.offset + 1;
    }
    // The position also moves past batches without data records; after a
    // reset it may be behind what we have: then move it forward again.
    absl::StatusOr<int64_t> pos = consumer.Position(tp);
    if (pos.ok() && *pos > next) next = std::min(*pos, *hw);
    if (pos.ok() && *pos < next) {
      if (!consumer.Seek(tp, next).ok()) assigned = false;
    }
  }
  return out;
}

}  // namespace

int RunReadAll(const WorkerOptions& o, History& history, RunControl& control) {
  std::shared_ptr<client::Cluster> cluster = ConnectUntilStop(o, control);
  if (cluster == nullptr) return 1;
  const std::optional<int> known = PartitionCountUntilStop(o, *cluster, control);
  if (!known) return 1;
  const int partitions = *known;
  client::ConsumerOptions co;
  co.client = o.ClientOptions();
  co.enable_auto_commit = false;
  co.auto_offset_reset = client::OffsetReset::kEarliest;
  absl::StatusOr<std::unique_ptr<client::Consumer>> consumer =
      client::Consumer::Create(cluster, co);
  if (!consumer.ok()) {
    LogLine(o, "creating the consumer: " + ErrorString(consumer.status()));
    return 1;
  }
  client::AdminClient admin(cluster);
  int read_ok = 0;
  for (int32_t p = 0; p < partitions; ++p) {
    if (control.Stopping()) break;
    const int64_t op = history.Invoke("read", nullptr, Json{{"partition", p}});
    absl::StatusOr<PartitionRead> r = ReadPartition(admin, **consumer, {o.topic, p}, control);
    if (r.ok()) {
      const size_t n = r->records.size();
      history.Complete(op, OpType::kOk, std::move(r->records),
                       Json{{"log_start", r->log_start}, {"high_watermark", r->high_watermark}});
      LogLine(o, "partition " + std::to_string(p) + ": read " + std::to_string(n) + " records [" +
                     std::to_string(r->log_start) + ", " + std::to_string(r->high_watermark) + ")");
      ++read_ok;
    } else {
      history.Complete(op, Classify(Path::kRead, r.status()));
      LogLine(o, "partition " + std::to_string(p) + ": " + ErrorString(r.status()));
    }
  }
  (*consumer)->Close();
  return read_ok == partitions ? 0 : 1;
}

}  // namespace raftlog::jepsen
