// Start-up decision of a node on an empty data directory (startup_probe.h).
#include "broker/startup_probe.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "raftlog/node/v1/node.grpc.pb.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::node::v1;

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrFormat("open %s: %s", dir, strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrFormat("fsync %s: %s", dir, strerror(err)));
  return absl::OkStatus();
}

std::string MarkerPath(const std::string& data_dir) {
  return data_dir + "/" + kRecoveringMarkerFileName;
}

}  // namespace

std::optional<EmptyDirectoryStart> DecideEmptyDirectoryStart(
    size_t cluster_size, const std::vector<PeerIdentityAnswer>& answers) {
  size_t empty = 1;  // this node
  for (const PeerIdentityAnswer& a : answers) {
    if (a.has_data) return EmptyDirectoryStart::kReplacement;
    ++empty;
  }
  if (empty >= cluster_size / 2 + 1) return EmptyDirectoryStart::kNewCluster;
  return std::nullopt;
}

absl::StatusOr<EmptyDirectoryStart> ProbePeersFromEmptyDirectory(const StartupProbeOptions& o) {
  const size_t cluster_size = std::max<size_t>(o.peers.size(), 1);
  auto last_log = std::chrono::steady_clock::now();
  while (true) {
    std::vector<PeerIdentityAnswer> answers;
    std::vector<std::string> silent;
    for (const auto& [id, address] : o.peers) {
      if (id == o.self) continue;
      // A fresh channel each round, with its own subchannel: after a refused
      // connect gRPC waits seconds before it tries the same subchannel again.
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      std::unique_ptr<pb::NodeAdmin::Stub> stub = pb::NodeAdmin::NewStub(
          grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + o.rpc_timeout);
      pb::IdentityResponse resp;
      grpc::Status s = stub->Identity(&ctx, pb::IdentityRequest(), &resp);
      if (!s.ok() || resp.cluster_id() != o.cluster_id || resp.node() != id.value()) {
        silent.push_back(absl::StrFormat("%d (%s)", id.value(),
                                         s.ok() ? "another cluster or node" : s.error_message()));
        continue;
      }
      answers.push_back({id, resp.has_data()});
    }
    if (std::optional<EmptyDirectoryStart> d = DecideEmptyDirectoryStart(cluster_size, answers)) {
      std::vector<std::string> told;
      for (const PeerIdentityAnswer& a : answers) {
        told.push_back(absl::StrFormat("%d: %s", a.node.value(), a.has_data ? "data" : "no data"));
      }
      LOG(INFO) << "empty data directory: peers answered {" << absl::StrJoin(told, ", ")
                << "}; silent {" << absl::StrJoin(silent, ", ") << "}";
      return *d;
    }
    if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(10)) {
      last_log = std::chrono::steady_clock::now();
      LOG(WARNING) << "empty data directory: waiting for peers to tell whether the cluster "
                      "already exists (no answer from "
                   << absl::StrJoin(silent, ", ") << ")";
    }
    for (auto waited = std::chrono::milliseconds(0); waited < o.interval;
         waited += std::chrono::milliseconds(50)) {
      if (o.stop && o.stop()) return absl::CancelledError("start-up probe stopped");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

absl::StatusOr<bool> RecoveringMarkerExists(const std::string& data_dir) {
  if (::access(MarkerPath(data_dir).c_str(), F_OK) == 0) return true;
  if (errno == ENOENT) return false;
  return absl::InternalError(
      absl::StrFormat("cannot check %s: %s", MarkerPath(data_dir), strerror(errno)));
}

absl::Status WriteRecoveringMarker(const std::string& data_dir) {
  const std::string path = MarkerPath(data_dir);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrFormat("create %s: %s", path, strerror(errno)));
  static constexpr char kText[] =
      "This node started on an empty data directory in an existing cluster (a lost disk).\n"
      "It does not vote until every Raft group it hosts has caught up; raftlogd removes\n"
      "this file then. Do not delete it by hand.\n";
  const bool ok =
      ::write(fd, kText, sizeof(kText) - 1) == static_cast<ssize_t>(sizeof(kText) - 1) &&
      ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrFormat("write %s: %s", path, strerror(err)));
  return SyncDir(data_dir);
}

absl::Status RemoveRecoveringMarker(const std::string& data_dir) {
  const std::string path = MarkerPath(data_dir);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrFormat("remove %s: %s", path, strerror(errno)));
  }
  return SyncDir(data_dir);
}

}  // namespace raftlog::broker
