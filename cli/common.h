// What every raftlogctl command shares: the common flags (--brokers,
// --format, --timeout), their resolution into an Env (brokers from the flag,
// else $RAFTLOG_BROKERS, else 127.0.0.1:7001), the connection to the
// cluster, exit codes, error reporting and progress lines on stderr.
//
// EXIT CODES: 0 success, 1 failure (the cluster refused or could not be
// reached; the message on stderr carries the server's reason), 2 usage error
// (bad flags or arguments; nothing was sent to the cluster).
//
// The small parsers here (broker lists, durations, k=v pairs) are pure and
// unit-tested in common_test.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/output.h"
#include "client/cluster.h"

namespace CLI {
class App;
}

namespace raftlog::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

inline constexpr char kDefaultBrokers[] = "127.0.0.1:7001";
inline constexpr char kBrokersEnv[] = "RAFTLOG_BROKERS";

// The common flags as typed (raw strings; resolved by ResolveEnv).
struct GlobalFlags {
  std::string brokers;  // "" = $RAFTLOG_BROKERS, else kDefaultBrokers
  std::string format;   // "" = the command's default
  std::string timeout = "10s";
};

// The resolved common settings a command runs with.
struct Env {
  std::vector<std::string> brokers;
  Format format = Format::kTable;
  // Deadline of one request, and how long a call keeps retrying an
  // unreachable or leaderless cluster.
  std::chrono::milliseconds timeout{10000};

  // Connects (GetMetadata on some broker); the error names every address
  // tried.
  absl::StatusOr<std::shared_ptr<client::Cluster>> Connect() const;
};

// Adds --brokers, --format (one of `formats`) and --timeout to `app`, bound
// to `flags`. Every leaf command gets them, so `--help` lists them there.
void AddCommonFlags(CLI::App* app, GlobalFlags& flags,
                    const std::vector<std::string>& formats = {"table", "json"});

// Resolves `flags` (env_brokers: the value of $RAFTLOG_BROKERS or nullptr).
// InvalidArgument (a usage error) for a malformed list or duration.
absl::StatusOr<Env> ResolveEnv(const GlobalFlags& flags, const char* env_brokers,
                               Format default_format = Format::kTable);

// "h1:p1,h2:p2" -> {"h1:p1","h2:p2"} (spaces trimmed, empty items skipped);
// every item must be host:port with a port in 1..65535.
absl::StatusOr<std::vector<std::string>> ParseBrokerList(const std::string& list);

// "1500" (ms), "1500ms", "10s", "2m" -> milliseconds; > 0.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text);

// "k=v" -> {k, v}; the key must be non-empty, the value may be empty or
// contain '='.
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(const std::string& text);
absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::vector<std::string>& items);

// Prints "raftlogctl: error: <message>" on stderr; returns kExitFailure.
int Fail(const absl::Status& status);
// Prints "raftlogctl: <message>" and a --help hint on stderr; returns kExitUsage.
int UsageError(const std::string& message);

// One updating status line on stderr, only when stderr is a terminal
// (never in pipes, files or tests). Updates are rate-limited.
class Progress {
 public:
  Progress();
  ~Progress();  // Clear()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return enabled_; }
  // Shows `line` (at most every 100 ms unless `force`).
  void Update(const std::string& line, bool force = false);
  // Erases the line.
  void Clear();

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace raftlog::cli
