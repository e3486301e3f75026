// jepsen_worker command line parsing (see options.h).
#include "tests/jepsen/worker/options.h"

#include <map>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace raftlog::jepsen {

namespace {

const std::map<std::string, Mode>& Modes() {
  static const auto* modes = new std::map<std::string, Mode>{
      {"produce", Mode::kProduce},
      {"consume", Mode::kConsume},
      {"read-all", Mode::kReadAll},
      {"offsets", Mode::kOffsets},
      {"topics", Mode::kTopics},
      {"status", Mode::kStatus},
      {"metadata", Mode::kMetadata},
      {"checksum", Mode::kChecksum},
      {"transfer-leader", Mode::kTransferLeader},
  };
  return *modes;
}

ParseResult Usage(std::string message) {
  ParseResult r;
  r.exit_code = 2;
  r.message = "jepsen_worker: " + std::move(message) + " (--help for usage)";
  return r;
}

}  // namespace

uint64_t WorkerOptions::raft_group() const {
  uint64_t g = 0;
  return absl::SimpleAtoi(group, &g) ? g : 0;
}

client::ClientOptions WorkerOptions::ClientOptions() const {
  client::ClientOptions o;
  o.bootstrap = bootstrap;
  o.request_timeout = request_timeout;
  o.retry_timeout = retry_timeout;
  o.client_id = "jepsen-worker-" + std::to_string(process);
  return o;
}

ParseResult ParseArgs(int argc, const char* const* argv) {
  CLI::App app{
      "jepsen_worker: workload client of raftlog's Jepsen-style suite (tests/jepsen).\n"
      "Workload modes (produce, consume, read-all, offsets, topics) append a JSON Lines\n"
      "history; one-shot modes (status, metadata, checksum, transfer-leader) print one\n"
      "JSON object on stdout. Exit codes: 0 ok, 1 failure, 2 usage error."};
  app.name("jepsen_worker");
  std::string mode;
  app.add_option("mode", mode,
                 "produce | consume | read-all | offsets | topics | status | metadata | "
                 "checksum | transfer-leader")
      ->required();
  WorkerOptions o;
  std::string bootstrap, idempotence = "true", acks = "all", commit = "sync",
                         partitioner = "round-robin";
  int64_t duration_ms = 60000, drain_ms = 10000, request_timeout_ms = 5000,
          retry_timeout_ms = 10000, delivery_timeout_ms = 30000, linger_ms = 5, poll_ms = 200,
          session_timeout_ms = 10000, heartbeat_ms = 1000, rebalance_timeout_ms = 15000,
          timeout_ms = 5000;
  uint64_t from = 0, to = 0;
  app.add_option("--bootstrap", bootstrap, "HOST:PORT,... of one or more brokers");
  app.add_option("--process", o.process, "process number written in every history line");
  app.add_option("--history", o.history, "history file, appended to (default -: stdout)");
  app.add_option("--duration-ms", duration_ms, "stop starting new operations after this");
  app.add_option("--drain-ms", drain_ms, "then wait this long for outstanding ones");
  app.add_option("--topic", o.topic, "topic");
  app.add_option("--seed", o.seed, "random seed (default: the process number)");
  app.add_option("--request-timeout-ms", request_timeout_ms, "deadline of one RPC");
  app.add_option("--retry-timeout-ms", retry_timeout_ms, "how long one call may retry");
  app.add_option("--delivery-timeout-ms", delivery_timeout_ms, "producer delivery timeout");
  app.add_option("--partitions", o.partitions, "partitions (default: from metadata)");
  app.add_option("--rate", o.rate, "operations per second (produce 200, offsets 50, topics 5)");
  app.add_option("--idempotence", idempotence, "true | false (produce)");
  app.add_option("--acks", acks, "all | leader | none (produce)");
  app.add_option("--max-in-flight", o.max_in_flight, "outstanding sends per process");
  app.add_option("--linger-ms", linger_ms, "producer linger");
  app.add_option("--partitioner", partitioner, "round-robin | random (seeded)");
  app.add_option("--group", o.group, "consumer group; Raft group id for checksum/transfer-leader");
  app.add_option("--commit", commit, "sync | async (consume)");
  app.add_option("--poll-ms", poll_ms, "poll timeout (consume)");
  app.add_option("--session-timeout-ms", session_timeout_ms, "consumer session timeout");
  app.add_option("--heartbeat-ms", heartbeat_ms, "consumer heartbeat interval");
  app.add_option("--rebalance-timeout-ms", rebalance_timeout_ms, "consumer rebalance timeout");
  app.add_option("--node", o.node, "HOST:PORT of one node (status, checksum, transfer-leader)");
  app.add_option("--from", from, "first Raft index (checksum; default: the node's first index)");
  app.add_option("--to", to,
                 "checksum: last Raft index (default: the node's commit index); "
                 "transfer-leader: the target node id");
  app.add_option("--timeout-ms", timeout_ms, "deadline of one-shot node calls");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    ParseResult r;
    r.exit_code = 0;
    r.message = app.help();
    return r;
  } catch (const CLI::ParseError& e) {
    return Usage(e.what());
  }
  const auto mode_it = Modes().find(mode);
  if (mode_it == Modes().end()) return Usage("unknown mode \"" + mode + "\"");
  o.mode = mode_it->second;
  o.mode_name = mode;
  if (app.count("--from") > 0) o.from = from;
  if (app.count("--to") > 0) o.to = to;
  if (o.seed == 0) o.seed = static_cast<uint64_t>(o.process) + 1;

  for (absl::string_view a : absl::StrSplit(bootstrap, ',', absl::SkipWhitespace())) {
    o.bootstrap.emplace_back(std::string(absl::StripAsciiWhitespace(a)));
  }
  const auto ms = [](int64_t v) { return std::chrono::milliseconds(v); };
  if (duration_ms < 0 || drain_ms < 0 || request_timeout_ms <= 0 || retry_timeout_ms < 0 ||
      delivery_timeout_ms <= 0 || linger_ms < 0 || poll_ms < 0 || session_timeout_ms <= 0 ||
      heartbeat_ms <= 0 || rebalance_timeout_ms <= 0 || timeout_ms <= 0) {
    return Usage("durations must be positive");
  }
  o.duration = ms(duration_ms);
  o.drain = ms(drain_ms);
  o.request_timeout = ms(request_timeout_ms);
  o.retry_timeout = ms(retry_timeout_ms);
  o.delivery_timeout = ms(delivery_timeout_ms);
  o.linger = ms(linger_ms);
  o.poll = ms(poll_ms);
  o.session_timeout = ms(session_timeout_ms);
  o.heartbeat = ms(heartbeat_ms);
  o.rebalance_timeout = ms(rebalance_timeout_ms);
  o.node_timeout = ms(timeout_ms);

  if (idempotence == "true" || idempotence == "1") {
    o.idempotence = true;
  } else if (idempotence == "false" || idempotence == "0") {
    o.idempotence = false;
  } else {
    return Usage("--idempotence must be true or false");
  }
  if (acks == "all" || acks == "-1") {
    o.acks = client::Acks::kAll;
  } else if (acks == "leader" || acks == "1") {
    o.acks = client::Acks::kLeader;
  } else if (acks == "none" || acks == "0") {
    o.acks = client::Acks::kNone;
  } else {
    return Usage("--acks must be all, leader or none");
  }
  if (commit != "sync" && commit != "async") return Usage("--commit must be sync or async");
  o.commit_async = commit == "async";
  if (partitioner != "round-robin" && partitioner != "random") {
    return Usage("--partitioner must be round-robin or random");
  }
  o.random_partitions = partitioner == "random";
  if (o.rate < 0) return Usage("--rate must not be negative");
  if (o.rate == 0) {
    o.rate = o.mode == Mode::kProduce ? 200 : o.mode == Mode::kOffsets ? 50 : 5;
  }
  if (o.max_in_flight < 1) return Usage("--max-in-flight must be at least 1");
  if (o.partitions < 0) return Usage("--partitions must not be negative");
  if (o.heartbeat >= o.session_timeout) {
    return Usage("--heartbeat-ms must be shorter than --session-timeout-ms");
  }

  // What each mode needs.
  const bool needs_cluster =
      o.mode != Mode::kStatus && o.mode != Mode::kChecksum && o.mode != Mode::kTransferLeader;
  if (needs_cluster && o.bootstrap.empty()) return Usage(mode + " needs --bootstrap");
  const bool needs_topic = o.mode == Mode::kProduce || o.mode == Mode::kConsume ||
                           o.mode == Mode::kReadAll || o.mode == Mode::kOffsets;
  if (needs_topic && o.topic.empty()) return Usage(mode + " needs --topic");
  if ((o.mode == Mode::kConsume || o.mode == Mode::kOffsets) && o.group.empty()) {
    return Usage(mode + " needs --group (the consumer group)");
  }
  if ((o.mode == Mode::kStatus || o.mode == Mode::kChecksum || o.mode == Mode::kTransferLeader) &&
      o.node.empty()) {
    return Usage(mode + " needs --node=HOST:PORT");
  }
  if (o.mode == Mode::kChecksum || o.mode == Mode::kTransferLeader) {
    uint64_t g = 0;
    if (!absl::SimpleAtoi(o.group, &g)) return Usage(mode + " needs --group=<Raft group id>");
  }
  if (o.mode == Mode::kTransferLeader && !o.to) return Usage("transfer-leader needs --to=NODE");
  ParseResult r;
  r.options = std::move(o);
  return r;
}

}  // namespace raftlog::jepsen
