// ProcessCluster: see process_cluster.h. Invariants: a node's pid is set
// exactly while its process has not been reaped; every process this file
// forks is reaped here (Stop/Kill/WaitExit/RunToExit or the destructor).
#include "tests/cluster/process_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "storage/record_batch_builder.h"

#ifndef RAFTLOGD_PATH
#define RAFTLOGD_PATH ""
#endif

namespace raftlog::testing {
namespace {

namespace pb = raftlog::node::v1;
using Clock = std::chrono::steady_clock;

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

void SetDeadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

// The exit code of a waitpid status, or 128 + the signal that ended it.
int ExitCodeOf(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// Blocking waitpid that survives EINTR; returns the exit code.
int ReapBlocking(pid_t pid) {
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return ExitCodeOf(wstatus);
}

// Non-blocking reap: the exit code if `pid` has exited, nullopt if running.
std::optional<int> TryReap(pid_t pid) {
  int wstatus = 0;
  const pid_t r = ::waitpid(pid, &wstatus, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return -1;  // Not our child any more (should not happen).
  return ExitCodeOf(wstatus);
}

// Waits up to `timeout` for `pid` to exit; nullopt if it did not.
std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    if (std::optional<int> code = TryReap(pid)) return code;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Forks and execs `program` with `args`, stdout and stderr appended to
// `log_path`. The child dies with its parent (PR_SET_PDEATHSIG).
absl::StatusOr<pid_t> Spawn(const std::string& program, const std::vector<std::string>& args,
                            const std::string& log_path) {
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrFormat("cannot open %s: %s", log_path, strerror(errno)));
  }
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls (the parent has gRPC threads).
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  static constexpr char kExecFailed[] = "process_cluster: execv failed\n";
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(log_fd);
    return absl::InternalError(absl::StrFormat("fork: %s", strerror(err)));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // The parent died before prctl.
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(program.c_str(), argv.data());
    ssize_t ignored = ::write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

std::string ReadTail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log at " + path + ")";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start =
      size > static_cast<std::streamoff>(bytes) ? size - static_cast<std::streamoff>(bytes) : 0;
  in.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

// "... leader is N" -> N; 0 when the message names no leader.
uint64_t LeaderFromMessage(const std::string& msg) {
  static constexpr std::string_view kMarker = "leader is ";
  const size_t at = msg.find(kMarker);
  if (at == std::string::npos) return 0;
  size_t end = at + kMarker.size();
  while (end < msg.size() && msg[end] >= '0' && msg[end] <= '9') ++end;
  uint64_t id = 0;
  if (!absl::SimpleAtoi(msg.substr(at + kMarker.size(), end - at - kMarker.size()), &id)) return 0;
  return id;
}

}  // namespace

absl::StatusOr<int> PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", strerror(err)));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string MakeTestBatch(const std::string& prefix, int records) {
  storage::BatchBuilder b;
  for (int i = 0; i < records; ++i) {
    b.Add(std::nullopt, absl::StrCat(prefix, "-", i), /*timestamp=*/1700000000000 + i);
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = b.Build();
  if (!bytes.ok()) return {};
  return std::string(bytes->begin(), bytes->end());
}

enum class Readiness { kReady, kExited, kTimedOut };

struct ProcessCluster::Impl {
  struct NodeProcess {
    int id = 0;
    int port = 0;
    std::string data_dir;
    std::string log_path;
    std::optional<pid_t> pid;  // set while not reaped
    bool paused = false;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::NodeAdmin::Stub> stub;
    std::unique_ptr<raftlog::metadata::v1::MetadataService::Stub> metadata_stub;
  };

  ProcessClusterOptions options;
  std::string raftlogd;
  std::string root;
  std::vector<NodeProcess> nodes;       // nodes[id - 1]
  std::map<uint64_t, int> last_leader;  // group -> node that last accepted a proposal
  int runs = 0;
  absl::Status init_error;  // a construction failure, reported by Start

  NodeProcess& node(int id) { return nodes.at(static_cast<size_t>(id - 1)); }
  const NodeProcess& node(int id) const { return nodes.at(static_cast<size_t>(id - 1)); }

  void ConnectStub(NodeProcess& n) {
    grpc::ChannelArguments args;
    // Restarted nodes must be reachable again quickly: short reconnect
    // back-off (Start also resets it). Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS:
    // it is also the minimum connect timeout, and a short one cancels slow
    // handshakes. A local subchannel pool: no sharing with other clusters.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    n.channel = grpc::CreateCustomChannel(absl::StrCat("ipv4:127.0.0.1:", n.port),
                                          grpc::InsecureChannelCredentials(), args);
    n.stub = pb::NodeAdmin::NewStub(n.channel);
    n.metadata_stub = raftlog::metadata::v1::MetadataService::NewStub(n.channel);
  }

  // True if the process is alive (reaps it if it has exited).
  bool Running(NodeProcess& n) {
    if (!n.pid) return false;
    if (TryReap(*n.pid).has_value()) {
      n.pid.reset();
      n.paused = false;
      return false;
    }
    return true;
  }

  // Polls node `n` until it answers Status listing the metadata group (its
  // groups are open: raftlogd serves gRPC, and answers Status with no
  // groups, before its Node has started), it exits (`exit_code` set, pid
  // reset) or `deadline` passes.
  Readiness AwaitReady(NodeProcess& n, Clock::time_point deadline, int& exit_code) {
    while (true) {
      if (std::optional<int> exited = TryReap(*n.pid)) {
        n.pid.reset();
        exit_code = *exited;
        return Readiness::kExited;
      }
      pb::StatusRequest req;
      req.add_groups(0);
      pb::StatusResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(ctx, std::chrono::milliseconds(500));
      if (n.stub->Status(&ctx, req, &resp).ok() && resp.groups_size() > 0) {
        return Readiness::kReady;
      }
      // After a refused connect, gRPC 1.51 waits 5-10 s before it tries
      // again, whatever the back-off arguments or ResetConnectionBackoff say:
      // a fresh channel connects at once.
      if (n.channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE) ConnectStub(n);
      if (Clock::now() >= deadline) return Readiness::kTimedOut;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::vector<int> Askable(const std::vector<int>& among) {
    std::vector<int> out;
    for (NodeProcess& n : nodes) {
      if (!among.empty() && std::find(among.begin(), among.end(), n.id) == among.end()) continue;
      if (Running(n) && !n.paused) out.push_back(n.id);
    }
    return out;
  }
};

ProcessCluster::ProcessCluster(ProcessClusterOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->raftlogd = impl_->options.raftlogd_path;
  if (impl_->raftlogd.empty()) {
    const char* env = std::getenv("RAFTLOGD");
    impl_->raftlogd = env != nullptr && *env != '\0' ? env : RAFTLOGD_PATH;
  }
  if (impl_->raftlogd.empty() || ::access(impl_->raftlogd.c_str(), X_OK) != 0) {
    impl_->init_error = absl::FailedPreconditionError(absl::StrFormat(
        "raftlogd binary \"%s\" is not executable (set RAFTLOGD)", impl_->raftlogd));
  }
  std::string tmpl = "/tmp/raftlog-cluster-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    impl_->init_error = absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  } else {
    impl_->root = tmpl;
  }
  for (int id = 1; id <= impl_->options.nodes; ++id) {
    Impl::NodeProcess n;
    n.id = id;
    absl::StatusOr<int> port = PickFreePort();
    if (!port.ok()) {
      impl_->init_error = port.status();
    } else {
      n.port = *port;
    }
    n.data_dir = absl::StrCat(impl_->root, "/node-", id);
    n.log_path = absl::StrCat(impl_->root, "/node-", id, ".log");
    impl_->ConnectStub(n);
    impl_->nodes.push_back(std::move(n));
  }
}

ProcessCluster::~ProcessCluster() {
  for (Impl::NodeProcess& n : impl_->nodes) {
    if (!n.pid) continue;
    ::kill(*n.pid, SIGKILL);
    ReapBlocking(*n.pid);
    n.pid.reset();
  }
  if (impl_->root.empty()) return;
  if (const char* keep = std::getenv("RAFTLOG_KEEP_TEST_DIRS"); keep != nullptr && *keep != '\0') {
    std::cerr << "process_cluster: keeping " << impl_->root << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(impl_->root, ec);
}

int ProcessCluster::size() const { return static_cast<int>(impl_->nodes.size()); }
const std::string& ProcessCluster::root() const { return impl_->root; }
std::string ProcessCluster::Address(int id) const {
  return absl::StrCat("127.0.0.1:", impl_->node(id).port);
}
std::string ProcessCluster::DataDir(int id) const { return impl_->node(id).data_dir; }
std::string ProcessCluster::LogTail(int id, size_t bytes) const {
  return ReadTail(impl_->node(id).log_path, bytes);
}
bool ProcessCluster::IsRunning(int id) const { return impl_->Running(impl_->node(id)); }
std::optional<pid_t> ProcessCluster::Pid(int id) const {
  if (!IsRunning(id)) return std::nullopt;
  return impl_->node(id).pid;
}
raftlog::node::v1::NodeAdmin::Stub& ProcessCluster::Admin(int id) { return *impl_->node(id).stub; }

raftlog::metadata::v1::MetadataService::Stub& ProcessCluster::Metadata(int id) {
  return *impl_->node(id).metadata_stub;
}

std::vector<std::string> ProcessCluster::CommandLine(int id) const {
  const ProcessClusterOptions& o = impl_->options;
  std::vector<std::string> peers;
  for (const Impl::NodeProcess& n : impl_->nodes) {
    peers.push_back(absl::StrCat(n.id, "=127.0.0.1:", n.port));
  }
  std::vector<std::string> args = {
      absl::StrCat("--id=", id),
      absl::StrCat("--addr=", Address(id)),
      absl::StrCat("--peers=", absl::StrJoin(peers, ",")),
      absl::StrCat("--data-dir=", DataDir(id)),
      absl::StrCat("--cluster-id=", o.cluster_id),
      absl::StrCat("--tick-ms=", o.tick_ms),
      absl::StrCat("--election-ticks=", o.election_ticks),
      absl::StrCat("--heartbeat-ticks=", o.heartbeat_ticks),
      absl::StrCat("--fsync=", o.fsync ? "always" : "never"),
      absl::StrCat("--sync-threads=", o.sync_threads),
  };
  args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  return args;
}

absl::Status ProcessCluster::Start(int id, std::chrono::milliseconds timeout) {
  if (!impl_->init_error.ok()) return impl_->init_error;
  if (id < 1 || id > size()) return absl::InvalidArgumentError(absl::StrCat("no node ", id));
  Impl::NodeProcess& n = impl_->node(id);
  if (impl_->Running(n)) return absl::FailedPreconditionError(absl::StrCat("node ", id, " runs"));

  const Clock::time_point deadline = Clock::now() + timeout;
  bool retried = false;
  while (true) {
    absl::StatusOr<pid_t> pid = Spawn(impl_->raftlogd, CommandLine(id), n.log_path);
    if (!pid.ok()) return pid.status();
    n.pid = *pid;
    n.paused = false;
    int exited = 0;
    switch (impl_->AwaitReady(n, deadline, exited)) {
      case Readiness::kReady:
        return absl::OkStatus();
      case Readiness::kTimedOut:
        Kill(id);
        return absl::DeadlineExceededError(
            absl::StrFormat("node %d did not answer Status within %d ms; log tail:\n%s", id,
                            timeout.count(), LogTail(id)));
      case Readiness::kExited:
        break;
    }
    const std::string tail = LogTail(id);
    if (!retried && absl::StrContains(tail, "cannot bind")) {
      retried = true;
      bool others_running = false;
      for (int other = 1; other <= size(); ++other) {
        if (other != id && IsRunning(other)) others_running = true;
      }
      if (!others_running) {
        absl::StatusOr<int> port = PickFreePort();
        if (!port.ok()) return port.status();
        n.port = *port;
        impl_->ConnectStub(n);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      continue;
    }
    return absl::InternalError(
        absl::StrFormat("node %d exited at start with status %d; log tail:\n%s", id, exited, tail));
  }
}

absl::Status ProcessCluster::StartAll() {
  // Every node is spawned before any is waited for: a node on an empty data
  // directory opens its groups only once a majority of its peers answer
  // (broker/startup_probe.h). Spawned from this thread (PR_SET_PDEATHSIG
  // fires when the spawning THREAD exits).
  if (!impl_->init_error.ok()) return impl_->init_error;
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
  std::vector<int> spawned;
  for (int id = 1; id <= size(); ++id) {
    if (IsRunning(id)) continue;
    Impl::NodeProcess& n = impl_->node(id);
    absl::StatusOr<pid_t> pid = Spawn(impl_->raftlogd, CommandLine(id), n.log_path);
    if (!pid.ok()) return pid.status();
    n.pid = *pid;
    n.paused = false;
    spawned.push_back(id);
  }
  for (int id : spawned) {
    Impl::NodeProcess& n = impl_->node(id);
    int exited = 0;
    switch (impl_->AwaitReady(n, deadline, exited)) {
      case Readiness::kReady:
        break;
      case Readiness::kTimedOut:
        Kill(id);
        return absl::DeadlineExceededError(absl::StrFormat(
            "node %d did not answer Status in time; log tail:\n%s", id, LogTail(id)));
      case Readiness::kExited:
        // E.g. its port was taken meanwhile: Start handles that.
        if (absl::Status s = Start(id); !s.ok()) return s;
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status ProcessCluster::Terminate(int id) {
  Impl::NodeProcess& n = impl_->node(id);
  if (!impl_->Running(n)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", id, " is not running"));
  }
  if (n.paused) Resume(id);
  ::kill(*n.pid, SIGTERM);
  return absl::OkStatus();
}

absl::StatusOr<int> ProcessCluster::WaitExit(int id, std::chrono::milliseconds timeout) {
  Impl::NodeProcess& n = impl_->node(id);
  if (!n.pid) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is not running"));
  std::optional<int> code = WaitForExit(*n.pid, timeout);
  if (!code) {
    std::cerr << "process_cluster: node " << id << " still running after " << timeout.count()
              << " ms; SIGKILL\n";
    ::kill(*n.pid, SIGKILL);
    code = ReapBlocking(*n.pid);
  }
  n.pid.reset();
  n.paused = false;
  return *code;
}

absl::StatusOr<int> ProcessCluster::Stop(int id, std::chrono::milliseconds timeout) {
  if (absl::Status s = Terminate(id); !s.ok()) return s;
  return WaitExit(id, timeout);
}

absl::Status ProcessCluster::StopAll(std::chrono::milliseconds timeout) {
  std::vector<int> stopping;
  for (int id = 1; id <= size(); ++id) {
    if (Terminate(id).ok()) stopping.push_back(id);
  }
  std::vector<std::string> failures;
  for (int id : stopping) {
    absl::StatusOr<int> code = WaitExit(id, timeout);
    if (!code.ok()) {
      failures.push_back(absl::StrCat("node ", id, ": ", code.status().message()));
    } else if (*code != 0) {
      failures.push_back(absl::StrCat("node ", id, " exited with ", *code));
    }
  }
  if (failures.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrJoin(failures, "; "));
}

void ProcessCluster::Kill(int id) {
  Impl::NodeProcess& n = impl_->node(id);
  if (!n.pid) return;
  ::kill(*n.pid, SIGKILL);
  ReapBlocking(*n.pid);
  n.pid.reset();
  n.paused = false;
}

void ProcessCluster::Pause(int id) {
  Impl::NodeProcess& n = impl_->node(id);
  if (!impl_->Running(n)) return;
  ::kill(*n.pid, SIGSTOP);
  n.paused = true;
}

void ProcessCluster::Resume(int id) {
  Impl::NodeProcess& n = impl_->node(id);
  if (!impl_->Running(n)) return;
  ::kill(*n.pid, SIGCONT);
  n.paused = false;
}

absl::StatusOr<ProcessCluster::RunResult> ProcessCluster::RunToExit(
    const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  if (!impl_->init_error.ok()) return impl_->init_error;
  const std::string log_path = absl::StrCat(impl_->root, "/run-", ++impl_->runs, ".log");
  absl::StatusOr<pid_t> pid = Spawn(impl_->raftlogd, args, log_path);
  if (!pid.ok()) return pid.status();
  std::optional<int> code = WaitForExit(*pid, timeout);
  if (!code) {
    ::kill(*pid, SIGKILL);
    ReapBlocking(*pid);
    return absl::DeadlineExceededError(
        absl::StrFormat("raftlogd still running after %d ms; output:\n%s", timeout.count(),
                        ReadTail(log_path, 4000)));
  }
  RunResult r;
  r.exit_code = *code;
  r.output = ReadTail(log_path, 1 << 20);
  return r;
}

absl::StatusOr<pb::StatusResponse> ProcessCluster::Status(int id) {
  if (!IsRunning(id)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", id, " is not running"));
  }
  pb::StatusResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, std::chrono::seconds(5));
  grpc::Status s = Admin(id).Status(&ctx, pb::StatusRequest(), &resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::Status ProcessCluster::EnsureGroupOnAll(uint64_t group, const std::vector<uint64_t>& voters) {
  for (int id : impl_->Askable({})) {
    pb::EnsureGroupRequest req;
    req.set_group(group);
    for (uint64_t v : voters) req.add_voters(v);
    pb::EnsureGroupResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, std::chrono::seconds(10));
    grpc::Status s = Admin(id).EnsureGroup(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::Status(
          static_cast<absl::StatusCode>(s.error_code()),
          absl::StrFormat("EnsureGroup(%d) on node %d: %s", group, id, s.error_message()));
    }
  }
  return absl::OkStatus();
}

std::map<uint64_t, uint64_t> ProcessCluster::AgreedLeaders(const std::vector<uint64_t>& groups,
                                                           const std::vector<int>& among) {
  std::map<uint64_t, uint64_t> result;
  for (uint64_t g : groups) result[g] = 0;
  const std::vector<int> ask = impl_->Askable(among);
  if (ask.empty()) return result;
  // group -> what each node says: (node, role, term, leader).
  struct View {
    int node;
    pb::Role role;
    uint64_t term;
    uint64_t leader;
  };
  std::map<uint64_t, std::vector<View>> views;
  for (int id : ask) {
    pb::StatusRequest req;
    for (uint64_t g : groups) req.add_groups(g);
    pb::StatusResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, std::chrono::seconds(2));
    if (!Admin(id).Status(&ctx, req, &resp).ok()) return result;  // No agreement without it.
    for (const pb::GroupStatus& gs : resp.groups()) {
      views[gs.group()].push_back({id, gs.role(), gs.term(), gs.leader()});
    }
  }
  for (uint64_t g : groups) {
    const std::vector<View>& v = views[g];
    if (v.size() != ask.size()) continue;  // Some node does not host it (yet).
    uint64_t leader = 0;
    uint64_t term = 0;
    int leaders = 0;
    for (const View& x : v) {
      if (x.role == pb::ROLE_LEADER) {
        ++leaders;
        leader = static_cast<uint64_t>(x.node);
        term = x.term;
      }
    }
    if (leaders != 1) continue;
    bool agreed = true;
    for (const View& x : v) agreed = agreed && x.leader == leader && x.term == term;
    if (agreed) result[g] = leader;
  }
  return result;
}

uint64_t ProcessCluster::AgreedLeader(uint64_t group, const std::vector<int>& among) {
  return AgreedLeaders({group}, among)[group];
}

uint64_t ProcessCluster::WaitForLeader(uint64_t group, std::chrono::milliseconds timeout) {
  absl::StatusOr<std::map<uint64_t, uint64_t>> leaders = WaitForLeaders({group}, timeout);
  return leaders.ok() ? leaders->at(group) : 0;
}

absl::StatusOr<std::map<uint64_t, uint64_t>> ProcessCluster::WaitForLeaders(
    const std::vector<uint64_t>& groups, std::chrono::milliseconds timeout,
    const std::vector<int>& among) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    std::map<uint64_t, uint64_t> leaders = AgreedLeaders(groups, among);
    std::vector<uint64_t> missing;
    for (const auto& [g, l] : leaders) {
      if (l == 0) missing.push_back(g);
    }
    if (missing.empty()) return leaders;
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrFormat("no agreed leader after %d ms for group(s) %s", timeout.count(),
                          absl::StrJoin(missing, ",")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::StatusOr<pb::ProposeResponse> ProcessCluster::Propose(uint64_t group,
                                                            const std::vector<std::string>& entries,
                                                            std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  int target = impl_->last_leader.count(group) > 0 ? impl_->last_leader[group] : 0;
  absl::Status last = absl::DeadlineExceededError("no node to propose to");
  while (Clock::now() < deadline) {
    const std::vector<int> askable = impl_->Askable({});
    if (std::find(askable.begin(), askable.end(), target) == askable.end()) {
      target = static_cast<int>(AgreedLeader(group));
      if (target == 0 && !askable.empty()) target = askable.front();
    }
    if (target == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    pb::ProposeRequest req;
    req.set_group(group);
    for (const std::string& e : entries) req.add_entries(e);
    pb::ProposeResponse resp;
    grpc::ClientContext ctx;
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    SetDeadline(ctx, std::min<std::chrono::milliseconds>(remaining, std::chrono::seconds(10)));
    const grpc::Status s = Admin(target).Propose(&ctx, req, &resp);
    if (s.ok()) {
      impl_->last_leader[group] = target;
      return resp;
    }
    last = absl::Status(
        static_cast<absl::StatusCode>(s.error_code()),
        absl::StrFormat("Propose(group %d) on node %d: %s", group, target, s.error_message()));
    if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
        absl::StrContains(s.error_message(), "leader")) {
      const uint64_t hint = LeaderFromMessage(s.error_message());
      if (hint != 0 && static_cast<int>(hint) != target && hint <= static_cast<uint64_t>(size())) {
        target = static_cast<int>(hint);
        continue;
      }
      target = 0;
    } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      target = 0;
    } else {
      return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

}  // namespace raftlog::testing
