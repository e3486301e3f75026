// client_bench: kafka-producer-perf-test / kafka-consumer-perf-test for
// raftlog (issue 6), on a local 3-node raftlogd cluster started by the tool
// (tests/cluster/process_cluster.h; fsync on, journal mode, RF 3).
//
// One run prints, in order:
//   1. the machine's raw figures on the cluster's data disk and loopback
//      (bench/client/raw_figures.h): sequential write+fdatasync bandwidth to
//      a new file, the latency of one fdatasync, loopback TCP bandwidth;
//      and, as context for the latency target, one empty unary gRPC call's
//      round trip on loopback (bench/client/grpc_round_trip.h);
//   2. producer cases, 1 KiB records, acks=all by default: partitions
//      {1, 6} x producers {1, 4} x {batched (open loop: every record queued
//      at once, linger + batch size), one record per request (closed loop:
//      each producer sends one record and waits for its acknowledgement)}.
//      For each: records/s, MB/s, send->ack p50/p99/p99.9, CPU seconds per
//      GB produced (the three raftlogd processes plus this process, from
//      /proc and getrusage);
//   3. a consumer (assign mode, from the earliest offset) reading a topic of
//      --consume_mb MB written by one batched producer, with the
//      consumer's default fetch sizes unless --fetch_partition_max_bytes /
//      --fetch_max_bytes are given; prints MB/s and the CPU seconds per GB
//      read of the servers and of the client;
//   4. the ratios of the targets, each against a figure of step 1.
// Every phase is bounded in records and in --max_seconds.
//
//   client_bench [--record_bytes=1024] [--batched_records=60000]
//                [--single_records=1500] [--partitions=1,6] [--producers=1,4]
//                [--acks=all] [--linger_ms=5] [--batch_bytes=65536]
//                [--consume_mb=1024] [--max_seconds=120]
//                [--fetch_partition_max_bytes=N] [--fetch_max_bytes=N]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/client/grpc_round_trip.h"
#include "bench/client/raw_figures.h"
#include "client/admin_client.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "tests/cluster/process_cluster.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace rc = raftlog::client;

struct Flags {
  int record_bytes = 1024;
  int batched_records = 60000;  // per case, split over the producers
  int single_records = 1500;    // per case, split over the producers
  std::vector<int> partitions = {1, 6};
  std::vector<int> producers = {1, 4};
  std::string acks = "all";
  int linger_ms = 5;
  int batch_bytes = 65536;
  int consume_mb = 1024;
  int max_seconds = 120;
  int fetch_partition_max_bytes = 0;  // 0: ConsumerOptions' default
  int fetch_max_bytes = 0;            // 0: ConsumerOptions' default
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "client_bench: %s\n", msg.c_str());
  std::exit(2);
}

std::vector<int> ParseIntList(const std::string& flag, const std::string& val) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(val, ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v <= 0) Die("bad value in " + flag + "=" + val);
    out.push_back(v);
  }
  return out;
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    const std::string key = a.substr(0, eq), val = eq == std::string::npos ? "" : a.substr(eq + 1);
    int* target = key == "--record_bytes"                ? &f.record_bytes
                  : key == "--batched_records"           ? &f.batched_records
                  : key == "--single_records"            ? &f.single_records
                  : key == "--linger_ms"                 ? &f.linger_ms
                  : key == "--batch_bytes"               ? &f.batch_bytes
                  : key == "--consume_mb"                ? &f.consume_mb
                  : key == "--max_seconds"               ? &f.max_seconds
                  : key == "--fetch_partition_max_bytes" ? &f.fetch_partition_max_bytes
                  : key == "--fetch_max_bytes"           ? &f.fetch_max_bytes
                                                         : nullptr;
    if (target != nullptr) {
      if (!absl::SimpleAtoi(val, target) || *target < 0) Die("bad value for " + a);
    } else if (key == "--partitions") {
      f.partitions = ParseIntList(key, val);
    } else if (key == "--producers") {
      f.producers = ParseIntList(key, val);
    } else if (key == "--acks") {
      if (val != "all" && val != "1" && val != "0") Die("--acks takes all, 1 or 0");
      f.acks = val;
    } else {
      Die("unknown flag " + a + " (see the header of bench/client/client_bench.cc)");
    }
  }
  if (f.record_bytes < 1 || f.max_seconds < 1) Die("--record_bytes and --max_seconds must be > 0");
  return f;
}

rc::Acks AcksOf(const std::string& mode) {
  return mode == "all" ? rc::Acks::kAll : mode == "1" ? rc::Acks::kLeader : rc::Acks::kNone;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// CPU seconds (user + system) of the cluster's processes.
double ClusterCpuSeconds(const raftlog::testing::ProcessCluster& cluster) {
  static const double kTicks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double total = 0;
  for (int id = 1; id <= cluster.size(); ++id) {
    std::optional<pid_t> pid = cluster.Pid(id);
    if (!pid) continue;
    std::ifstream in("/proc/" + std::to_string(*pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may hold spaces.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
    double utime = 0, stime = 0;
    if (fields.size() > 12 && absl::SimpleAtod(fields[11], &utime) &&
        absl::SimpleAtod(fields[12], &stime)) {
      total += (utime + stime) / kTicks;
    }
  }
  return total;
}

// CPU seconds (user + system) of this process (the client).
double SelfCpuSeconds() {
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  return static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
         static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
}

// CPU seconds of the cluster's processes and of this one.
double CpuSeconds(const raftlog::testing::ProcessCluster& cluster) {
  return ClusterCpuSeconds(cluster) + SelfCpuSeconds();
}

struct CaseResult {
  int acked = 0;
  int failed = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  std::vector<double> latencies_ms;
  double MBps(int record_bytes) const {
    return seconds > 0 ? acked * static_cast<double>(record_bytes) / seconds / 1e6 : 0;
  }
};

// Collects acknowledgements from every producer thread; Wait() is used by the
// closed loop (one record in flight per producer).
class Acks {
 public:
  void Record(const absl::StatusOr<rc::RecordMetadata>& m, Clock::time_point sent) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
    std::lock_guard<std::mutex> l(mu_);
    if (m.ok()) {
      ++result_.acked;
      result_.latencies_ms.push_back(ms);
    } else {
      ++result_.failed;
      if (first_error_.empty()) first_error_ = std::string(m.status().message());
    }
  }
  CaseResult Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::move(result_);
  }
  std::string first_error() {
    std::lock_guard<std::mutex> l(mu_);
    return first_error_;
  }

 private:
  std::mutex mu_;
  CaseResult result_;
  std::string first_error_;
};

// One producer's share of a case. `closed_loop`: wait for each record's
// acknowledgement before the next Send.
void RunProducer(std::shared_ptr<rc::Cluster> conn, const Flags& f, const std::string& topic,
                 int records, bool closed_loop, int producer_index, Clock::time_point give_up,
                 Acks* acks) {
  rc::ProducerOptions o;
  o.client = conn->options();
  o.acks = AcksOf(f.acks);
  o.linger = closed_loop ? 0ms : std::chrono::milliseconds(f.linger_ms);
  o.batch_size = static_cast<size_t>(f.batch_bytes);
  o.buffer_memory = std::max<size_t>(o.buffer_memory, 64u << 20);
  absl::StatusOr<std::unique_ptr<rc::Producer>> p = rc::Producer::Create(conn, o);
  if (!p.ok()) Die(std::string(p.status().message()));
  const std::string value(static_cast<size_t>(f.record_bytes), 'v');
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  for (int i = 0; i < records && Clock::now() < give_up; ++i) {
    rc::ProducerRecord rec;
    rec.topic = topic;
    rec.key = absl::StrFormat("p%d-%d", producer_index, i);
    rec.value = value;
    const Clock::time_point sent = Clock::now();
    done = false;
    (*p)->Send(std::move(rec),
               [acks, sent, closed_loop, &mu, &cv, &done](absl::StatusOr<rc::RecordMetadata> m) {
                 acks->Record(m, sent);
                 if (!closed_loop) return;
                 std::lock_guard<std::mutex> l(mu);
                 done = true;
                 cv.notify_one();
               });
    if (closed_loop) {
      std::unique_lock<std::mutex> l(mu);
      if (!cv.wait_until(l, give_up, [&done] { return done; })) break;
    }
  }
  const auto left = std::max<Clock::duration>(give_up - Clock::now(), 1s);
  if (absl::Status s = (*p)->Flush(std::chrono::duration_cast<std::chrono::milliseconds>(left));
      !s.ok()) {
    std::fprintf(stderr, "flush: %s\n", std::string(s.message()).c_str());
  }
  (*p)->Close();
}

CaseResult RunCase(raftlog::testing::ProcessCluster& cluster, std::shared_ptr<rc::Cluster> conn,
                   const Flags& f, const std::string& topic, int producers, int records,
                   bool closed_loop) {
  Acks acks;
  const double cpu_before = CpuSeconds(cluster);
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up = start + std::chrono::seconds(f.max_seconds);
  std::vector<std::thread> threads;
  for (int i = 0; i < producers; ++i) {
    const int share = records / producers + (i < records % producers ? 1 : 0);
    threads.emplace_back(RunProducer, conn, std::cref(f), topic, share, closed_loop, i, give_up,
                         &acks);
  }
  for (std::thread& t : threads) t.join();
  CaseResult r = acks.Take();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = CpuSeconds(cluster) - cpu_before;
  if (r.failed > 0) {
    std::printf("    %d record(s) failed, first error: %s\n", r.failed, acks.first_error().c_str());
  }
  return r;
}

// Creates the topic and waits until every partition has a leader, so that
// the figures measure the steady state, not the first election.
void CreateTopic(rc::AdminClient& admin, rc::Cluster& conn, const std::string& name,
                 int partitions) {
  absl::StatusOr<raftlog::metadata::v1::TopicDescription> t =
      admin.CreateTopic(name, partitions, 3);
  if (!t.ok()) Die("create topic " + name + ": " + std::string(t.status().message()));
  for (int attempt = 0; attempt < 300; ++attempt) {
    absl::StatusOr<std::shared_ptr<const rc::ClusterMetadata>> md = conn.Metadata(true);
    int led = 0;
    for (int p = 0; md.ok() && p < partitions; ++p) led += (*md)->Leader({name, p}).ok() ? 1 : 0;
    if (led == partitions) return;
    std::this_thread::sleep_for(100ms);
  }
  Die("topic " + name + ": not every partition has a leader after 30 s");
}

void WaitForBrokers(rc::AdminClient& admin) {
  for (int attempt = 0; attempt < 300; ++attempt) {  // brokers register within seconds
    absl::StatusOr<raftlog::metadata::v1::ListBrokersResponse> b = admin.ListBrokers();
    int live = 0;
    if (b.ok()) {
      for (const auto& br : b->brokers()) live += br.fenced() ? 0 : 1;
    }
    if (live == 3) return;
    std::this_thread::sleep_for(100ms);
  }
  Die("the three brokers did not register within 30 s");
}

struct ConsumeResult {
  int64_t records = 0;
  int64_t bytes = 0;
  double seconds = 0;
  double server_cpu_seconds = 0;  // the three raftlogd processes
  double client_cpu_seconds = 0;  // this process (the consumer's threads and gRPC's)
};

ConsumeResult Consume(const raftlog::testing::ProcessCluster& cluster,
                      std::shared_ptr<rc::Cluster> conn, const Flags& f, const std::string& topic,
                      int partitions, int64_t expected) {
  rc::ConsumerOptions o;
  o.client = conn->options();
  o.auto_offset_reset = rc::OffsetReset::kEarliest;
  if (f.fetch_partition_max_bytes > 0) o.partition_max_bytes = f.fetch_partition_max_bytes;
  if (f.fetch_max_bytes > 0) o.fetch_max_bytes = f.fetch_max_bytes;
  absl::StatusOr<std::unique_ptr<rc::Consumer>> c = rc::Consumer::Create(conn, o);
  if (!c.ok()) Die(std::string(c.status().message()));
  std::vector<rc::TopicPartition> tps;
  for (int p = 0; p < partitions; ++p) tps.push_back({topic, p});
  if (absl::Status s = (*c)->Assign(tps); !s.ok()) Die(std::string(s.message()));
  ConsumeResult r;
  const double server_cpu_before = ClusterCpuSeconds(cluster);
  const double client_cpu_before = SelfCpuSeconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up = start + std::chrono::seconds(f.max_seconds);
  while (r.records < expected && Clock::now() < give_up) {
    absl::StatusOr<std::vector<rc::ConsumerRecord>> batch = (*c)->Poll(500ms);
    if (!batch.ok()) Die(std::string(batch.status().message()));
    for (const rc::ConsumerRecord& rec : *batch) {
      r.bytes += static_cast<int64_t>(rec.value ? rec.value->size() : 0);
    }
    r.records += static_cast<int64_t>(batch->size());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.server_cpu_seconds = ClusterCpuSeconds(cluster) - server_cpu_before;
  r.client_cpu_seconds = SelfCpuSeconds() - client_cpu_before;
  return r;
}

std::string Verdict(bool met) { return met ? "met" : "MISSED"; }

}  // namespace

int main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  raftlog::testing::ProcessCluster cluster;

  // 1. Raw figures, on the file system that holds the nodes' data.
  std::printf("client_bench: raw figures (data directory %s)\n", cluster.root().c_str());
  const raftlog::bench::RawFigures raw = raftlog::bench::MeasureRawFigures(cluster.root());
  std::printf("  sequential write+fdatasync, 1 MiB blocks, new file: %8.1f MB/s\n",
              raw.write_sync_MBps);
  std::printf("  one fdatasync after a 1 KiB append, p50 / p99:       %8.3f / %.3f ms\n",
              raw.fdatasync_p50_ms, raw.fdatasync_p99_ms);
  std::printf("  loopback TCP, one stream:                            %8.1f MB/s\n",
              raw.loopback_MBps);
  const raftlog::bench::GrpcRoundTrip rtt = raftlog::bench::MeasureGrpcRoundTrip();
  std::printf("  empty unary gRPC call on loopback, p50 / p99:        %8.3f / %.3f ms\n",
              rtt.p50_ms, rtt.p99_ms);

  if (absl::Status s = cluster.StartAll(); !s.ok()) Die(std::string(s.message()));
  rc::ClientOptions co;
  for (int id = 1; id <= 3; ++id) co.bootstrap.push_back(cluster.Address(id));
  absl::StatusOr<std::shared_ptr<rc::Cluster>> conn = rc::Cluster::Connect(co);
  if (!conn.ok()) Die(std::string(conn.status().message()));
  rc::AdminClient admin(*conn);
  WaitForBrokers(admin);

  // 2. Producer cases.
  std::printf(
      "\nproducers: %d-byte records, acks=%s, RF 3, fsync on; batched = linger %d ms, batch "
      "%d bytes, open loop; single = one record per request, closed loop\n",
      f.record_bytes, f.acks.c_str(), f.linger_ms, f.batch_bytes);
  std::printf("%-5s %-4s %-8s %9s %10s %8s %9s %9s %9s %10s\n", "parts", "prod", "mode", "records",
              "records/s", "MB/s", "p50 ms", "p99 ms", "p99.9 ms", "CPU s/GB");
  double best_batched_MBps = 0;
  std::optional<double> single_p50_ms;  // one producer, one partition, one in flight
  for (int partitions : f.partitions) {
    for (int producers : f.producers) {
      for (bool closed_loop : {false, true}) {
        const std::string topic = absl::StrFormat("bench-p%d-n%d-%s", partitions, producers,
                                                  closed_loop ? "single" : "batched");
        CreateTopic(admin, **conn, topic, partitions);
        const CaseResult r =
            RunCase(cluster, *conn, f, topic, producers,
                    closed_loop ? f.single_records : f.batched_records, closed_loop);
        const double gb = r.acked * static_cast<double>(f.record_bytes) / 1e9;
        std::printf("%-5d %-4d %-8s %9d %10.0f %8.1f %9.2f %9.2f %9.2f %10.1f\n", partitions,
                    producers, closed_loop ? "single" : "batched", r.acked,
                    r.seconds > 0 ? r.acked / r.seconds : 0.0, r.MBps(f.record_bytes),
                    Percentile(r.latencies_ms, 0.5), Percentile(r.latencies_ms, 0.99),
                    Percentile(r.latencies_ms, 0.999), gb > 0 ? r.cpu_seconds / gb : 0.0);
        std::fflush(stdout);
        if (!closed_loop) best_batched_MBps = std::max(best_batched_MBps, r.MBps(f.record_bytes));
        if (closed_loop && producers == 1 && !single_p50_ms) {
          single_p50_ms = Percentile(r.latencies_ms, 0.5);
        }
      }
    }
  }

  // 3. Consumer over a topic of --consume_mb MB.
  const int consume_partitions = *std::max_element(f.partitions.begin(), f.partitions.end());
  const int consume_records =
      static_cast<int>(static_cast<int64_t>(f.consume_mb) * 1000 * 1000 / f.record_bytes);
  std::optional<double> consume_MBps;
  if (consume_records > 0) {
    const std::string topic = "bench-consume";
    CreateTopic(admin, **conn, topic, consume_partitions);
    Flags fill = f;
    fill.max_seconds = std::max(f.max_seconds, 600);
    const CaseResult w = RunCase(cluster, *conn, fill, topic, 1, consume_records, false);
    std::printf("\nconsumer: filled %s with %d records (%.0f MB) in %.1f s\n", topic.c_str(),
                w.acked, w.acked * static_cast<double>(f.record_bytes) / 1e6, w.seconds);
    const ConsumeResult c = Consume(cluster, *conn, f, topic, consume_partitions, w.acked);
    consume_MBps = c.seconds > 0 ? c.bytes / c.seconds / 1e6 : 0;
    std::printf("  read %lld records, %.0f MB in %.2f s: %.0f records/s, %.1f MB/s\n",
                static_cast<long long>(c.records), c.bytes / 1e6, c.seconds,
                c.seconds > 0 ? c.records / c.seconds : 0.0, *consume_MBps);
    // CPU per byte read: on two shared cores this, not the wall clock, is
    // what bounds the consumer and what other load on the machine disturbs
    // least.
    const double gb = static_cast<double>(c.bytes) / 1e9;
    std::printf("  CPU s/GB read: servers %.3f, client %.3f, total %.3f\n",
                gb > 0 ? c.server_cpu_seconds / gb : 0.0, gb > 0 ? c.client_cpu_seconds / gb : 0.0,
                gb > 0 ? (c.server_cpu_seconds + c.client_cpu_seconds) / gb : 0.0);
  }

  // 4. The targets, as ratios to the raw figures of this run.
  std::printf("\ntargets (ratios to the raw figures above):\n");
  const double tput_ratio = best_batched_MBps / raw.write_sync_MBps;
  std::printf(
      "  batched acks=%s throughput / raw write+fdatasync: %.1f / %.1f MB/s = %.2fx "
      "(target >= 0.40x: %s)\n",
      f.acks.c_str(), best_batched_MBps, raw.write_sync_MBps, tput_ratio,
      Verdict(tput_ratio >= 0.40).c_str());
  if (single_p50_ms) {
    const double lat_ratio = *single_p50_ms / raw.fdatasync_p50_ms;
    std::printf(
        "  one request in flight, p50 ack / raw fdatasync p50: %.3f / %.3f ms = %.2fx "
        "(target <= 3x: %s)\n",
        *single_p50_ms, raw.fdatasync_p50_ms, lat_ratio, Verdict(lat_ratio <= 3).c_str());
    // Context: two gRPC round trips (client <-> leader, leader <-> follower)
    // and one fdatasync (leader's and follower's run in parallel) is the
    // least any acks=all record over gRPC waits on this machine.
    const double floor_ms = 2 * rtt.p50_ms + raw.fdatasync_p50_ms;
    std::printf(
        "    (floor of a gRPC design: 2 x %.3f ms round trip + %.3f ms fdatasync = %.3f ms = "
        "%.2fx fdatasync; the ack p50 is %.2fx that floor)\n",
        rtt.p50_ms, raw.fdatasync_p50_ms, floor_ms, floor_ms / raw.fdatasync_p50_ms,
        *single_p50_ms / floor_ms);
  }
  if (consume_MBps) {
    const double c_ratio = *consume_MBps / raw.loopback_MBps;
    std::printf("  consumer / loopback TCP: %.1f / %.1f MB/s = %.2fx (target >= 0.25x: %s)\n",
                *consume_MBps, raw.loopback_MBps, c_ratio, Verdict(c_ratio >= 0.25).c_str());
  }
  // A clean stop (SIGTERM), so that a node run under a profiler (RAFTLOGD
  // pointing at a wrapper script) writes its profile on exit.
  if (absl::Status s = cluster.StopAll(); !s.ok()) {
    std::fprintf(stderr, "stopping the cluster: %s\n", std::string(s.message()).c_str());
  }
  return 0;
}
