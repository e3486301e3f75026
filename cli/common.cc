// Common flags, their resolution, errors and progress for raftlogctl.
#include "cli/common.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace raftlog::cli {

void AddCommonFlags(CLI::App* app, GlobalFlags& flags, const std::vector<std::string>& formats) {
  std::string names;
  for (const std::string& f : formats) names += (names.empty() ? "" : "|") + f;
  app->add_option("--brokers", flags.brokers,
                  "host:port,... of one or more brokers (default $RAFTLOG_BROKERS, else " +
                      std::string(kDefaultBrokers) + ")")
      ->option_text("LIST");
  app->add_option("--format", flags.format, "output format: " + names)
      ->check(CLI::IsMember(formats))
      ->option_text(names);
  app->add_option("--timeout", flags.timeout,
                  "request deadline and how long to retry an unreachable or leaderless cluster "
                  "(e.g. 500ms, 10s, 1m; default 10s)")
      ->option_text("DURATION");
}

absl::StatusOr<std::vector<std::string>> ParseBrokerList(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) continue;
    const size_t colon = item.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(item.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError("--brokers: \"" + std::string(item) +
                                        "\" is not host:port (port 1..65535)");
    }
    out.emplace_back(item);
  }
  if (out.empty()) return absl::InvalidArgumentError("--brokers: no broker address given");
  return out;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  int64_t scale = 1;
  if (absl::ConsumeSuffix(&s, "ms")) {
    scale = 1;
  } else if (absl::ConsumeSuffix(&s, "s")) {
    scale = 1000;
  } else if (absl::ConsumeSuffix(&s, "m")) {
    scale = 60000;
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(s, &n) || n <= 0 || n > int64_t{1} << 40) {
    return absl::InvalidArgumentError("\"" + text +
                                      "\" is not a positive duration (e.g. 500ms, 10s, 2m)");
  }
  return std::chrono::milliseconds(n * scale);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError("\"" + text + "\" is not key=value");
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const std::string& item : items) {
    absl::StatusOr<std::pair<std::string, std::string>> kv = ParseKeyValue(item);
    if (!kv.ok()) return kv.status();
    out[kv->first] = kv->second;
  }
  return out;
}

absl::StatusOr<Env> ResolveEnv(const GlobalFlags& flags, const char* env_brokers,
                               Format default_format) {
  Env env;
  std::string list = flags.brokers;
  if (list.empty() && env_brokers != nullptr && *env_brokers != '\0') list = env_brokers;
  if (list.empty()) list = kDefaultBrokers;
  absl::StatusOr<std::vector<std::string>> brokers = ParseBrokerList(list);
  if (!brokers.ok()) return brokers.status();
  env.brokers = *std::move(brokers);
  env.format = default_format;
  if (!flags.format.empty()) {
    absl::StatusOr<Format> f = ParseFormat(flags.format);
    if (!f.ok()) return f.status();
    env.format = *f;
  }
  absl::StatusOr<std::chrono::milliseconds> t = ParseDuration(flags.timeout);
  if (!t.ok()) return absl::InvalidArgumentError("--timeout: " + std::string(t.status().message()));
  env.timeout = *t;
  return env;
}

absl::StatusOr<std::shared_ptr<client::Cluster>> Env::Connect() const {
  client::ClientOptions o;
  o.bootstrap = brokers;
  o.request_timeout = timeout;
  o.retry_timeout = timeout;
  o.client_id = "raftlogctl";
  return client::Cluster::Connect(std::move(o));
}

int Fail(const absl::Status& status) {
  std::string code = absl::StatusCodeToString(status.code());
  std::cerr << "raftlogctl: error: " << status.message();
  // The code helps scripts and people tell "not found" from "unreachable".
  if (status.message().find(code) == absl::string_view::npos) std::cerr << " [" << code << "]";
  std::cerr << std::endl;
  return kExitFailure;
}

int UsageError(const std::string& message) {
  std::cerr << "raftlogctl: " << message << "\nRun with --help for more information." << std::endl;
  return kExitUsage;
}

Progress::Progress() : enabled_(::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { Clear(); }

void Progress::Update(const std::string& line, bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && shown_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  shown_ = true;
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void Progress::Clear() {
  if (!enabled_ || !shown_) return;
  shown_ = false;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace raftlog::cli
