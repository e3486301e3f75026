// client_bench: end-to-end figures of the client library on a local 3-node
// raftlogd cluster (tests/cluster/process_cluster.h, fsync on):
//   - for each acks mode: a Producer sends --records records of
//     --value_bytes (keyed over --partitions partitions); prints records/s,
//     MB/s and send->ack latency p50/p99/max, and the ratio of each mode's
//     throughput to acks=all's measured in the same run;
//   - a Consumer (assign mode) reads every record back; prints records/s and
//     its ratio to the acks=all producer.
// Every phase is bounded by --max_seconds.
//   client_bench [--records=200000] [--value_bytes=100] [--partitions=6]
//                [--acks=all,1,0] [--linger_ms=5] [--batch_bytes=16384]
//                [--max_seconds=120]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/admin_client.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "tests/cluster/process_cluster.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace rc = raftlog::client;

struct Flags {
  int records = 200000;
  int value_bytes = 100;
  int partitions = 6;
  std::vector<std::string> acks = {"all", "1", "0"};
  int linger_ms = 5;
  int batch_bytes = 16384;
  int max_seconds = 120;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "client_bench: %s\n", msg.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    const std::string key = a.substr(0, eq), val = eq == std::string::npos ? "" : a.substr(eq + 1);
    int* target = key == "--records"       ? &f.records
                  : key == "--value_bytes" ? &f.value_bytes
                  : key == "--partitions"  ? &f.partitions
                  : key == "--linger_ms"   ? &f.linger_ms
                  : key == "--batch_bytes" ? &f.batch_bytes
                  : key == "--max_seconds" ? &f.max_seconds
                                           : nullptr;
    if (target != nullptr) {
      if (!absl::SimpleAtoi(val, target) || *target < 0) Die("bad value for " + a);
    } else if (key == "--acks") {
      f.acks = absl::StrSplit(val, ',');
      for (const std::string& m : f.acks) {
        if (m != "all" && m != "1" && m != "0") Die("--acks takes all,1,0");
      }
    } else {
      Die("unknown flag " + a + " (see the header of bench/client/client_bench.cc)");
    }
  }
  return f;
}

struct ProduceResult {
  double seconds = 0;
  int acked = 0;
  int failed = 0;
  std::vector<double> latencies_ms;
};

ProduceResult Produce(std::shared_ptr<rc::Cluster> conn, const Flags& f, const std::string& topic,
                      rc::Acks acks) {
  rc::ProducerOptions o;
  o.client = conn->options();
  o.acks = acks;
  o.linger = std::chrono::milliseconds(f.linger_ms);
  o.batch_size = static_cast<size_t>(f.batch_bytes);
  absl::StatusOr<std::unique_ptr<rc::Producer>> p = rc::Producer::Create(conn, o);
  if (!p.ok()) Die(std::string(p.status().message()));
  ProduceResult r;
  std::mutex mu;
  r.latencies_ms.reserve(f.records);
  const std::string value(static_cast<size_t>(f.value_bytes), 'x');
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up = start + std::chrono::seconds(f.max_seconds);
  for (int i = 0; i < f.records && Clock::now() < give_up; ++i) {
    rc::ProducerRecord rec;
    rec.topic = topic;
    rec.key = std::to_string(i);
    rec.value = value;
    const Clock::time_point sent = Clock::now();
    (*p)->Send(std::move(rec), [&r, &mu, sent](absl::StatusOr<rc::RecordMetadata> m) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
      std::lock_guard<std::mutex> l(mu);
      if (m.ok()) {
        ++r.acked;
        r.latencies_ms.push_back(ms);
      } else {
        ++r.failed;
      }
    });
  }
  if (absl::Status s = (*p)->Flush(std::chrono::seconds(f.max_seconds)); !s.ok()) {
    std::fprintf(stderr, "flush: %s\n", std::string(s.message()).c_str());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  (*p)->Close();
  return r;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  raftlog::testing::ProcessCluster cluster;
  if (absl::Status s = cluster.StartAll(); !s.ok()) Die(std::string(s.message()));
  rc::ClientOptions co;
  for (int id = 1; id <= 3; ++id) co.bootstrap.push_back(cluster.Address(id));
  absl::StatusOr<std::shared_ptr<rc::Cluster>> conn = rc::Cluster::Connect(co);
  if (!conn.ok()) Die(std::string(conn.status().message()));
  rc::AdminClient admin(*conn);
  for (int attempt = 0; attempt < 300; ++attempt) {  // brokers register within seconds
    absl::StatusOr<raftlog::metadata::v1::ListBrokersResponse> b = admin.ListBrokers();
    int live = 0;
    if (b.ok()) {
      for (const auto& br : b->brokers()) live += br.fenced() ? 0 : 1;
    }
    if (live == 3) break;
    std::this_thread::sleep_for(100ms);
  }
  std::printf("client_bench: %d records of %d bytes, %d partitions, RF 3, fsync on, linger %d ms\n",
              f.records, f.value_bytes, f.partitions, f.linger_ms);
  std::printf("%-6s %10s %12s %9s %9s %9s %9s %8s\n", "acks", "records", "records/s", "MB/s",
              "p50 ms", "p99 ms", "max ms", "vs all");
  double all_rate = 0;
  std::string consume_topic;
  int consume_count = 0;
  for (const std::string& mode : f.acks) {
    const std::string topic = "bench-acks-" + mode;
    if (absl::StatusOr<raftlog::metadata::v1::TopicDescription> t =
            admin.CreateTopic(topic, f.partitions, 3);
        !t.ok()) {
      Die(std::string(t.status().message()));
    }
    const rc::Acks acks = mode == "all" ? rc::Acks::kAll
                          : mode == "1" ? rc::Acks::kLeader
                                        : rc::Acks::kNone;
    ProduceResult r = Produce(*conn, f, topic, acks);
    const double rate = r.acked / r.seconds;
    if (mode == "all") {
      all_rate = rate;
      consume_topic = topic;
      consume_count = r.acked;
    }
    std::printf("%-6s %10d %12.0f %9.1f %9.2f %9.2f %9.2f %8s\n", mode.c_str(), r.acked, rate,
                rate * f.value_bytes / 1e6, Percentile(r.latencies_ms, 0.5),
                Percentile(r.latencies_ms, 0.99), Percentile(r.latencies_ms, 1.0),
                all_rate > 0 ? absl::StrFormat("%.2fx", rate / all_rate).c_str() : "-");
    if (r.failed > 0) std::printf("       %d record(s) failed\n", r.failed);
  }
  if (!consume_topic.empty()) {
    rc::ConsumerOptions o;
    o.client = co;
    o.auto_offset_reset = rc::OffsetReset::kEarliest;
    absl::StatusOr<std::unique_ptr<rc::Consumer>> c = rc::Consumer::Create(*conn, o);
    if (!c.ok()) Die(std::string(c.status().message()));
    std::vector<rc::TopicPartition> tps;
    for (int p = 0; p < f.partitions; ++p) tps.push_back({consume_topic, p});
    if (absl::Status s = (*c)->Assign(tps); !s.ok()) Die(std::string(s.message()));
    int read = 0;
    const Clock::time_point start = Clock::now();
    const Clock::time_point give_up = start + std::chrono::seconds(f.max_seconds);
    while (read < consume_count && Clock::now() < give_up) {
      absl::StatusOr<std::vector<rc::ConsumerRecord>> r = (*c)->Poll(500ms);
      if (!r.ok()) Die(std::string(r.status().message()));
      read += static_cast<int>(r->size());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("consume %d records: %.0f records/s, %.1f MB/s (%.2fx the acks=all producer)\n",
                read, read / secs, read / secs * f.value_bytes / 1e6,
                all_rate > 0 ? (read / secs) / all_rate : 0.0);
  }
  return 0;
}
