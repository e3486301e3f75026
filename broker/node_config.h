// NodeConfig: raftlogd's configuration, loaded from (lowest precedence first)
// built-in defaults, a config file (--config / RAFTLOG_CONFIG), RAFTLOG_*
// environment variables and command-line flags. The same key names are used in
// all three places (flag --data-dir, env RAFTLOG_DATA_DIR, file `data-dir = ...`).
//
// Invariants of a NodeConfig returned by LoadNodeConfig():
//  - id >= 1; listen_address, advertised_address and every peer address are a
//    valid host:port (IPv4, hostname or [IPv6]) with port 1..65535;
//  - peers is non-empty, holds no duplicate ids or addresses, contains `id`,
//    and peers[id] == advertised_address (a config given without peers is a
//    single-node cluster and gets peers = {id: advertised_address});
//  - 1 <= tick_ms <= 10000, election_ticks > heartbeat_ticks >= 1,
//    election_ticks * tick_ms <= 60000, 1 <= sync_threads <= 256;
//  - data_dir and cluster_id are non-empty; log_level is one of
//    debug|info|warning|error (lower case).
// Every error names the key and where its value came from (flag, environment
// variable, or file:line).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"

namespace raftlog::broker {

struct NodeConfig {
  enum class FsyncPolicy { kAlways, kNever };
  // How a round's writes become durable (docs/ARCHITECTURE.md, durability).
  enum class SyncMode { kJournal, kPerGroup, kSyncfs };

  raft::NodeId id;
  std::string listen_address;                 // host:port (--addr)
  std::string advertised_address;             // --advertise-addr, default = listen_address
  std::map<raft::NodeId, std::string> peers;  // --peers=1=h:p,2=h:p (includes self)
  std::string data_dir;
  std::string cluster_id = "raftlog";
  int tick_ms = 100;
  int election_ticks = 10;
  int heartbeat_ticks = 3;
  FsyncPolicy fsync = FsyncPolicy::kAlways;  // kNever: tests and benchmarks only.
  int sync_threads = 8;                      // parallel fsync workers
  SyncMode sync_mode = SyncMode::kJournal;
  int journal_direct_groups = 4;            // NodeOptions::journal_max_direct_groups
  int broker_session_timeout_ms = 9000;     // controller fences a broker silent this long
  int broker_heartbeat_interval_ms = 2000;  // < broker_session_timeout_ms
  int leader_rebalance_interval_ms = 5000;  // 0 = no preferred-leader balancing
  std::string metrics_address;              // empty = no metrics endpoint
  std::string log_level = "info";
};

// Loads the configuration. `args` is argv[1..]; `env` is the process
// environment (see EnvironmentMap()). On --help / -h returns the status of
// HelpRequested(): the caller prints NodeConfigUsage() and exits 0.
absl::StatusOr<NodeConfig> LoadNodeConfig(const std::vector<std::string>& args,
                                          const std::map<std::string, std::string>& env);

// The status LoadNodeConfig returns for --help, and a test for it.
absl::Status HelpRequested();
bool IsHelpRequested(const absl::Status& status);

// The current process environment as a map (from `environ`).
std::map<std::string, std::string> EnvironmentMap();

// The --help text: every key with its flag, environment variable and default,
// the config file syntax, and an example.
std::string NodeConfigUsage();

// A parsed host:port. `host` has no brackets (an IPv6 address is stored bare).
struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// Parses "host:port", "[v6addr]:port"; host is an IPv4 address, a hostname or
// a bracketed IPv6 address; port 1..65535. Errors are InvalidArgument and do
// not name a key (callers prefix it).
absl::StatusOr<HostPort> ParseHostPort(const std::string& host_port);

// Tries to bind() a TCP socket (SO_REUSEADDR) on `host_port` and closes it.
// Hostnames are resolved with getaddrinfo; succeeds if at least one resolved
// address binds and none is in use. Error e.g.
// "cannot bind 127.0.0.1:7001: Address already in use".
absl::Status CheckListenAddressBindable(const std::string& host_port);

}  // namespace raftlog::broker
