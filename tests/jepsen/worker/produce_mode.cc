// jepsen_worker produce: sends unique values "<process>-<seq>" with the
// client's asynchronous Producer to partitions chosen round-robin (or at
// random from --seed), at --rate, with at most --max-in-flight sends
// outstanding.
//
// HISTORY: the "send" invoke (value, partition) is written before
// Producer::Send; its completion is written by the record's callback (ok
// with partition and offset, or the classified error: outcome.h). A
// callback that runs inside Send (on the calling thread, before Send
// returns) is an immediate failure: the record was never queued or sent,
// so its error is a definite "fail". With --acks=none an acknowledgement
// carries no offset and proves nothing: such sends complete as "info".
//
// DRAIN: after the stop, Flush until the drain deadline, then Close (which
// fails what is still queued: "info", the batch may have been sent).
#include <condition_variable>
#include <mutex>
#include <random>

#include "client/producer.h"
#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

namespace {

// True on the thread inside Producer::Send: a callback that sees it is an
// immediate (never sent) failure.
thread_local bool t_in_send = false;

struct InFlight {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
};

}  // namespace

int RunProduce(const WorkerOptions& o, History& history, RunControl& control) {
  std::shared_ptr<client::Cluster> cluster = ConnectUntilStop(o, control);
  if (cluster == nullptr) return 1;
  const std::optional<int> known = PartitionCountUntilStop(o, *cluster, control);
  if (!known) return 1;
  const int partitions = *known;
  client::ProducerOptions po;
  po.client = o.ClientOptions();
  po.acks = o.acks;
  po.linger = o.linger;
  po.delivery_timeout = o.delivery_timeout;
  po.idempotence = o.idempotence;
  po.max_block = std::chrono::seconds(5);
  std::unique_ptr<client::Producer> producer;
  while (producer == nullptr) {
    absl::StatusOr<std::unique_ptr<client::Producer>> p = client::Producer::Create(cluster, po);
    if (p.ok()) {
      producer = *std::move(p);
    } else {
      LogLine(o, "creating the producer: " + ErrorString(p.status()) + " (retrying)");
      if (!control.SleepFor(std::chrono::milliseconds(500))) return 1;
    }
  }
  LogLine(o, "producing to " + o.topic + " (" + std::to_string(partitions) +
                 " partitions), producer id " + std::to_string(producer->producer_id()));

  InFlight in_flight;
  std::mt19937_64 rng(o.seed);
  Pacer pacer(o.rate);
  int64_t seq = 0;
  while (pacer.Wait(control)) {
    {
      std::unique_lock<std::mutex> l(in_flight.mu);
      while (in_flight.count >= o.max_in_flight && !control.Stopping()) {
        in_flight.cv.wait_for(l, std::chrono::milliseconds(20));
        if (Clock::now() >= control.stop_at()) control.RequestStop("duration elapsed");
      }
      if (control.Stopping()) break;
      ++in_flight.count;
    }
    const int32_t partition = o.random_partitions
                                  ? static_cast<int32_t>(rng() % static_cast<uint64_t>(partitions))
                                  : static_cast<int32_t>(seq % partitions);
    std::string value = std::to_string(o.process) + "-" + std::to_string(seq++);
    const int64_t op = history.Invoke("send", value, Json{{"partition", partition}});
    client::ProducerRecord record;
    record.topic = o.topic;
    record.partition = partition;
    record.value = std::move(value);
    const bool acks_none = o.acks == client::Acks::kNone;
    t_in_send = true;
    producer->Send(std::move(record), [&history, &in_flight, op,
                                       acks_none](absl::StatusOr<client::RecordMetadata> r) {
      if (!r.ok()) {
        history.Complete(op, Classify(t_in_send ? Path::kNeverSent : Path::kProduce, r.status()));
      } else if (acks_none) {
        history.Complete(op, OpType::kInfo, std::nullopt, nullptr,
                         "acks=none: sent, outcome unknown");
      } else {
        history.Complete(op, OpType::kOk, std::nullopt,
                         Json{{"partition", r->partition}, {"offset", r->offset}});
      }
      {
        std::lock_guard<std::mutex> l(in_flight.mu);
        --in_flight.count;
      }
      in_flight.cv.notify_all();
    });
    t_in_send = false;
  }

  // Drain: wait for what is outstanding, then close (failing the rest).
  const auto left = [&] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        control.drain_deadline() - Clock::now() - std::chrono::milliseconds(200)));
  };
  if (absl::Status s = producer->Flush(left()); !s.ok()) LogLine(o, "drain: " + ErrorString(s));
  producer->Close(std::chrono::milliseconds(0));
  producer.reset();
  return 0;
}

}  // namespace raftlog::jepsen
