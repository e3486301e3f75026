// cluster_bench: issue 4's benchmark of raftlogd on a local 3-node cluster of
// real processes (tests/cluster/process_cluster.h), for 1, 100 and 1,000
// partition groups:
//   - idle cost per node: CPU (% of one core, from /proc/<pid>/stat over a
//     window), resident memory and open files, each also per group against
//     the same cluster with no partition groups measured in the same run;
//   - time until every group has a leader after creation, and again after
//     SIGKILL of the node leading the most groups;
//   - replicated commit throughput of 1 KiB entries (fsync on by default)
//     with P concurrent proposals outstanding (async gRPC, one entry per
//     call), for 1, 16 and 128 proposers on one group and for every group
//     count with max(128, groups) proposers spread over all groups, with
//     ratios against 1 proposer and against 1 group.
//
//   cluster_bench [--groups=1,100,1000] [--proposers=1,16,128] [--seconds=8]
//                 [--idle_seconds=10] [--entry_bytes=1024] [--fsync=always|never]
//                 [--sync_threads=8] [--sync_mode=journal|per-group|syncfs] [--tick_ms=100]
//                 [--heartbeat_ticks=3]
//                 [--no_kill] [--json]
// Prints a table per phase; --json adds one JSON line per measurement.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"
#include "raftlog/node/v1/node.grpc.pb.h"
#include "tests/cluster/process_cluster.h"

namespace {

namespace pb = raftlog::node::v1;
using raftlog::testing::ProcessCluster;
using raftlog::testing::ProcessClusterOptions;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::vector<int> groups{1, 100, 1000};
  std::vector<int> proposers{1, 16, 128};
  int seconds = 8;
  int idle_seconds = 10;
  int entry_bytes = 1024;
  bool fsync = true;
  int sync_threads = 8;
  int tick_ms = 100;
  int heartbeat_ticks = 3;  // raftlogd's default; election ticks stay 10
  std::string sync_mode = "journal";
  bool kill = true;
  bool json = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "cluster_bench: %s\n", what.c_str());
  std::exit(1);
}

std::vector<int> ParseInts(const std::string& v, const char* flag) {
  std::vector<int> out;
  for (absl::string_view p : absl::StrSplit(v, ',')) {
    int x = 0;
    if (!absl::SimpleAtoi(p, &x) || x < 1) Die(absl::StrFormat("bad value for %s: %s", flag, v));
    out.push_back(x);
  }
  return out;
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const std::string val = eq == std::string::npos ? "" : a.substr(eq + 1);
    auto num = [&](int lo) {
      int x = 0;
      if (!absl::SimpleAtoi(val, &x) || x < lo) Die("bad value for " + key + ": " + val);
      return x;
    };
    if (key == "--groups")
      f.groups = ParseInts(val, "--groups");
    else if (key == "--proposers")
      f.proposers = ParseInts(val, "--proposers");
    else if (key == "--seconds")
      f.seconds = num(1);
    else if (key == "--idle_seconds")
      f.idle_seconds = num(1);
    else if (key == "--entry_bytes")
      f.entry_bytes = num(1);
    else if (key == "--sync_threads")
      f.sync_threads = num(1);
    else if (key == "--tick_ms")
      f.tick_ms = num(1);
    else if (key == "--heartbeat_ticks")
      f.heartbeat_ticks = num(1);
    else if (key == "--fsync" && (val == "always" || val == "never"))
      f.fsync = val == "always";
    else if (key == "--sync_mode" && (val == "journal" || val == "per-group" || val == "syncfs"))
      f.sync_mode = val;
    else if (key == "--no_kill")
      f.kill = false;
    else if (key == "--json")
      f.json = true;
    else
      Die("unknown flag " + a + " (see the header of bench/cluster/cluster_bench.cc)");
  }
  return f;
}

// ---- /proc readings ----
double CpuSecondsOf(pid_t pid) {
  std::ifstream in(absl::StrFormat("/proc/%d/stat", pid));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t RssKiB(pid_t pid) {
  std::ifstream in(absl::StrFormat("/proc/%d/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return 0;
}

int OpenFiles(pid_t pid) {
  DIR* d = opendir(absl::StrFormat("/proc/%d/fd", pid).c_str());
  if (d == nullptr) return 0;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

struct IdleFigures {
  double cpu_pct[3] = {0, 0, 0};  // % of one core per node
  int64_t rss_kib[3] = {0, 0, 0};
  int fds[3] = {0, 0, 0};
};

IdleFigures MeasureIdle(ProcessCluster& c, int seconds) {
  IdleFigures f;
  double before[3];
  for (int i = 0; i < 3; ++i) before[i] = CpuSecondsOf(*c.Pid(i + 1));
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  for (int i = 0; i < 3; ++i) {
    const pid_t pid = *c.Pid(i + 1);
    f.cpu_pct[i] = 100.0 * (CpuSecondsOf(pid) - before[i]) / wall;
    f.rss_kib[i] = RssKiB(pid);
    f.fds[i] = OpenFiles(pid);
  }
  return f;
}

// ---- leaders ----
// Per group: when it first had one agreed leader, and that leader's term.
struct GroupLed {
  double seconds = 0;
  uint64_t term = 0;
};

// Seconds until every group in [1, groups] has one agreed leader among the
// running nodes (polling Status), or a negative number after `limit`.
// `first_led` (optional) receives, per group, the first poll that saw it led.
double TimeUntilAllLed(ProcessCluster& c, int groups, std::vector<int> nodes, double limit_s,
                       std::map<uint64_t, int>* leaders,
                       std::map<uint64_t, GroupLed>* first_led = nullptr) {
  const auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < limit_s) {
    std::map<uint64_t, std::map<int, uint64_t>> seen;  // group -> node -> leader
    std::map<uint64_t, int> led;                       // group -> leader node (self-reported)
    std::map<uint64_t, uint64_t> led_term;             // group -> the leader's term
    for (int id : nodes) {
      auto st = c.Status(id);
      if (!st.ok()) continue;
      for (const pb::GroupStatus& g : st->groups()) {
        if (g.group() == 0) continue;
        seen[g.group()][id] = g.leader();
        if (g.role() == pb::ROLE_LEADER) {
          led[g.group()] = id;
          led_term[g.group()] = g.term();
        }
      }
    }
    const double now_s = std::chrono::duration<double>(Clock::now() - t0).count();
    bool all = true;
    for (int g = 1; g <= groups; ++g) {
      auto it = led.find(g);
      bool agreed = it != led.end() && seen[g].size() == nodes.size();
      if (agreed) {
        for (auto& [node, l] : seen[g]) agreed = agreed && l == static_cast<uint64_t>(it->second);
      }
      if (agreed && first_led && !first_led->count(g)) {
        (*first_led)[g] = GroupLed{now_s, led_term[g]};
      }
      all = all && agreed;
      if (!all && !first_led) break;
    }
    if (all) {
      if (leaders) *leaders = led;
      return std::chrono::duration<double>(Clock::now() - t0).count();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

// How the groups the victim led were taken over: the spread of the time
// each was led again and how many elections (term increments) it took; a
// group needing more than one points at split votes.
void PrintTakeover(const std::map<uint64_t, GroupLed>& first_led,
                   const std::map<uint64_t, uint64_t>& term_before,
                   const std::map<uint64_t, int>& leaders, int victim) {
  std::vector<double> secs;
  std::map<uint64_t, int> by_terms;  // term increments -> groups
  for (const auto& [g, l] : leaders) {
    if (l != victim) continue;
    auto led = first_led.find(g);
    auto before = term_before.find(g);
    if (led == first_led.end() || before == term_before.end()) continue;
    secs.push_back(led->second.seconds);
    by_terms[led->second.term - before->second]++;
  }
  if (secs.empty()) return;
  std::sort(secs.begin(), secs.end());
  auto at = [&](double q) { return secs[std::min(secs.size() - 1, size_t(q * secs.size()))]; };
  std::printf("  the victim's %zu group(s) led again: p50 %.2f s  p90 %.2f s  max %.2f s;",
              secs.size(), at(0.5), at(0.9), secs.back());
  std::printf("  term increments:");
  for (const auto& [inc, n] : by_terms) {
    std::printf(" +%llu x%d", static_cast<unsigned long long>(inc), n);
  }
  std::printf("\n");
}

// ---- throughput ----
struct Throughput {
  double entries_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  uint64_t ok = 0, failed = 0;
  // CPU time of the three raftlogd processes per committed entry: steadier
  // than entries/s when other work shares the cores.
  double node_cpu_us_per_entry = 0;
};

class Proposers {
 public:
  Proposers(ProcessCluster& c, std::map<uint64_t, int> leaders, std::string entry)
      : c_(c), leaders_(std::move(leaders)), entry_(std::move(entry)) {}

  Throughput Run(int proposers, int groups, int seconds) {
    struct Call {
      grpc::ClientContext ctx;
      pb::ProposeRequest req;
      pb::ProposeResponse resp;
      grpc::Status status;
      std::unique_ptr<grpc::ClientAsyncResponseReader<pb::ProposeResponse>> rpc;
      Clock::time_point start;
      int slot = 0;
    };
    grpc::CompletionQueue cq;
    std::vector<double> lat_ms;
    Throughput t;
    double cpu_before = 0;
    for (int n = 1; n <= 3; ++n) cpu_before += CpuSecondsOf(*c_.Pid(n));
    const auto t0 = Clock::now();
    const auto end = t0 + std::chrono::seconds(seconds);
    auto issue = [&](int slot) {
      auto call = std::make_unique<Call>();
      call->slot = slot;
      const uint64_t group = 1 + static_cast<uint64_t>(slot % groups);
      call->req.set_group(group);
      call->req.add_entries(entry_);
      call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      call->start = Clock::now();
      call->rpc = c_.Admin(leaders_[group]).AsyncPropose(&call->ctx, call->req, &cq);
      Call* raw = call.release();
      raw->rpc->Finish(&raw->resp, &raw->status, raw);
    };
    for (int s = 0; s < proposers; ++s) issue(s);
    int outstanding = proposers;
    while (outstanding > 0) {
      void* tag = nullptr;
      bool ok = false;
      if (!cq.Next(&tag, &ok)) break;
      std::unique_ptr<Call> call(static_cast<Call*>(tag));
      --outstanding;
      const auto now = Clock::now();
      if (ok && call->status.ok()) {
        ++t.ok;
        lat_ms.push_back(std::chrono::duration<double, std::milli>(now - call->start).count());
      } else {
        ++t.failed;
        if (t.failed <= 3) {
          std::fprintf(stderr, "  propose to group %llu failed: code %d: %s\n",
                       static_cast<unsigned long long>(call->req.group()),
                       static_cast<int>(call->status.error_code()),
                       call->status.error_message().c_str());
        }
      }
      if (now < end && t.failed < 1000) {
        issue(call->slot);
        ++outstanding;
      }
    }
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    t.entries_per_s = static_cast<double>(t.ok) / wall;
    double cpu_after = 0;
    for (int n = 1; n <= 3; ++n) cpu_after += CpuSecondsOf(*c_.Pid(n));
    if (t.ok > 0)
      t.node_cpu_us_per_entry = 1e6 * (cpu_after - cpu_before) / static_cast<double>(t.ok);
    std::sort(lat_ms.begin(), lat_ms.end());
    if (!lat_ms.empty()) {
      t.p50_ms = lat_ms[lat_ms.size() / 2];
      t.p99_ms = lat_ms[std::min(lat_ms.size() - 1, lat_ms.size() * 99 / 100)];
    }
    return t;
  }

 private:
  ProcessCluster& c_;
  std::map<uint64_t, int> leaders_;
  std::string entry_;
};

ProcessClusterOptions ClusterOptions(const Flags& f) {
  ProcessClusterOptions o;
  o.nodes = 3;
  o.cluster_id = "bench";
  o.tick_ms = f.tick_ms;
  o.election_ticks = 10;
  o.heartbeat_ticks = f.heartbeat_ticks;
  o.fsync = f.fsync;
  o.sync_threads = f.sync_threads;
  o.extra_args.push_back("--sync-mode=" + f.sync_mode);
  return o;
}

void Json(const Flags& f, const std::string& line) {
  if (f.json) std::printf("JSON %s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  const std::string entry = raftlog::testing::MakeTestBatch(std::string(f.entry_bytes, 'x'), 1);
  std::printf(
      "cluster_bench: 3 raftlogd processes on loopback, %d cores, fsync %s (%s), "
      "sync_threads %d, tick %d ms, entries of %d value bytes (%zu batch bytes)\n",
      static_cast<int>(std::thread::hardware_concurrency()), f.fsync ? "on" : "OFF",
      f.sync_mode.c_str(), f.sync_threads, f.tick_ms, f.entry_bytes, entry.size());

  // Baseline: the cluster with only the metadata group.
  IdleFigures base;
  {
    ProcessCluster c(ClusterOptions(f));
    if (absl::Status s = c.StartAll(); !s.ok()) Die(std::string(s.message()));
    std::this_thread::sleep_for(std::chrono::seconds(2));
    base = MeasureIdle(c, f.idle_seconds);
    std::printf(
        "\nbaseline (metadata group only), per node: cpu %.2f%% %.2f%% %.2f%% of a core, "
        "rss %lld %lld %lld KiB, fds %d %d %d\n",
        base.cpu_pct[0], base.cpu_pct[1], base.cpu_pct[2], static_cast<long long>(base.rss_kib[0]),
        static_cast<long long>(base.rss_kib[1]), static_cast<long long>(base.rss_kib[2]),
        base.fds[0], base.fds[1], base.fds[2]);
  }

  std::map<int, double> agg_by_groups;  // groups -> entries/s with max(128, groups) proposers
  std::map<int, double> agg_g1_by_p;    // proposers -> entries/s on one group
  for (int groups : f.groups) {
    ProcessCluster c(ClusterOptions(f));
    if (absl::Status s = c.StartAll(); !s.ok()) Die(std::string(s.message()));
    std::printf("\n== %d group(s)\n", groups);
    const auto t_create = Clock::now();
    std::vector<uint64_t> voters{1, 2, 3};
    for (int g = 1; g <= groups; ++g) {
      if (absl::Status s = c.EnsureGroupOnAll(g, voters); !s.ok()) Die(std::string(s.message()));
    }
    const double create_s = std::chrono::duration<double>(Clock::now() - t_create).count();
    std::map<uint64_t, int> leaders;
    const double led_s = TimeUntilAllLed(c, groups, {1, 2, 3}, 60, &leaders);
    if (led_s < 0) Die("not every group got a leader within 60 s");
    std::printf("created in %.2f s; every group led %.2f s after creation finished\n", create_s,
                led_s);
    Json(f, absl::StrFormat(R"({"case":"leaders_after_start","groups":%d,"seconds":%.3f})", groups,
                            led_s));

    // Idle cost.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const IdleFigures idle = MeasureIdle(c, f.idle_seconds);
    for (int i = 0; i < 3; ++i) {
      const double per_group_kib = static_cast<double>(idle.rss_kib[i] - base.rss_kib[i]) / groups;
      std::printf(
          "node %d idle: cpu %.2f%% of a core (baseline %.2f%%), rss %lld KiB "
          "(+%.1f KiB/group), fds %d (+%.2f/group)\n",
          i + 1, idle.cpu_pct[i], base.cpu_pct[i], static_cast<long long>(idle.rss_kib[i]),
          per_group_kib, idle.fds[i], static_cast<double>(idle.fds[i] - base.fds[i]) / groups);
      Json(
          f,
          absl::StrFormat(
              R"({"case":"idle","groups":%d,"node":%d,"cpu_pct":%.3f,"rss_kib":%d,"kib_per_group":%.2f,"fds":%d})",
              groups, i + 1, idle.cpu_pct[i], idle.rss_kib[i], per_group_kib, idle.fds[i]));
    }

    // Throughput.
    Proposers prop(c, leaders, entry);
    if (groups == 1) {
      for (int p : f.proposers) {
        const Throughput t = prop.Run(p, 1, f.seconds);
        agg_g1_by_p[p] = t.entries_per_s;
        std::printf(
            "1 group, %4d proposers: %9.0f entries/s (%.2fx of 1 proposer)  p50 %.2f ms  "
            "p99 %.2f ms  (%llu failed)  nodes' CPU %.0f us/entry\n",
            p, t.entries_per_s, agg_g1_by_p.count(1) ? t.entries_per_s / agg_g1_by_p[1] : 0.0,
            t.p50_ms, t.p99_ms, static_cast<unsigned long long>(t.failed), t.node_cpu_us_per_entry);
        Json(
            f,
            absl::StrFormat(
                R"({"case":"throughput","groups":1,"proposers":%d,"entries_per_s":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"node_cpu_us_per_entry":%.1f})",
                p, t.entries_per_s, t.p50_ms, t.p99_ms, t.node_cpu_us_per_entry));
      }
    }
    const int p = std::max(128, groups);
    const Throughput t = prop.Run(p, groups, f.seconds);
    agg_by_groups[groups] = t.entries_per_s;
    std::printf(
        "%d group(s), %d proposers spread over all: %9.0f entries/s (%.2fx of 1 group)  "
        "p50 %.2f ms  p99 %.2f ms  (%llu failed)  nodes' CPU %.0f us/entry\n",
        groups, p, t.entries_per_s,
        agg_by_groups.count(1) ? t.entries_per_s / agg_by_groups[1] : 0.0, t.p50_ms, t.p99_ms,
        static_cast<unsigned long long>(t.failed), t.node_cpu_us_per_entry);
    Json(
        f,
        absl::StrFormat(
            R"({"case":"throughput_all_groups","groups":%d,"proposers":%d,"entries_per_s":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"node_cpu_us_per_entry":%.1f})",
            groups, p, t.entries_per_s, t.p50_ms, t.p99_ms, t.node_cpu_us_per_entry));

    // Kill the node leading the most groups.
    if (f.kill) {
      std::map<int, int> count;
      for (auto& [g, n] : leaders) count[n]++;
      int victim = 1;
      for (auto& [n, k] : count) {
        if (k > count[victim]) victim = n;
      }
      std::vector<int> rest;
      for (int n = 1; n <= 3; ++n) {
        if (n != victim) rest.push_back(n);
      }
      std::map<uint64_t, uint64_t> term_before;  // group -> term, seen on a surviving node
      if (auto st = c.Status(rest[0]); st.ok()) {
        for (const pb::GroupStatus& g : st->groups()) term_before[g.group()] = g.term();
      }
      c.Kill(victim);
      std::map<uint64_t, GroupLed> first_led;
      const double again_s = TimeUntilAllLed(c, groups, rest, 60, nullptr, &first_led);
      std::printf("SIGKILL of node %d (leading %d group(s)): every group led again after %.2f s\n",
                  victim, count[victim], again_s);
      PrintTakeover(first_led, term_before, leaders, victim);
      Json(f, absl::StrFormat(
                  R"({"case":"leaders_after_kill","groups":%d,"victim_led":%d,"seconds":%.3f})",
                  groups, count[victim], again_s));
    }
  }
  if (agg_by_groups.count(1)) {
    std::printf("\nsummary: aggregate throughput vs 1 group:");
    for (auto& [g, v] : agg_by_groups) std::printf("  %d groups %.2fx", g, v / agg_by_groups[1]);
    std::printf("\n");
  }
  if (agg_g1_by_p.count(1) && agg_g1_by_p.size() > 1) {
    std::printf("summary: 1 group, proposers vs 1:");
    for (auto& [p, v] : agg_g1_by_p) std::printf("  %d: %.2fx", p, v / agg_g1_by_p[1]);
    std::printf("\n");
  }
  return 0;
}
