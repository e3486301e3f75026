// Loading and validation of raftlogd's NodeConfig. Values are first collected
// as strings with their source (flag, environment variable, file:line) and
// merged by precedence (default < file < env < flag); only then converted and
// validated, so that every error can name the key and the source of its value.
#include "broker/node_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace raftlog::broker {
namespace {

constexpr absl::string_view kEnvPrefix = "RAFTLOG_";
constexpr size_t kMaxConfigFileBytes = 1 << 20;

struct KeySpec {
  absl::string_view name;
  absl::string_view default_text;
  absl::string_view help;
};

// Every key, in --help order. "config" is accepted as a flag and an
// environment variable only.
constexpr KeySpec kKeys[] = {
    {"id", "(required)", "this node's id, an integer >= 1"},
    {"addr", "(required)", "host:port to listen on for peers and clients"},
    {"advertise-addr", "value of addr", "host:port other nodes and clients use to reach this node"},
    {"peers", "(just this node)",
     "every voter of the cluster including this node: id=host:port,id=host:port,..."},
    {"data-dir", "(required)", "directory for this node's data"},
    {"cluster-id", "raftlog", "cluster name; a data directory is bound to one cluster"},
    {"tick-ms", "100", "Raft tick interval in milliseconds (1..10000)"},
    {"election-ticks", "10", "ticks without a leader before an election (> heartbeat-ticks)"},
    {"heartbeat-ticks", "3", "ticks between leader heartbeats (>= 1)"},
    {"fsync", "always", "always | never (never: tests and benchmarks only, loses data on crash)"},
    {"sync-threads", "8", "parallel fsync workers (1..256)"},
    {"sync-mode", "journal",
     "journal (one node-wide journal fsync per round) | per-group (fdatasync every written "
     "log, in parallel) | syncfs (one syncfs per round)"},
    {"journal-direct-groups", "4",
     "sync-mode journal: a round that wrote at most this many partition logs, none with "
     "entries in an uncheckpointed journal file, fsyncs them directly instead (0..1024; 0 = "
     "always journal)"},
    {"broker-session-timeout-ms", "9000",
     "a broker silent this long is fenced by the controller (1000..600000)"},
    {"broker-heartbeat-interval-ms", "2000",
     "how often this node heartbeats the controller (100..60000; < the session timeout)"},
    {"leader-rebalance-interval-ms", "5000",
     "how often leadership is handed back to preferred leaders (0 = never; else 100..3600000)"},
    {"metrics-addr", "(off)", "host:port for the Prometheus /metrics endpoint"},
    {"log-level", "info", "debug | info | warning | error"},
    {"config", "(none)", "config file of `key = value` lines (flag or environment only)"},
};

bool IsKnownKey(absl::string_view key) {
  return std::any_of(std::begin(kKeys), std::end(kKeys),
                     [&](const KeySpec& k) { return k.name == key; });
}

std::string EnvName(absl::string_view key) {
  std::string out = absl::StrCat(kEnvPrefix, key);
  for (char& c : out) c = c == '-' ? '_' : absl::ascii_toupper(static_cast<unsigned char>(c));
  return out;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The known key closest to `key` if it is within edit distance 2.
std::optional<absl::string_view> ClosestKey(absl::string_view key) {
  std::optional<absl::string_view> best;
  size_t best_distance = 3;
  for (const KeySpec& k : kKeys) {
    const size_t d = EditDistance(key, k.name);
    if (d < best_distance) {
      best_distance = d;
      best = k.name;
    }
  }
  return best;
}

// A raw value and a human-readable description of where it came from.
struct RawValue {
  std::string value;
  std::string source;
};
using RawValues = std::map<std::string, RawValue, std::less<>>;

absl::Status KeyError(absl::string_view key, const RawValue& raw, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s (from %s)", key, problem, raw.source));
}

// ---- command line ----

struct FlagParse {
  RawValues values;
  bool help = false;
};

absl::StatusOr<FlagParse> ParseFlags(const std::vector<std::string>& args) {
  FlagParse out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      out.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unexpected argument \"%s\": flags have the form --key=value or --key value (see --help)",
          arg));
    }
    absl::string_view body = absl::string_view(arg).substr(2);
    std::string key;
    std::string value;
    const size_t eq = body.find('=');
    if (eq != absl::string_view::npos) {
      key = std::string(body.substr(0, eq));
      value = std::string(body.substr(eq + 1));
    } else {
      key = std::string(body);
    }
    if (!IsKnownKey(key)) {
      std::string msg = absl::StrFormat("unknown flag --%s", key);
      if (auto near = ClosestKey(key)) absl::StrAppendFormat(&msg, " (did you mean --%s?)", *near);
      return absl::InvalidArgumentError(absl::StrCat(msg, "; see --help"));
    }
    if (eq == absl::string_view::npos) {
      if (i + 1 >= args.size() || absl::StartsWith(args[i + 1], "--")) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: flag --%s needs a value (--%s=VALUE or --%s VALUE)", key, key, key, key));
      }
      value = args[++i];
    }
    if (auto it = out.values.find(key); it != out.values.end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: flag --%s given twice on the command line (\"%s\" and \"%s\")", key,
                          key, it->second.value, value));
    }
    out.values[key] = RawValue{value, absl::StrCat("flag --", key)};
  }
  return out;
}

// ---- environment ----

absl::StatusOr<RawValues> ParseEnv(const std::map<std::string, std::string>& env) {
  RawValues out;
  for (const KeySpec& k : kKeys) {
    const std::string name = EnvName(k.name);
    if (auto it = env.find(name); it != env.end()) {
      out[std::string(k.name)] = RawValue{it->second, absl::StrCat("environment variable ", name)};
    }
  }
  // Other RAFTLOG_* variables may belong to other tools (raftlogctl, scripts);
  // only one that looks like a misspelt key of ours is an error.
  for (const auto& [name, value] : env) {
    if (!absl::StartsWith(name, kEnvPrefix)) continue;
    std::string key = absl::AsciiStrToLower(name.substr(kEnvPrefix.size()));
    std::replace(key.begin(), key.end(), '_', '-');
    if (IsKnownKey(key)) continue;
    if (auto near = ClosestKey(key)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown environment variable %s (did you mean %s?)", name, EnvName(*near)));
    }
  }
  return out;
}

// ---- config file ----

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot read %s %s: %s", what, path, std::strerror(errno)));
  }
  std::string data;
  char buf[8192];
  absl::Status status;
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::InvalidArgumentError(
          absl::StrFormat("cannot read %s %s: %s", what, path, std::strerror(errno)));
      break;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxConfigFileBytes) {
      status = absl::InvalidArgumentError(absl::StrFormat("cannot read %s %s: larger than %d bytes",
                                                          what, path, kMaxConfigFileBytes));
      break;
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return data;
}

// Parses the value part of a config line: `"quoted"` (with \" and \\ escapes)
// or bare text; either may be followed by a `# comment`.
absl::StatusOr<std::string> ParseFileValue(absl::string_view text, const std::string& where) {
  text = absl::StripAsciiWhitespace(text);
  if (!absl::StartsWith(text, "\"")) {
    const size_t hash = text.find('#');
    if (hash != absl::string_view::npos) text = text.substr(0, hash);
    return std::string(absl::StripTrailingAsciiWhitespace(text));
  }
  std::string value;
  size_t i = 1;
  for (; i < text.size() && text[i] != '"'; ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
      ++i;
    }
    value.push_back(text[i]);
  }
  if (i >= text.size()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: unterminated quoted value", where));
  }
  absl::string_view rest = absl::StripAsciiWhitespace(text.substr(i + 1));
  if (!rest.empty() && rest[0] != '#') {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: unexpected text after quoted value: \"%s\"", where, rest));
  }
  return value;
}

absl::StatusOr<RawValues> ParseConfigFile(const std::string& path, const RawValue& named_by) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, "config file");
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("config: %s (from %s)", text.status().message(), named_by.source));
  }
  RawValues out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    const std::string where = absl::StrFormat("%s:%d", path, line_number);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: expected `key = value`, got \"%s\"", where, line));
    }
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    if (key == "config") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: key config may only be given as flag --config or environment variable %s", where,
          EnvName("config")));
    }
    if (!IsKnownKey(key)) {
      std::string msg = absl::StrFormat("%s: unknown key \"%s\"", where, key);
      if (auto near = ClosestKey(key))
        absl::StrAppendFormat(&msg, " (did you mean \"%s\"?)", *near);
      return absl::InvalidArgumentError(msg);
    }
    absl::StatusOr<std::string> value = ParseFileValue(line.substr(eq + 1), where);
    if (!value.ok()) return value.status();
    if (auto it = out.find(key); it != out.end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: key %s given twice (first at %s)", where, key, it->second.source));
    }
    out[key] = RawValue{*std::move(value), where};
  }
  return out;
}

// ---- conversion and validation ----

// Parses a non-negative decimal integer of at most `max`.
std::optional<uint64_t> ParseUnsigned(absl::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v > max) return std::nullopt;
  return v;
}

absl::StatusOr<int> ParseIntInRange(absl::string_view key, const RawValue& raw, int lo, int hi) {
  const std::optional<uint64_t> v = ParseUnsigned(raw.value, std::numeric_limits<uint64_t>::max());
  if (!v.has_value()) {
    return KeyError(key, raw, absl::StrFormat("\"%s\" is not a whole number", raw.value));
  }
  if (*v < static_cast<uint64_t>(lo) || *v > static_cast<uint64_t>(hi)) {
    return KeyError(key, raw, absl::StrFormat("%d is out of range %d..%d", *v, lo, hi));
  }
  return static_cast<int>(*v);
}

bool IsHostnameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// Canonical "host:port" text of a parsed address, used for comparisons.
std::string FormatHostPort(const HostPort& hp) {
  if (hp.host.find(':') != std::string::npos) return absl::StrFormat("[%s]:%d", hp.host, hp.port);
  return absl::StrFormat("%s:%d", absl::AsciiStrToLower(hp.host), hp.port);
}

absl::StatusOr<std::string> ValidateAddress(absl::string_view key, const RawValue& raw) {
  absl::StatusOr<HostPort> hp = ParseHostPort(raw.value);
  if (!hp.ok()) return KeyError(key, raw, hp.status().message());
  return raw.value;
}

bool IsWildcardHost(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host.empty();
}

// Parses "1=h:p,2=h:p" into a map; rejects malformed entries and duplicates.
absl::StatusOr<std::map<raft::NodeId, std::string>> ParsePeers(const RawValue& raw) {
  std::map<raft::NodeId, std::string> peers;
  std::map<std::string, raft::NodeId> by_address;
  for (absl::string_view entry : absl::StrSplit(raw.value, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) {
      if (absl::StripAsciiWhitespace(raw.value).empty()) break;  // "" = no peers
      return KeyError("peers", raw, "empty entry in the list (stray comma?)");
    }
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return KeyError("peers", raw,
                      absl::StrFormat("entry \"%s\" is not of the form id=host:port", entry));
    }
    const absl::string_view id_text = absl::StripAsciiWhitespace(entry.substr(0, eq));
    const std::string address(absl::StripAsciiWhitespace(entry.substr(eq + 1)));
    const std::optional<uint64_t> id = ParseUnsigned(id_text, std::numeric_limits<uint64_t>::max());
    if (!id.has_value() || *id == 0) {
      return KeyError("peers", raw,
                      absl::StrFormat("entry \"%s\" is not of the form id=host:port: id \"%s\" is "
                                      "not an integer >= 1",
                                      entry, id_text));
    }
    absl::StatusOr<HostPort> hp = ParseHostPort(address);
    if (!hp.ok()) {
      return KeyError("peers", raw,
                      absl::StrFormat("entry \"%s\" is not of the form id=host:port: %s", entry,
                                      hp.status().message()));
    }
    const raft::NodeId node(*id);
    if (peers.count(node) > 0) {
      return KeyError("peers", raw, absl::StrFormat("duplicate id %d", *id));
    }
    const std::string canonical = FormatHostPort(*hp);
    if (auto it = by_address.find(canonical); it != by_address.end()) {
      return KeyError("peers", raw,
                      absl::StrFormat("duplicate address %s (ids %d and %d)", address,
                                      it->second.value(), *id));
    }
    by_address[canonical] = node;
    peers[node] = address;
  }
  return peers;
}

// Looks up `key` in the merged values.
const RawValue* Find(const RawValues& values, absl::string_view key) {
  auto it = values.find(key);
  return it == values.end() ? nullptr : &it->second;
}

absl::Status MissingKey(absl::string_view key) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "missing required key %s: set flag --%s, environment variable %s or `%s = ...` in the "
      "config file",
      key, key, EnvName(key), key));
}

absl::StatusOr<NodeConfig> BuildConfig(const RawValues& values) {
  NodeConfig c;
  const RawValue* raw = nullptr;

  // id
  raw = Find(values, "id");
  if (raw == nullptr) return MissingKey("id");
  {
    const std::optional<uint64_t> id =
        ParseUnsigned(absl::StripAsciiWhitespace(raw->value), std::numeric_limits<uint64_t>::max());
    if (!id.has_value()) {
      return KeyError("id", *raw, absl::StrFormat("\"%s\" is not a number", raw->value));
    }
    if (*id == 0) return KeyError("id", *raw, "0 is not a valid node id (ids start at 1)");
    c.id = raft::NodeId(*id);
  }

  // addr, advertise-addr
  raw = Find(values, "addr");
  if (raw == nullptr) return MissingKey("addr");
  {
    absl::StatusOr<std::string> a = ValidateAddress("addr", *raw);
    if (!a.ok()) return a.status();
    c.listen_address = *a;
  }
  RawValue advertise_raw{
      c.listen_address,
      absl::StrFormat("addr, as advertise-addr is not set; addr from %s", raw->source)};
  if (const RawValue* adv = Find(values, "advertise-addr"); adv != nullptr && !adv->value.empty()) {
    advertise_raw = *adv;
  }
  {
    absl::StatusOr<std::string> a = ValidateAddress("advertise-addr", advertise_raw);
    if (!a.ok()) return a.status();
    c.advertised_address = *a;
    if (IsWildcardHost(ParseHostPort(*a)->host)) {
      return KeyError("advertise-addr", advertise_raw,
                      absl::StrFormat("%s is a wildcard address other nodes cannot connect to; "
                                      "set advertise-addr to a reachable host:port",
                                      *a));
    }
  }

  // data-dir, cluster-id
  raw = Find(values, "data-dir");
  if (raw == nullptr) return MissingKey("data-dir");
  if (raw->value.empty()) return KeyError("data-dir", *raw, "must not be empty");
  c.data_dir = raw->value;
  if (raw = Find(values, "cluster-id"); raw != nullptr) {
    if (raw->value.empty() || raw->value.size() > 64 ||
        !std::all_of(raw->value.begin(), raw->value.end(), IsHostnameChar)) {
      return KeyError(
          "cluster-id", *raw,
          absl::StrFormat("\"%s\" must be 1..64 characters of A-Z a-z 0-9 . _ -", raw->value));
    }
    c.cluster_id = raw->value;
  }

  // Timing.
  const NodeConfig defaults;
  RawValue tick_raw{std::to_string(defaults.tick_ms), "default"};
  RawValue election_raw{std::to_string(defaults.election_ticks), "default"};
  RawValue heartbeat_raw{std::to_string(defaults.heartbeat_ticks), "default"};
  if (raw = Find(values, "tick-ms"); raw != nullptr) tick_raw = *raw;
  if (raw = Find(values, "election-ticks"); raw != nullptr) election_raw = *raw;
  if (raw = Find(values, "heartbeat-ticks"); raw != nullptr) heartbeat_raw = *raw;
  {
    absl::StatusOr<int> tick = ParseIntInRange("tick-ms", tick_raw, 1, 10000);
    if (!tick.ok()) return tick.status();
    absl::StatusOr<int> heartbeat = ParseIntInRange("heartbeat-ticks", heartbeat_raw, 1, 1000000);
    if (!heartbeat.ok()) return heartbeat.status();
    absl::StatusOr<int> election = ParseIntInRange("election-ticks", election_raw, 1, 1000000);
    if (!election.ok()) return election.status();
    if (*election <= *heartbeat) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "election-ticks (%d, from %s) must be greater than heartbeat-ticks (%d, from %s)",
          *election, election_raw.source, *heartbeat, heartbeat_raw.source));
    }
    if (static_cast<int64_t>(*election) * *tick > 60000) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "election-ticks * tick-ms = %d * %d ms exceeds 60000 ms (election-ticks from %s, "
          "tick-ms from %s)",
          *election, *tick, election_raw.source, tick_raw.source));
    }
    c.tick_ms = *tick;
    c.election_ticks = *election;
    c.heartbeat_ticks = *heartbeat;
  }

  // fsync, sync-threads, sync-mode, metrics-addr, log-level
  if (raw = Find(values, "fsync"); raw != nullptr) {
    const std::string v = absl::AsciiStrToLower(raw->value);
    if (v == "always") {
      c.fsync = NodeConfig::FsyncPolicy::kAlways;
    } else if (v == "never") {
      c.fsync = NodeConfig::FsyncPolicy::kNever;
    } else {
      return KeyError("fsync", *raw,
                      absl::StrFormat("\"%s\" is not one of: always, never", raw->value));
    }
  }
  if (raw = Find(values, "sync-threads"); raw != nullptr) {
    absl::StatusOr<int> n = ParseIntInRange("sync-threads", *raw, 1, 256);
    if (!n.ok()) return n.status();
    c.sync_threads = *n;
  }
  if (raw = Find(values, "sync-mode"); raw != nullptr) {
    const std::string v = absl::AsciiStrToLower(raw->value);
    if (v == "journal") {
      c.sync_mode = NodeConfig::SyncMode::kJournal;
    } else if (v == "per-group") {
      c.sync_mode = NodeConfig::SyncMode::kPerGroup;
    } else if (v == "syncfs") {
      c.sync_mode = NodeConfig::SyncMode::kSyncfs;
    } else {
      return KeyError(
          "sync-mode", *raw,
          absl::StrFormat("\"%s\" is not one of: journal, per-group, syncfs", raw->value));
    }
  }
  if (raw = Find(values, "journal-direct-groups"); raw != nullptr) {
    absl::StatusOr<int> n = ParseIntInRange("journal-direct-groups", *raw, 0, 1024);
    if (!n.ok()) return n.status();
    c.journal_direct_groups = *n;
  }
  // Broker liveness and leader balance.
  if (raw = Find(values, "broker-session-timeout-ms"); raw != nullptr) {
    absl::StatusOr<int> n = ParseIntInRange("broker-session-timeout-ms", *raw, 1000, 600000);
    if (!n.ok()) return n.status();
    c.broker_session_timeout_ms = *n;
  }
  if (raw = Find(values, "broker-heartbeat-interval-ms"); raw != nullptr) {
    absl::StatusOr<int> n = ParseIntInRange("broker-heartbeat-interval-ms", *raw, 100, 60000);
    if (!n.ok()) return n.status();
    c.broker_heartbeat_interval_ms = *n;
  }
  if (c.broker_heartbeat_interval_ms >= c.broker_session_timeout_ms) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "broker-heartbeat-interval-ms (%d) must be less than broker-session-timeout-ms (%d), or "
        "every broker would be fenced between two heartbeats",
        c.broker_heartbeat_interval_ms, c.broker_session_timeout_ms));
  }
  if (raw = Find(values, "leader-rebalance-interval-ms"); raw != nullptr) {
    absl::StatusOr<int> n = ParseIntInRange("leader-rebalance-interval-ms", *raw, 0, 3600000);
    if (!n.ok()) return n.status();
    if (*n != 0 && *n < 100) {
      return KeyError("leader-rebalance-interval-ms", *raw,
                      absl::StrFormat("%d ms is too often: 0 (never) or 100..3600000", *n));
    }
    c.leader_rebalance_interval_ms = *n;
  }
  if (raw = Find(values, "metrics-addr"); raw != nullptr && !raw->value.empty()) {
    absl::StatusOr<std::string> a = ValidateAddress("metrics-addr", *raw);
    if (!a.ok()) return a.status();
    c.metrics_address = *a;
  }
  if (raw = Find(values, "log-level"); raw != nullptr) {
    const std::string v = absl::AsciiStrToLower(raw->value);
    if (v != "debug" && v != "info" && v != "warning" && v != "error") {
      return KeyError(
          "log-level", *raw,
          absl::StrFormat("\"%s\" is not one of: debug, info, warning, error", raw->value));
    }
    c.log_level = v;
  }

  // peers: checked last, against id and advertise-addr.
  raw = Find(values, "peers");
  if (raw != nullptr) {
    absl::StatusOr<std::map<raft::NodeId, std::string>> peers = ParsePeers(*raw);
    if (!peers.ok()) return peers.status();
    c.peers = *std::move(peers);
  }
  if (c.peers.empty()) {
    c.peers[c.id] = c.advertised_address;  // A single-node cluster of just this node.
  } else {
    auto self = c.peers.find(c.id);
    if (self == c.peers.end()) {
      return KeyError("peers", *raw,
                      absl::StrFormat("this node's id %d (from %s) is not in the list",
                                      c.id.value(), Find(values, "id")->source));
    }
    const HostPort mine = *ParseHostPort(self->second);
    const HostPort advertised = *ParseHostPort(c.advertised_address);
    if (FormatHostPort(mine) != FormatHostPort(advertised)) {
      return KeyError(
          "peers", *raw,
          absl::StrFormat("this node's entry %d=%s differs from its advertised address "
                          "%s (from %s)",
                          c.id.value(), self->second, c.advertised_address, advertise_raw.source));
    }
  }
  return c;
}

}  // namespace

absl::Status HelpRequested() { return absl::CancelledError("help"); }

bool IsHelpRequested(const absl::Status& status) {
  return absl::IsCancelled(status) && status.message() == "help";
}

std::map<std::string, std::string> EnvironmentMap() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

absl::StatusOr<NodeConfig> LoadNodeConfig(const std::vector<std::string>& args,
                                          const std::map<std::string, std::string>& env) {
  absl::StatusOr<FlagParse> flags = ParseFlags(args);
  if (!flags.ok()) return flags.status();
  if (flags->help) return HelpRequested();
  absl::StatusOr<RawValues> env_values = ParseEnv(env);
  if (!env_values.ok()) return env_values.status();

  RawValues merged;
  const RawValue* config = Find(flags->values, "config");
  if (config == nullptr) config = Find(*env_values, "config");
  if (config != nullptr) {
    if (config->value.empty()) return KeyError("config", *config, "empty file name");
    absl::StatusOr<RawValues> file = ParseConfigFile(config->value, *config);
    if (!file.ok()) return file.status();
    merged = *std::move(file);
  }
  for (const auto* layer : {&*env_values, &flags->values}) {
    for (const auto& [key, raw] : *layer) {
      if (key != "config") merged[key] = raw;
    }
  }
  return BuildConfig(merged);
}

std::string NodeConfigUsage() {
  std::string out =
      "Usage: raftlogd [--key=value | --key value]...\n"
      "\n"
      "Runs one raftlog node. Each setting is read, lowest precedence first, from\n"
      "its default, the config file, the RAFTLOG_* environment variable, and the\n"
      "command-line flag.\n"
      "\n";
  for (const KeySpec& k : kKeys) {
    const std::string default_text =
        k.default_text == "(required)" ? "required" : absl::StrCat("default: ", k.default_text);
    absl::StrAppendFormat(&out, "  --%s=VALUE  (env %s, %s)\n      %s\n", k.name, EnvName(k.name),
                          default_text, k.help);
  }
  out +=
      "  --help, -h\n"
      "      print this text and exit\n"
      "\n"
      "Config file: one `key = value` per line (keys as above, without --); '#'\n"
      "starts a comment; a value may be quoted \"...\".\n"
      "\n"
      "Example, node 1 of a local 3-node cluster:\n"
      "  raftlogd --id=1 --addr=127.0.0.1:7001 "
      "--peers=1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data-dir=/var/lib/raftlog/1\n";
  return out;
}

absl::StatusOr<HostPort> ParseHostPort(const std::string& host_port) {
  absl::string_view text(host_port);
  HostPort out;
  absl::string_view port_text;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\": missing ']' after IPv6 address", host_port));
    }
    out.host = std::string(text.substr(1, close - 1));
    in6_addr addr6;
    if (inet_pton(AF_INET6, out.host.c_str(), &addr6) != 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\": \"%s\" is not an IPv6 address", host_port, out.host));
    }
    if (text.substr(close + 1, 1) != ":") {
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\" is not of the form [ipv6]:port", host_port));
    }
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\" is not of the form host:port", host_port));
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\": an IPv6 address must be written in brackets, [addr]:port", host_port));
    }
    if (out.host.empty() || !std::all_of(out.host.begin(), out.host.end(), IsHostnameChar)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\": \"%s\" is not a valid host name or IPv4 address", host_port, out.host));
    }
  }
  const std::optional<uint64_t> port =
      ParseUnsigned(port_text, std::numeric_limits<uint64_t>::max());
  if (!port.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("\"%s\": port \"%s\" is not a number", host_port, port_text));
  }
  if (*port < 1 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrFormat("\"%s\": port %d is out of range 1..65535", host_port, *port));
  }
  out.port = static_cast<uint16_t>(*port);
  return out;
}

absl::Status CheckListenAddressBindable(const std::string& host_port) {
  absl::StatusOr<HostPort> hp = ParseHostPort(host_port);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot bind %s: %s", host_port, hp.status().message()));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string port = std::to_string(hp->port);
  const int rc = getaddrinfo(hp->host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("cannot bind %s: cannot resolve \"%s\": %s",
                                                      host_port, hp->host, gai_strerror(rc)));
  }
  int bound = 0;
  std::optional<int> in_use_errno;
  std::optional<int> first_errno;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      if (!first_errno) first_errno = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      ++bound;
    } else {
      if (errno == EADDRINUSE || errno == EACCES) in_use_errno = errno;
      if (!first_errno) first_errno = errno;
    }
    ::close(fd);
  }
  freeaddrinfo(result);
  if (in_use_errno.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot bind %s: %s", host_port, std::strerror(*in_use_errno)));
  }
  if (bound == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot bind %s: %s", host_port, first_errno ? std::strerror(*first_errno) : "no address"));
  }
  return absl::OkStatus();
}

}  // namespace raftlog::broker
