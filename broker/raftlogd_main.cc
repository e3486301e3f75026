// raftlogd: the raftlog server. One process per node: hosts the node's
// replicas of every Raft group (partition groups and the metadata group) on
// one gRPC port that serves both peers (RaftTransport) and clients
// (NodeAdmin; the client API follows in later issues).
//
// Start-up order: configuration (flags > RAFTLOG_* env > --config file),
// listen address check, data directory identity and lock, then the Node,
// the transport and the gRPC server. SIGTERM/SIGINT: refuse new work, hand
// leadership of every group away, finish the round in flight (no fsync cut
// short), stop the transport and the server, exit 0. Exit codes: 0 clean
// stop or --help, 1 a start-up failure (the message says which), 2 bad
// configuration.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "broker/broker_lifecycle.h"
#include "broker/data_dir.h"
#include "broker/data_service.h"
#include "broker/fetch_waiters.h"
#include "broker/group_coordinator_service.h"
#include "broker/high_watermarks.h"
#include "broker/metadata_group.h"
#include "broker/metadata_service.h"
#include "broker/metrics.h"
#include "broker/metrics_http.h"
#include "broker/node.h"
#include "broker/node_admin_service.h"
#include "broker/node_config.h"
#include "broker/node_metrics.h"
#include "broker/replica_manager.h"
#include "broker/startup_probe.h"
#include "broker/transport.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"

namespace raftlog::broker {
namespace {

int Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "raftlogd: %s\n", msg.c_str());
  return code;
}

// 1,000 partition groups keep a few files open each.
void RaiseOpenFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void ConfigureLogging(const char* argv0, const std::string& level) {
  FLAGS_logtostderr = true;
  if (level == "debug") {
    FLAGS_v = 1;
  } else if (level == "warning") {
    FLAGS_minloglevel = google::GLOG_WARNING;
  } else if (level == "error") {
    FLAGS_minloglevel = google::GLOG_ERROR;
  }
  google::InitGoogleLogging(argv0);
}

// Keeps freed heap memory for reuse instead of handing it back to the
// kernel at once. Produced batches (64 KiB and more, copied a few times per
// replica) are allocated and freed at the produce rate; with glibc's
// defaults (trim above 128 KiB of free heap top, a moving mmap threshold)
// much of that memory went back to the kernel after each use and every new
// copy page-faulted fresh zeroed pages: ~1.2 page faults per KiB produced
// on the three nodes, about a third of their CPU time in client_bench's
// batched produce (~0.1 per KiB with these settings). Setting both also fixes
// the mmap threshold (no dynamic adjustment): blocks up to 32 MiB come from
// the heap, and up to 16 MiB of free heap top stays mapped per arena.
void TuneMalloc() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

int Run(int argc, char** argv) {
  TuneMalloc();
  // The distribution's Abseil is built without NDEBUG, so every absl::Mutex
  // lock (gRPC's and the partition log's) would feed the lock-order graph of
  // its deadlock detector: ~5-8% of a busy node's CPU (docs/BENCHMARKS.md,
  // issue 4). A debugging aid; tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<NodeConfig> config = LoadNodeConfig(args, EnvironmentMap());
  if (!config.ok()) {
    if (IsHelpRequested(config.status())) {
      std::fputs(NodeConfigUsage().c_str(), stdout);
      return 0;
    }
    return Fail(2, std::string(config.status().message()) + "\n(see raftlogd --help)");
  }
  ConfigureLogging(argv[0], config->log_level);

  // Signals go to the main thread only: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  RaiseOpenFileLimit();

  if (absl::Status s = CheckListenAddressBindable(config->listen_address); !s.ok()) {
    return Fail(1, std::string(s.message()));
  }
  absl::StatusOr<std::unique_ptr<DataDir>> data_dir =
      DataDir::Open(config->data_dir, config->cluster_id, config->id);
  if (!data_dir.ok()) return Fail(1, std::string(data_dir.status().message()));
  if (config->fsync == NodeConfig::FsyncPolicy::kNever) {
    LOG(WARNING) << "fsync=never: acknowledged records can be lost on power failure; "
                    "for tests and benchmarks only";
  }

  std::unique_ptr<Transport> transport;
  // Long-poll fetches wait here; it outlives the node that notifies it.
  FetchWaiters fetch_waiters;
  NodeOptions options;
  options.id = config->id;
  options.data_dir = (*data_dir)->path();
  options.tick_ms = config->tick_ms;
  options.election_ticks = config->election_ticks;
  options.heartbeat_ticks = config->heartbeat_ticks;
  options.sync = config->fsync == NodeConfig::FsyncPolicy::kAlways;
  options.sync_threads = config->sync_threads;
  options.journal_max_direct_groups = config->journal_direct_groups;
  switch (config->sync_mode) {
    case NodeConfig::SyncMode::kJournal:
      options.sync_mode = SyncMode::kJournal;
      break;
    case NodeConfig::SyncMode::kPerGroup:
      options.sync_mode = SyncMode::kPerGroup;
      break;
    case NodeConfig::SyncMode::kSyncfs:
      options.sync_mode = SyncMode::kSyncfs;
      break;
  }
  options.on_high_watermark = [&fetch_waiters](GroupId g) { fetch_waiters.Notify(g); };
  options.send = [&transport](raft::NodeId to, std::vector<GroupMessage> msgs) {
    transport->Send(to, std::move(msgs));
  };
  const std::string metadata_dir = (*data_dir)->MetadataDir();
  MetadataStateMachine* metadata = nullptr;
  // Set once the replica manager exists; read on the node's loop thread.
  std::atomic<ReplicaManager*> replicas_to_notify{nullptr};
  options.open_metadata = [metadata_dir, &metadata,
                           &replicas_to_notify](const raft::ConfState& initial) {
    return OpenMetadataHost(
        metadata_dir, initial,
        [&replicas_to_notify](raft::LogIndex) {
          if (ReplicaManager* r = replicas_to_notify.load()) r->Notify();
        },
        &metadata);
  };
  for (const auto& [id, addr] : config->peers) options.metadata_voters.voters.push_back(id);
  if (options.metadata_voters.voters.empty()) options.metadata_voters.voters.push_back(config->id);
  Node node(std::move(options));

  TransportOptions topts;
  topts.cluster_id = config->cluster_id;
  topts.self = config->id;
  for (const auto& [id, addr] : config->peers) {
    if (id != config->id) topts.peers.push_back({id, addr});
  }
  transport = std::make_unique<Transport>(std::move(topts), &node);

  NodeIdentity identity{config->cluster_id, config->advertised_address, config->peers,
                        (*data_dir)->directory_id(), !(*data_dir)->is_new()};
  NodeAdminService admin(&node, identity, [&transport] { return transport->Stats(); });
  MetadataServiceOptions mopts;
  mopts.peer_addresses = config->peers;
  if (mopts.peer_addresses.empty()) mopts.peer_addresses[config->id] = config->advertised_address;
  mopts.controller.session_timeout = std::chrono::milliseconds(config->broker_session_timeout_ms);
  MetadataService metadata_service(&node, /*state=*/nullptr, mopts);
  DataServiceOptions dopts;
  dopts.peer_addresses = mopts.peer_addresses;
  DataService data_service(&node, &fetch_waiters, /*state=*/nullptr, std::move(dopts));
  HighWatermarkLookup high_watermarks(&node, &metadata_service);
  GroupCoordinatorServiceOptions gopts;
  gopts.peer_addresses = mopts.peer_addresses;
  gopts.high_watermarks = [&high_watermarks](const std::vector<PartitionKey>& partitions,
                                             Deadline deadline) {
    return high_watermarks.Lookup(partitions, deadline);
  };
  GroupCoordinatorService group_service(&node, &metadata_service, std::move(gopts));

  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(config->listen_address, grpc::InsecureServerCredentials(), &bound_port);
  ConfigureTransportServer(builder);
  builder.RegisterService(transport->service());
  builder.RegisterService(&admin);
  builder.RegisterService(&metadata_service);
  builder.RegisterService(&data_service);
  builder.RegisterService(&group_service);
  builder.SetMaxReceiveMessageSize(64 << 20);  // produce requests up to max.message.bytes
  builder.SetMaxSendMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    return Fail(1, absl::StrFormat("cannot serve on %s", config->listen_address));
  }
  MetricsRegistry metrics;
  std::unique_ptr<MetricsHttpServer> metrics_server;
  if (!config->metrics_address.empty()) {
    absl::StatusOr<MetricsRegistry::CollectorId> c =
        RegisterNodeMetrics(metrics, &node, [&transport] { return transport->Stats(); });
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> m =
        c.ok() ? MetricsHttpServer::Start(config->metrics_address,
                                          [&metrics] { return metrics.Render(); })
               : c.status();
    if (!m.ok()) {
      server->Shutdown(std::chrono::system_clock::now());
      return Fail(1, std::string(m.status().message()));
    }
    metrics_server = *std::move(m);
  }
  transport->Start();
  // PITFALLS #14: an empty directory in a cluster that already exists is a
  // lost disk; the node then votes only once it has caught up.
  absl::StatusOr<bool> recovering = RecoveringMarkerExists((*data_dir)->path());
  if (recovering.ok() && !*recovering && (*data_dir)->is_new() && config->peers.size() > 1) {
    LOG(INFO) << "empty data directory: asking the peers whether the cluster already exists";
    StartupProbeOptions probe;
    probe.cluster_id = config->cluster_id;
    probe.self = config->id;
    probe.peers = config->peers;
    probe.stop = [] {
      sigset_t pending;
      sigpending(&pending);
      return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
    };
    absl::StatusOr<EmptyDirectoryStart> start = ProbePeersFromEmptyDirectory(probe);
    if (!start.ok()) {
      transport->Stop(0);
      server->Shutdown(std::chrono::system_clock::now());
      LOG(INFO) << "stopped while waiting for the peers; nothing was started";
      return 0;
    }
    if (*start == EmptyDirectoryStart::kReplacement) {
      LOG(WARNING) << "the cluster exists and this node's directory is empty: its disk was "
                      "lost. It takes no part in elections until every group it hosts has "
                      "caught up (marker "
                   << kRecoveringMarkerFileName << ")";
      if (absl::Status s = WriteRecoveringMarker((*data_dir)->path()); s.ok()) {
        recovering = true;
      } else {
        recovering = s;
      }
    }
  }
  if (!recovering.ok()) {
    transport->Stop(0);
    server->Shutdown(std::chrono::system_clock::now());
    return Fail(1, absl::StrFormat("amnesia recovery marker in %s: %s", config->data_dir,
                                   recovering.status().message()));
  }
  if (*recovering) node.BeginRecovery();
  if (absl::Status s = node.Start(); !s.ok()) {
    transport->Stop(0);
    server->Shutdown(std::chrono::system_clock::now());
    return Fail(
        1, absl::StrFormat("cannot recover the node from %s: %s", config->data_dir, s.message()));
  }
  metadata_service.SetState(metadata);
  data_service.SetState(metadata);
  ReplicaManagerOptions ropts;
  ropts.leader_balance_interval = std::chrono::milliseconds(config->leader_rebalance_interval_ms);
  ropts.on_recovered = [dir = (*data_dir)->path()] {
    if (absl::Status s = RemoveRecoveringMarker(dir); !s.ok()) {
      LOG(ERROR) << "amnesia recovery: " << s << " (trying again)";
      return false;
    }
    return true;
  };
  ReplicaManager replicas(&node, metadata, ropts);
  replicas_to_notify.store(&replicas);
  replicas.Start();
  BrokerLifecycleOptions lopts;
  lopts.self = config->id;
  lopts.addresses = {config->advertised_address};
  lopts.heartbeat_interval = std::chrono::milliseconds(config->broker_heartbeat_interval_ms);
  BrokerLifecycle lifecycle(&metadata_service, &node, lopts);
  lifecycle.Start();
  LOG(INFO) << absl::StrFormat(
      "raftlogd node %d of cluster %s serving on %s (advertised %s), data in %s (%s), %d peer(s)",
      config->id.value(), config->cluster_id, config->listen_address, config->advertised_address,
      config->data_dir, (*data_dir)->is_new() ? "new" : "recovered", config->peers.size());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LOG(INFO) << "signal " << sig << ": draining (handing leadership away)";
  admin.StartDraining();
  data_service.StartDraining();
  lifecycle.Stop();
  replicas_to_notify.store(nullptr);
  replicas.Stop();
  metrics_server.reset();  // no scrape may reach a stopped node
  node.Shutdown(std::chrono::milliseconds(5000));
  transport->Stop(500);
  fetch_waiters.Stop();      // answers waiting fetches, or the server would wait for them
  group_service.Shutdown();  // likewise for joins waiting in a rebalance
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  LOG(INFO) << "stopped cleanly";
  return 0;
}

}  // namespace
}  // namespace raftlog::broker

int main(int argc, char** argv) { return raftlog::broker::Run(argc, argv); }
